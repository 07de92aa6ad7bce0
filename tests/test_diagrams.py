"""docs/diagrams/: the committed drawings are what draw.py draws, and they say what they should.

draw.py describes each diagram once and renders it as SVG and as plain text; these tests
hold the committed files to that description and the computed numbers to PyTorch.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from .conftest import ROOT

DIAGRAMS = ROOT / "docs" / "diagrams"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _load_draw():
    spec = importlib.util.spec_from_file_location("docs_diagrams_draw", DIAGRAMS / "draw.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


draw = _load_draw()
NAMES = draw.NAMES


def test_the_six_diagrams_are_described():
    assert set(NAMES) == {"basic_block", "bottleneck", "projection_shortcut",
                          "preact_vs_postact", "se_cbam", "resnet18_stages"}


def test_committed_files_are_current():
    proc = subprocess.run([sys.executable, str(DIAGRAMS / "draw.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (
        f"docs/diagrams is stale; run `python docs/diagrams/draw.py`\n{proc.stderr}")


def test_check_fails_on_a_stale_file(tmp_path, monkeypatch):
    monkeypatch.setattr(draw, "HERE", tmp_path / "docs" / "diagrams")
    draw.HERE.mkdir(parents=True)
    assert draw.main([]) == 0
    assert draw.main(["--check"]) == 0
    (draw.HERE / "basic_block.txt").write_text("edited by hand\n", encoding="utf-8")
    assert draw.main(["--check"]) == 1
    (draw.HERE / "se_cbam.svg").unlink()
    assert draw.main(["--check"]) == 1


@pytest.mark.parametrize("name", NAMES)
def test_svg_is_well_formed_and_shows_every_label(name):
    root = ET.parse(DIAGRAMS / f"{name}.svg").getroot()
    assert root.tag == f"{SVG_NS}svg"
    view = [float(v) for v in root.get("viewBox", "").split()]
    assert len(view) == 4 and view[2] > 0 and view[3] > 0, "no usable viewBox"
    first = next(iter(root.iter(f"{SVG_NS}rect")))
    assert first.get("fill") == "#ffffff" and float(first.get("width")) == view[2], (
        "the first rect must be a white background (dark mode)")
    shown = {t.text for t in root.iter(f"{SVG_NS}text")}
    missing = [s for s in draw.DIAGRAMS[name]().texts() if s not in shown]
    assert not missing, f"{name}.svg lacks the labels {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_text_fits_76_columns_and_shows_every_label(name):
    text = (DIAGRAMS / f"{name}.txt").read_text(encoding="utf-8")
    wide = [(n, len(line)) for n, line in enumerate(text.splitlines(), 1) if len(line) > 76]
    assert not wide, f"{name}.txt: lines over 76 columns (line, width): {wide}"
    assert "\t" not in text
    missing = [s for s in draw.DIAGRAMS[name]().texts() if s not in text]
    assert not missing, f"{name}.txt lacks the labels {missing}"


def test_conv_arithmetic():
    assert draw.conv_out(224, k=7, s=2, p=3) == 112
    assert draw.conv_out(112, k=3, s=2, p=1) == 56
    assert draw.conv_out(56, k=3, s=1, p=1) == 56
    assert draw.conv_out(56, k=1, s=2, p=0) == 28
    assert draw.conv_out(7, k=3, s=2, p=1) == 4       # odd sizes round down


def test_resnet18_plan_is_the_paper_plan():
    stages = draw.resnet18_stages()
    assert [s.name for s in stages] == ["conv1", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert [s.size for s in stages] == [112, 56, 56, 28, 14, 7]
    assert [s.channels for s in stages] == [64, 64, 64, 128, 256, 512]
    assert [s.blocks for s in stages[2:]] == [2, 2, 2, 2]
    text = (DIAGRAMS / "resnet18_stages.txt").read_text(encoding="utf-8")
    for s in stages:
        assert f"{s.channels}×{s.size}×{s.size}" in text


def test_bottleneck_expands_four_times():
    assert draw.EXPANSION == 4
    text = (DIAGRAMS / "bottleneck.txt").read_text(encoding="utf-8")
    assert "conv 1×1, 128→512" in text and "expand ×4" in text
    assert "stride 2 (v1.5)" in text               # the stride sits on the 3×3


def test_resnet18_sizes_match_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    # torchvision's resnet18, one conv per stage: the first conv of each stage carries the stride.
    layers = [("conv1", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
              ("maxpool", nn.MaxPool2d(3, stride=2, padding=1))]
    c_in = 64
    for i, (c, s) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], start=1):
        layers.append((f"layer{i}", nn.Conv2d(c_in, c, 3, stride=s, padding=1, bias=False)))
        c_in = c
    x = torch.zeros(1, 3, 224, 224)
    got = []
    with torch.no_grad():
        for name, layer in layers:
            x = layer(x)
            got.append((name, x.shape[1], x.shape[2], x.shape[3]))
        assert nn.AdaptiveAvgPool2d(1)(x).flatten(1).shape == (1, 512)
    want = [(s.name, s.channels, s.size, s.size) for s in draw.resnet18_stages()]
    assert got == want


def test_bottleneck_and_projection_shapes_match_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    with torch.no_grad():
        x = torch.zeros(1, 256, 56, 56)
        main = nn.Sequential(nn.Conv2d(256, 128, 1), nn.Conv2d(128, 128, 3, stride=2, padding=1),
                             nn.Conv2d(128, 128 * draw.EXPANSION, 1))(x)
        short = nn.Conv2d(256, 512, 1, stride=2)(x)
        assert main.shape == short.shape == (1, 512, 28, 28)
        x = torch.zeros(1, 64, 56, 56)
        main = nn.Sequential(nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.Conv2d(128, 128, 3, padding=1))(x)
        short = nn.Conv2d(64, 128, 1, stride=2)(x)
        assert main.shape == short.shape == (1, 128, 28, 28)
    assert "y: 512×28×28" in (DIAGRAMS / "bottleneck.txt").read_text(encoding="utf-8")
    assert "y: 128×28×28" in (DIAGRAMS / "projection_shortcut.txt").read_text(encoding="utf-8")


def test_layout_refuses_overlaps():
    N, Edge, Diagram = draw.N, draw.Edge, draw.Diagram
    on_top = Diagram("t", "t", [N("a", "box a", 10, 0), N("b", "box b", 12, 0)], [])
    with pytest.raises(draw.LayoutError):
        draw.layout(on_top)
    through = Diagram("t", "t", [N("a", "a", 10, 0), N("b", "b", 10, 1), N("c", "c", 10, 2)],
                      [Edge("a", "c")])
    with pytest.raises(draw.LayoutError):
        draw.layout(through)
    too_wide = Diagram("t", "t", [N("a", "a" * 80, 45, 0)], [])
    with pytest.raises(draw.LayoutError):
        draw.layout(too_wide)
