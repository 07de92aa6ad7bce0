"""The README's commands, .ci/run and the package metadata agree with each other."""

from __future__ import annotations

import re
import sys

from resnet_kata import frameworks

from .conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_ci_installs_the_pinned_cpu_wheels_and_runs_pytest():
    ci = (ROOT / ".ci" / "run").read_text()
    for pin in frameworks.PINS.values():
        assert pin in ci, f".ci/run does not install {pin}"
    assert "tensorflow==" not in ci, "never both tensorflow and tensorflow-cpu"
    assert "pytest" in ci


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "bash .ci/run" in readme
    start = [line for line in readme.splitlines() if "resnet-kata start 01_residual_block" in line]
    assert start and frameworks.PINS["torch"] in start[0] and "pip install -e" in start[0]


def test_pyproject_ranges_admit_the_pinned_versions():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"numpy", "rich"} <= {
        re.split(r"[<>=!~ ]", d)[0] for d in meta["dependencies"]
    }
    extras = meta["optional-dependencies"]
    assert set(extras) >= {"torch", "tf", "all", "test"}
    assert all("torchvision" not in d for deps in extras.values() for d in deps)
    assert not any(d.startswith("tensorflow>") or d.startswith("tensorflow=")
                   for deps in extras.values() for d in deps)
    assert meta["scripts"]["resnet-kata"] == "resnet_kata.cli:main"


def test_readme_lists_every_exercise():
    from resnet_kata import catalog

    readme = (ROOT / "README.md").read_text()
    missing = [ex.id for ex in catalog.exercises() if f"`{ex.id}`" not in readme]
    assert not missing, f"README.md's exercise table lacks {missing}"
