"""The catalogue: one `kata.toml` per exercise folder, read into `Exercise` records.

Adding an exercise is adding a folder under `exercises/`; nothing here changes.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FRAMEWORKS = ("torch", "tf")
DIFFICULTIES = ("easy", "medium", "hard")
_ID = re.compile(r"^(\d{2})_([a-z0-9_]+)$")


class CatalogError(Exception):
    """A manifest is missing or malformed: a bug of the kit, not of the learner."""


class UnknownExercise(LookupError):
    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"No exercise named {name!r}.{hint}")


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    order: int
    difficulty: str
    frameworks: tuple[str, ...]
    files: dict[str, str]
    hints: tuple[str, ...]
    time_budget: int
    doc: str
    summary: str
    dir: Path
    followups: tuple[str, ...] = field(default_factory=tuple)

    @property
    def number(self) -> str:
        return self.id[:2]

    @property
    def slug(self) -> str:
        return self.id[3:]

    @property
    def statement(self) -> Path:
        return self.dir / "README.md"

    @property
    def checks_file(self) -> Path:
        return self.dir / "checks.py"

    def stub(self, framework: str) -> Path:
        return self.dir / self.files[framework]

    def solution(self, framework: str) -> Path:
        return self.dir.parent.parent / "solutions" / self.id / self.files[framework]

    def doc_path(self) -> Path:
        return self.dir.parent.parent / "docs" / self.doc


def kit_root() -> Path:
    """The folder holding exercises/, solutions/ and docs/."""
    env = os.environ.get("RESNET_KATA_HOME")
    root = Path(env).expanduser() if env else Path(__file__).resolve().parents[1]
    if not (root / "exercises").is_dir():
        raise CatalogError(
            f"no exercises/ folder under {root}. Install the kit from its repository "
            "(pip install -e .) or point RESNET_KATA_HOME at the repository."
        )
    return root


def _load(folder: Path) -> Exercise:
    manifest = folder / "kata.toml"
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{manifest}: {exc}") from exc
    try:
        frameworks = tuple(data["frameworks"])
        files = dict(data["files"])
        ex = Exercise(
            id=folder.name,
            title=str(data["title"]),
            order=int(data["order"]),
            difficulty=str(data["difficulty"]),
            frameworks=frameworks,
            files=files,
            hints=tuple(data["hints"]),
            time_budget=int(data.get("time_budget", 60)),
            doc=str(data.get("doc", f"{folder.name}.md")),
            summary=str(data.get("summary", "")),
            followups=tuple(data.get("followups", ())),
            dir=folder,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{manifest}: missing or malformed field {exc}") from exc
    problems = validate(ex)
    if problems:
        raise CatalogError(f"{manifest}: " + "; ".join(problems))
    return ex


def validate(ex: Exercise) -> list[str]:
    """What is wrong with a manifest, as sentences (empty when it is sound)."""
    problems = []
    if not _ID.match(ex.id):
        problems.append(f"folder name {ex.id!r} is not NN_slug")
    if ex.difficulty not in DIFFICULTIES:
        problems.append(f"difficulty {ex.difficulty!r} is not one of {DIFFICULTIES}")
    if not ex.frameworks or any(f not in FRAMEWORKS and f != "numpy" for f in ex.frameworks):
        problems.append(f"frameworks {ex.frameworks!r} must be drawn from torch, tf, numpy")
    missing = [f for f in ex.frameworks if f not in ex.files]
    if missing:
        problems.append(f"no file named for {missing}")
    if not 1 <= len(ex.hints) <= 3:
        problems.append("between one and three hints are needed")
    if ex.time_budget <= 0:
        problems.append("time_budget must be positive")
    return problems


@lru_cache(maxsize=4)
def _load_all(root: Path) -> tuple[Exercise, ...]:
    folders = sorted(p for p in (root / "exercises").iterdir() if (p / "kata.toml").is_file())
    return tuple(sorted((_load(p) for p in folders), key=lambda e: (e.order, e.id)))


def exercises(root: Path | None = None) -> tuple[Exercise, ...]:
    return _load_all(root or kit_root())


def resolve(name: str, root: Path | None = None) -> Exercise:
    """Find an exercise by id (`03_bottleneck`), number (`03`, `3`) or slug (`bottleneck`)."""
    items = exercises(root)
    key = name.strip().lower().replace("-", "_")
    for ex in items:
        if key in (ex.id, ex.slug) or (key.isdigit() and int(key) == int(ex.number)):
            return ex
    partial = [ex for ex in items if key and key in ex.id]
    if len(partial) == 1:
        return partial[0]
    names = [ex.id for ex in items] + [ex.slug for ex in items]
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
    suggestions = []
    for found in close + [ex.id for ex in partial]:
        full = next(ex.id for ex in items if found in (ex.id, ex.slug))
        if full not in suggestions:
            suggestions.append(full)
    raise UnknownExercise(name, suggestions[:3])
