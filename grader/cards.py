"""The interview questions as cards: one per answered section of docs/ (through
`docs/questions.toml`) and one per follow-up question of an exercise.

A card has an id, the question (English, with the source's Chinese wording where it has
one), the answer as Markdown (the section of the docs page) and the exercises it belongs
to (the page's own exercise, and every exercise its `Drill:` line names).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import catalog, i18n
from .i18n import _

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_FENCE = re.compile(r"^\s*(```+|~~~+)")
_HEADING = re.compile(r"^(#{2,3}) (.+?)\s*$")
_DRILL = re.compile(r"\b(\d{2}_[a-z0-9_]+)\b")


@dataclass(frozen=True)
class Card:
    id: str
    question: str
    answer: str
    exercises: tuple[str, ...]
    source: str = ""  # the Chinese wording of the source documents, if any

    @property
    def topic(self) -> str:
        return self.id.split("#")[0].split(":")[0]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


_ANCHOR = re.compile(r'^<a id="([^"]+)"></a>\s*$')


def sections(path: Path) -> dict[str, tuple[str, str]]:
    """anchor -> (heading, body) for every ## and ### section of a page. A heading's anchor is
    the explicit `<a id="...">` right above it (a translated page keeps the English anchors),
    else its slug."""
    out: dict[str, tuple[str, str]] = {}
    current: tuple[str, str] | None = None
    body: list[str] = []
    fenced = False
    pending: str | None = None

    def close() -> None:
        if current is not None:
            out[current[0]] = (current[1], "\n".join(body).strip())

    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        anchor = None if fenced else _ANCHOR.match(line)
        if anchor:
            pending = anchor.group(1)
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            close()
            current, body = (pending or slug(match.group(2)), match.group(2)), []
            pending = None
        elif current is not None:
            body.append(line)
            if line.strip():
                pending = None
    close()
    return out


def _owners(page: str, body: str, ids: set[str]) -> tuple[str, ...]:
    found = [page] if page in ids else []
    for line in body.splitlines():
        if line.startswith(("Drill:", "练习：")):
            found += [m for m in _DRILL.findall(line) if m in ids]
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=4)
def _load(docs: Path, lang: str = "en") -> tuple[Card, ...]:
    ids = {ex.id for ex in catalog.exercises()}
    inventory = tomllib.loads((docs / "questions.toml").read_text(encoding="utf-8"))["question"]
    chinese: dict[str, list[str]] = {}
    order: list[tuple[str, str]] = []
    for q in inventory:
        key = (q["page"], q["anchor"])
        if key not in order:
            order.append(key)
        chinese.setdefault(f"{q['page']}#{q['anchor']}", []).append(q["title"])
    cards = []
    for page, anchor in order:
        path = docs / lang / page if lang != "en" and (docs / lang / page).is_file() else docs / page
        found = sections(path).get(anchor) if path.is_file() else None
        if found is None:
            continue
        heading, body = found
        cards.append(Card(f"{Path(page).stem}#{anchor}", heading, body,
                          _owners(Path(page).stem, body, ids),
                          " / ".join(dict.fromkeys(chinese[f"{page}#{anchor}"]))))
    for ex in catalog.exercises():
        for n, question in enumerate(ex.followups, 1):
            hint = re.search(r"\(([^()]*)\)\s*$", question)
            answer = (f"{hint.group(1)[0].upper()}{hint.group(1)[1:]}.\n\n" if hint else "")
            answer += _("The full answer is in `docs/{page}` (`resnet-kata docs {id}`).").format(
                page=ex.doc if lang == "en" else f"{lang}/{ex.doc}", id=ex.id)
            cards.append(Card(f"{ex.id}:followup-{n}", question, answer, (ex.id,)))
    return tuple(cards)


def answers_folder() -> Path:
    """The folder the cards' answers come from (their relative links and drawings resolve there)."""
    docs = catalog.kit_root() / "docs"
    lang = i18n.language()
    return docs / lang if lang != "en" and (docs / lang).is_dir() else docs


def all_cards() -> tuple[Card, ...]:
    return _load(catalog.kit_root() / "docs", i18n.language())


def for_exercise(exercise: str) -> list[Card]:
    return [c for c in all_cards() if exercise in c.exercises]
