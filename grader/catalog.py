"""The catalogue: one `kata.toml` per exercise folder, read into `Exercise` records.

Adding an exercise is adding a folder under `exercises/`, or in a pack: a folder of
exercise folders named by `RESNET_KATA_PATH` (os.pathsep-separated) or `--exercises DIR`.
Nothing here changes for a new one.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from . import i18n
from .i18n import _

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
        if suggestions:
            text = _("No exercise named {name}. Did you mean: {names}?").format(
                name=repr(name), names=", ".join(suggestions))
        else:
            text = _("No exercise named {name}.").format(name=repr(name))
        super().__init__(text)


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
    # files of the folder beyond the manifest, statement, stubs and checks.py
    support: tuple[str, ...] = field(default_factory=tuple)
    # per framework, a few lines that try the learner's code on a small input (notebooks)
    tryout: dict[str, str] = field(default_factory=dict)
    # the language the texts above are in ('en', or a translation the manifest has)
    lang: str = "en"
    # per framework, the checks a second worker grades beside the others (`runner.beside`)
    beside: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def number(self) -> str:
        return self.id[:2]

    @property
    def slug(self) -> str:
        return self.id[3:]

    @property
    def statement(self) -> Path:
        """The statement in the exercise's language (README.<lang>.md), else README.md."""
        if self.lang != "en":
            twin = self.dir / f"README.{self.lang}.md"
            if twin.is_file():
                return twin
        return self.dir / "README.md"

    @property
    def checks_file(self) -> Path:
        return self.dir / "checks.py"

    def stub(self, framework: str) -> Path:
        return self.dir / self.files[framework]

    @property
    def solutions_dir(self) -> Path:
        """`solution/` inside the folder (a pack's exercise), else the kit's `solutions/<id>/`."""
        inside = self.dir / "solution"
        return inside if inside.is_dir() else self.dir.parent.parent / "solutions" / self.id

    def solution(self, framework: str) -> Path:
        return self.solutions_dir / self.files[framework]

    def doc_path(self) -> Path:
        """The docs page: beside the manifest (a pack's exercise), else the kit's `docs/`; in
        the exercise's language (`<lang>/` below either) where that page exists."""
        inside = self.dir / self.doc
        base = inside if inside.is_file() else self.dir.parent.parent / "docs" / self.doc
        if self.lang != "en" and (base.parent / self.lang / base.name).is_file():
            return base.parent / self.lang / base.name
        return base

    def declared_files(self) -> set[str]:
        """Every file the manifest requires."""
        return {"kata.toml", "README.md", "checks.py", *self.files.values(), *self.support}

    def accounted_files(self) -> set[str]:
        """Every file that may be in the folder: the required ones, the statement's translations
        and the list of behaviours the checks tell apart."""
        translations = {f"README.{lang}.md" for lang in i18n.LANGUAGES if lang != "en"}
        return self.declared_files() | translations | {"BEHAVIOURS.md"}


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


def load_folder(folder: Path) -> Exercise:
    """One exercise folder's manifest, validated."""
    return _load(Path(folder).resolve(), i18n.language())


def _load(folder: Path, lang: str = "en") -> Exercise:
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
            support=tuple(data.get("support", ())),
            tryout={str(k): str(v) for k, v in dict(data.get("tryout", {})).items()},
            beside={str(k): tuple(str(n) for n in v) for k, v in dict(data.get("beside", {})).items()},
            dir=folder,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{manifest}: missing or malformed field {exc}") from exc
    problems = validate(ex) + _translation_problems(ex, data)
    if problems:
        raise CatalogError(f"{manifest}: " + "; ".join(problems))
    return translated(ex, data.get(lang), lang) if lang != "en" else ex


TRANSLATED = ("title", "summary", "hints", "followups")


def _translation_problems(ex: Exercise, data: dict) -> list[str]:
    problems = []
    for lang in i18n.LANGUAGES[1:]:
        table = data.get(lang)
        if table is None:
            continue
        if not isinstance(table, dict):
            problems.append(f"[{lang}] must be a table")
            continue
        for name in ("hints", "followups"):
            if name in table and len(table[name]) != len(getattr(ex, name)):
                problems.append(f"[{lang}] has {len(table[name])} {name}, the English "
                                f"{len(getattr(ex, name))}: one translation per item, same order")
    return problems


def translated(ex: Exercise, table: dict | None, lang: str) -> Exercise:
    """`ex` with the texts its manifest translates into `lang` (English where it does not)."""
    table = table or {}
    return replace(
        ex, lang=lang,
        title=str(table.get("title") or ex.title),
        summary=str(table.get("summary") or ex.summary),
        hints=tuple(str(h) for h in table.get("hints") or ex.hints),
        followups=tuple(str(q) for q in table.get("followups") or ex.followups),
    )


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
    odd = [f for f in ex.beside if f not in ex.frameworks]
    if odd:
        problems.append(f"[beside] names {odd}, which are not among the frameworks")
    return problems


PATH_ENV = "RESNET_KATA_PATH"
_extra: list[Path] = []


def add_path(folder: str | Path) -> None:
    """Add a pack (a folder of exercise folders, or one exercise folder) for this process."""
    _extra.append(Path(folder).expanduser().resolve())


def search_path(root: Path | None = None) -> tuple[Path, ...]:
    """Where exercises are looked for: the kit's exercises/, RESNET_KATA_PATH, then --exercises."""
    env = [Path(p).expanduser().resolve() for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
    return tuple(dict.fromkeys([(root or kit_root()) / "exercises", *env, *_extra]))


def _folders(place: Path) -> list[Path]:
    if (place / "kata.toml").is_file():
        return [place]
    if not place.is_dir():
        raise CatalogError(f"exercise folder {place} does not exist (from {PATH_ENV} or --exercises)")
    return sorted(p for p in place.iterdir() if (p / "kata.toml").is_file())


@lru_cache(maxsize=8)
def _load_all(places: tuple[Path, ...], lang: str = "en") -> tuple[Exercise, ...]:
    found: dict[str, Exercise] = {}
    for place in places:
        for folder in _folders(place):
            ex = _load(folder, lang)
            if ex.id in found:
                raise CatalogError(
                    f"exercise id {ex.id} is defined twice: in {found[ex.id].dir} and in {folder}. "
                    "Rename one of the folders (ids must be unique across the kit and its packs)."
                )
            found[ex.id] = ex
    return tuple(sorted(found.values(), key=lambda e: (e.order, e.id)))


def exercises(root: Path | None = None) -> tuple[Exercise, ...]:
    return _load_all(search_path(root), i18n.language())


def resolve(name: str, root: Path | None = None) -> Exercise:
    """Find an exercise by id (`NN_slug`), number (`NN`, or without its leading zero) or slug."""
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
