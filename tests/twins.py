"""An English page and its Chinese twin: what must match between them.

Used by tests/test_zh.py, and runnable on one pair while translating:

    python tests/twins.py docs/01_residual_block.md docs/zh/01_residual_block.md
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*(.*)$")
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
ANCHOR = re.compile(r'^<a id="([^"]+)"></a>\s*$')
LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)\)")

# The docs pages' fixed labels, English and Chinese.
LABELS = {
    "> **Short answer.** ": "> **简答。** ",
    "**Asked as**": "**原题**",
    "**Answer.**": "**详解。**",
    "Drill: ": "练习：",
}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@dataclass(frozen=True)
class Page:
    path: Path
    headings: list[tuple[int, str, int]]  # (level, text, line index)
    code: list[str]  # each fenced block, fence lines included
    prose: list[str]  # the lines outside code blocks
    ids: dict[int, str]  # line index of a heading -> the explicit anchor right above it


def read(path: Path) -> Page:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    headings, code, prose, ids = [], [], [], {}
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith(m.group(2)):
                j += 1
            code.append("\n".join(lines[i : j + 1]))
            i = j + 1
            continue
        h = HEADING.match(lines[i])
        if h:
            headings.append((len(h.group(1)), h.group(2), i))
            above = next((k for k in range(i - 1, -1, -1) if lines[k].strip()), None)
            if above is not None and ANCHOR.match(lines[above]):
                ids[i] = ANCHOR.match(lines[above]).group(1)
        prose.append(lines[i])
        i += 1
    return Page(Path(path), headings, code, prose, ids)


def anchors(page: Page) -> set[str]:
    """Every anchor a link may point to: the explicit ids, else the headings' slugs."""
    out = set(page.ids.values())
    out |= {slug(text) for _, text, n in page.headings if n not in page.ids}
    return out


def problems(english: Path, chinese: Path) -> list[str]:
    """What the Chinese twin gets wrong against the English page (empty: it matches)."""
    en, zh = read(english), read(chinese)
    out = []
    if [lv for lv, _, _ in en.headings] != [lv for lv, _, _ in zh.headings]:
        out.append(f"headings differ: English has {len(en.headings)} "
                   f"({''.join(str(lv) for lv, _, _ in en.headings)}), Chinese has "
                   f"{len(zh.headings)} ({''.join(str(lv) for lv, _, _ in zh.headings)}) "
                   "(digits: the levels in order)")
    for (lv, text, _), (_, ztext, zn) in zip(en.headings, zh.headings, strict=False):
        if lv == 1:
            continue
        want = slug(text)
        got = zh.ids.get(zn)
        if got != want:
            out.append(f"heading {ztext!r}: put <a id=\"{want}\"></a> right above it"
                       + (f" (found {got!r})" if got else ""))
    if len(en.code) != len(zh.code):
        out.append(f"{len(en.code)} code blocks in English, {len(zh.code)} in Chinese")
    for k, (a, b) in enumerate(zip(en.code, zh.code, strict=False), 1):
        if a != b:
            first = next((i for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False))
                          if x != y), min(len(a.splitlines()), len(b.splitlines())))
            out.append(f"code block {k} differs from the English one at its line {first + 1}")
    en_text, zh_text = "\n".join(en.prose), "\n".join(zh.prose)
    for label, twin in LABELS.items():
        if en_text.count(label) != zh_text.count(twin):
            out.append(f"{label.strip()!r} appears {en_text.count(label)} times in English, "
                       f"its twin {twin.strip()!r} {zh_text.count(twin)} times in Chinese")
    for quote in sorted(set(re.findall(r"「[^」]+」", en_text))):
        if quote not in zh_text:
            out.append(f"the quotation {quote[:40]}… is missing or changed")
    out += broken_links(zh)
    return out


def broken_links(page: Page) -> list[str]:
    out = []
    for line in page.prose:
        line = re.sub(r"`[^`]*`", "", line)  # `a[0](b(x))` in inline code is no link
        for _, target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (page.path.parent / file).resolve() if file else page.path.resolve()
            if not dest.exists() and file.endswith(".md") and (page.path.parent.parent / file).exists():
                dest = (page.path.parent.parent / file).resolve()  # not translated yet: English
            if not dest.exists():
                out.append(f"link target {target!r} does not exist from {page.path.parent}")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(read(dest)):
                out.append(f"link {target!r}: no anchor {anchor!r} in {dest.name}")
    return out


def main(argv: list[str]) -> int:
    pairs = list(zip(argv[0::2], argv[1::2], strict=True))
    bad = 0
    for en, zh in pairs:
        found = problems(Path(en), Path(zh))
        print(f"{zh}: " + ("OK" if not found else f"{len(found)} problem(s)"))
        for p in found:
            print("  - " + p)
        bad += bool(found)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
