"""The docs/ pages: their code runs, every source question has an entry, links resolve.

Code blocks: a block fenced as ```python runs standalone; one fenced as ```python norun
is exempt and must follow a `<!-- norun: reason -->` line. All blocks of one page run in
one fresh interpreter, each block in its own globals; pages run in parallel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from resnet_kata import catalog

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
INVENTORY = DOCS / "questions.toml"

# The exercises of the catalogue; a Drill: line may name only these, and each has its page.
DRILLS = tuple(ex.id for ex in catalog.exercises())

# One section (heading anchor) in errata.md per erratum of the catalogue.
ERRATA = (
    "residual-connections-do-not-reduce-the-parameter-count",
    "resnet-adds-the-shortcut-it-does-not-concatenate",
    "resnet-does-not-use-depthwise-separable-convolutions",
    "there-is-no-resnet18-in-kerasapplications",
    "the-vgg-paper-is-by-simonyan-and-zisserman",
    "published-imagenet-accuracy-of-resnet-50-and-resnet-101",
    "a-keras-callback-cannot-clip-gradients",
    "multiplying-the-learning-rate-by-01-every-epoch-is-not-warmup",
    "a-keras-residual-block-must-always-have-a-shortcut",
    "conv1d-and-maxpooling1d-take-1-d-arguments",
    "fine-tuning-replaces-fc-and-uses-weights",
    "imagedatagenerator-is-deprecated-legacy-code-and-get_gradients-is-gone",
    "the-residual-formula-is-y--fx--x",
)

# How questions are recognised in the source documents. Each match must be in the
# inventory (as a title or a prompt) for that document.
SEED_PATTERNS = (
    re.compile(r"^#{4,5} \d+\. (.+?)\s*$"),                  # 000, 004: numbered headings
    re.compile(r"^\*\*题目：\*\*\s*(.+?)\s*$"),               # 000, 004: the question itself
    re.compile(r"^#### (?:面试题|算法编程题) ?\d+：(.+?)\s*$"),  # 002
    re.compile(r"^\*\*Q\d+: (.+?)\*\*\s*$"),                 # 001: FAQ
    re.compile(r"^### 9\.\d+ (.+?)\s*$"),                    # 003: FAQ
)

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*(.*)$")
NORUN_NOTE = re.compile(r"^<!-- norun: \S.* -->$")
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
DRILL = re.compile(r"^Drill: \[(\w+)\]\((\w+)\.md\) — `resnet-kata start (\w+)`$")
SHORT_ANSWER = "> **Short answer.** "
SHORT_ANSWER_WORDS = (50, 170)  # about 70-140 words spoken, 30-60 seconds, with some slack


@dataclass(frozen=True)
class Block:
    info: str  # the fence's info string, e.g. "python" or "python norun"
    line: int  # 1-based line of the opening fence
    code: str
    before: str  # the last non-blank line before the fence


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(2), m.group(3).strip(), i
        j = i + 1
        while j < len(lines) and not lines[j].lstrip().startswith(fence):
            j += 1
        assert j < len(lines), f"{path.name}:{start + 1}: code fence never closed"
        before = next((s for s in reversed(lines[:start]) if s.strip()), "")
        out.append(Block(info, start + 1, "\n".join(lines[start + 1 : j]), before.strip()))
        i = j + 1
    return out


def python_blocks(path: Path) -> list[Block]:
    return [b for b in blocks(path) if b.info.split()[:1] in (["python"], ["py"], ["python3"])]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(path: Path) -> list[str]:
    in_code, out = False, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and re.match(r"^#{1,6} ", line):
            out.append(line.lstrip("#").strip())
    return out


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in headings(path)}


def inventory() -> list[dict[str, str]]:
    tomllib = pytest.importorskip("tomllib", reason="reading docs/questions.toml needs Python 3.11+")
    with INVENTORY.open("rb") as f:
        return tomllib.load(f)["question"]


# --- running the code --------------------------------------------------------------

# Runs in the child: each block in fresh globals, padded so tracebacks give page lines.
RUNNER = r"""
import json, sys, traceback
page, items = json.load(sys.stdin)
for index, (line, code) in enumerate(items):
    try:
        exec(compile("\n" * line + code, page, "exec"), {"__name__": "__main__"})
    except BaseException:
        print(json.dumps({"index": index, "line": line, "error": traceback.format_exc()}))
        sys.exit(1)
print(json.dumps({"ok": len(items)}))
"""


def run_page(path: Path) -> tuple[int, str]:
    items = [(b.line, b.code) for b in python_blocks(path) if b.info == "python"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    # pages run side by side, one per core: one thread each avoids oversubscription
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        env.setdefault(var, "1")
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps([str(path), items]),
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def pages_with_code() -> list[Path]:
    return [p for p in pages() if any(b.info == "python" for b in python_blocks(p))]


@pytest.fixture(scope="module")
def page_runs(request: pytest.FixtureRequest):
    """Starts the pages this session will check, all at once, on every core."""
    wanted = {item.callspec.params["page"] for item in request.session.items
              if getattr(item, "originalname", "") == "test_code_blocks_run"}
    todo = [p for p in pages_with_code() if p.name in wanted]
    todo.sort(key=lambda p: "import keras" not in p.read_text(encoding="utf-8"))  # slow ones first
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    futures: dict[str, Future] = {p.name: pool.submit(run_page, p) for p in todo}
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("page", [p.name for p in pages_with_code()])
def test_code_blocks_run(page: str, page_runs: dict[str, Future]) -> None:
    rc, output = page_runs[page].result()
    if rc != 0:
        report = next((json.loads(s) for s in output.splitlines() if s.startswith('{"index"')), None)
        where = (f"block {report['index'] + 1} (fence at line {report['line']})" if report
                 else "before any block ran")
        detail = report["error"] if report else output[-3000:]
        pytest.fail(f"docs/{page}: {where} failed:\n{detail}", pytrace=False)


@pytest.mark.parametrize("page", [p.name for p in pages()])
def test_python_blocks_are_tagged_and_norun_is_explained(page: str) -> None:
    for b in python_blocks(DOCS / page):
        assert b.info in ("python", "python norun"), (
            f"docs/{page}:{b.line}: fence info {b.info!r}; use 'python' or 'python norun'")
        if b.info == "python norun":
            assert NORUN_NOTE.match(b.before), (
                f"docs/{page}:{b.line}: a norun block needs '<!-- norun: reason -->' just before it")
        assert b.code.strip(), f"docs/{page}:{b.line}: empty code block"


# --- pages, titles, links --------------------------------------------------------


def test_every_exercise_has_its_page() -> None:
    for ex in DRILLS:
        page = DOCS / f"{ex}.md"
        assert page.is_file(), f"docs/{ex}.md is missing"
        first = page.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"# {ex}: ") and len(first) > len(f"# {ex}: "), (
            f"docs/{ex}.md must start with '# {ex}: <title>', found {first!r}")


@pytest.mark.parametrize("page", [p.name for p in pages()])
def test_page_starts_with_a_title_and_anchors_are_unique(page: str) -> None:
    path = DOCS / page
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ") and first[2:].strip(), f"docs/{page}: first line must be '# Title'"
    slugs = [slug(h) for h in headings(path)]
    dupes = sorted({s for s in slugs if slugs.count(s) > 1})
    assert not dupes, f"docs/{page}: headings with the same anchor: {dupes}"


@pytest.mark.parametrize("page", [p.name for p in pages()])
def test_relative_links_resolve(page: str) -> None:
    path = DOCS / page
    text = path.read_text(encoding="utf-8")
    for _, target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.is_file(), f"docs/{page}: link to {target!r}: no such file"
        if anchor:
            assert anchor in anchors(dest), f"docs/{page}: link to {target!r}: no such heading"


@pytest.mark.parametrize("page", [p.name for p in pages()])
def test_drill_lines_name_a_real_exercise(page: str) -> None:
    for n, line in enumerate((DOCS / page).read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("Drill:"):
            continue
        m = DRILL.match(line)
        assert m, (f"docs/{page}:{n}: write 'Drill: [ID](ID.md) — `resnet-kata start ID`', "
                   f"found {line!r}")
        assert m.group(1) == m.group(2) == m.group(3), f"docs/{page}:{n}: three different ids"
        assert m.group(1) in DRILLS, f"docs/{page}:{n}: {m.group(1)} is not an exercise"


def test_index_lists_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {t.partition("#")[0] for _, t in LINK.findall(index)}
    missing = [p.name for p in pages() if p.name != "index.md" and p.name not in linked]
    assert not missing, f"docs/index.md does not link to: {missing}"


def test_errata_has_a_section_per_erratum() -> None:
    path = DOCS / "errata.md"
    sections = [slug(h) for h in headings(path)[1:]]
    missing = [k for k in ERRATA if k not in sections]
    assert not missing, f"docs/errata.md lacks sections: {missing}"
    extra = [s for s in sections if s not in ERRATA]
    assert not extra, f"docs/errata.md has sections that match no erratum: {extra}"


# --- coverage of the source questions ------------------------------------------------


def test_inventory_entries_are_on_their_pages() -> None:
    entries = inventory()
    assert entries, "docs/questions.toml lists no question"
    for q in entries:
        where = f"{q['seed']} {q['ref']}"
        page = DOCS / q["page"]
        assert page.is_file(), f"{where}: page {q['page']} does not exist"
        text = page.read_text(encoding="utf-8")
        for key in ("title", "prompt"):
            if key in q:
                assert q[key] in text, f"{where}: its {key} {q[key]!r} is not quoted on {q['page']}"
        assert where in text, f"{where}: {q['page']} does not name it as {where!r}"
        assert q["anchor"] in anchors(page), f"{where}: {q['page']} has no heading #{q['anchor']}"


def test_inventory_has_no_duplicates() -> None:
    keys = [(q["seed"], q["ref"]) for q in inventory()]
    assert len(keys) == len(set(keys)), "a (seed, ref) pair is listed twice in questions.toml"


def test_index_maps_every_question_to_its_entry() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    rows = [line for line in index.splitlines() if line.startswith("|")]
    for q in inventory():
        link = f"]({q['page']}#{q['anchor']})"
        row = next((r for r in rows if q["title"] in r and f"{q['seed']} {q['ref']}" in r), None)
        assert row, f"docs/index.md has no table row for {q['seed']} {q['ref']} {q['title']!r}"
        assert link in row, f"docs/index.md row for {q['seed']} {q['ref']} should link {link[1:]}"


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"the source documents are not here ({SEEDS})")
def test_every_question_in_the_sources_is_inventoried() -> None:
    listed: dict[str, set[str]] = {}
    for q in inventory():
        listed.setdefault(q["seed"], set()).update(q[k] for k in ("title", "prompt") if k in q)
    found: dict[str, set[str]] = {}
    for path in sorted(SEEDS.glob("*.txt")):
        seed = path.name.split("_")[0]
        for line in path.read_text(encoding="utf-8").splitlines():
            for pattern in SEED_PATTERNS:
                m = pattern.match(line)
                if m:
                    found.setdefault(seed, set()).add(m.group(1))
    assert found, f"no question recognised in {SEEDS}"
    missing = sorted(f"{s}: {t}" for s, ts in found.items() for t in ts - listed.get(s, set()))
    assert not missing, "questions in the source documents with no inventory entry:\n" + "\n".join(missing)
    invented = sorted(f"{s}: {t}" for s, ts in listed.items() for t in ts - found.get(s, set()))
    assert not invented, "inventory titles not found in the source documents:\n" + "\n".join(invented)


# --- a short answer first ------------------------------------------------------------


def question_sections(path: Path, listed: set[str]) -> list[tuple[int, str, list[str]]]:
    """(line, heading, body lines) for each question section of a page; see the test below."""
    lines = path.read_text(encoding="utf-8").splitlines()
    in_code, starts = False, []
    for n, line in enumerate(lines):
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and re.match(r"^#{1,6} ", line):
            starts.append(n)
    out = []
    for k, n in enumerate(starts):
        m = re.match(r"^(#{2,3}) (.+?)\s*$", lines[n])
        if m and (m.group(2).endswith("?") or slug(m.group(2)) in listed):
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            out.append((n + 1, m.group(2), lines[n + 1 : end]))
    return out


@pytest.mark.parametrize("page", [p.name for p in pages()])
def test_every_question_opens_with_a_short_answer(page: str) -> None:
    """Every question section opens with a separate `> **Short answer.**` blockquote.

    A question section is the text under a `##` or `###` heading (outside code fences)
    whose text ends in "?" or whose anchor docs/questions.toml lists for this page; it
    runs to the next heading of any level. Its first non-blank line must start with
    `> **Short answer.** ` followed by text. The blockquote is that line and the lines
    after it that start with `>`; it must be followed by a blank line or the end of the
    section (a plain line right after it would be merged into the quote), hold 50-170
    words (30-60 seconds spoken), and be followed by more text: the detail.
    """
    listed = {q["anchor"] for q in inventory() if q["page"] == page}
    for line, heading, body in question_sections(DOCS / page, listed):
        where = f"docs/{page}:{line} {heading!r}"
        text = [s for s in body if s.strip()]
        assert text and text[0].startswith(SHORT_ANSWER) and text[0][len(SHORT_ANSWER):].strip(), (
            f"{where}: the first line after the heading must start with {SHORT_ANSWER!r}, "
            f"found {text[0][:60] if text else '(nothing)'!r}")
        first = next(i for i, s in enumerate(body) if s.strip())
        quote = []
        for s in body[first:]:
            if not s.startswith(">"):
                break
            quote.append(s)
        after = body[first + len(quote):]
        assert not after or not after[0].strip(), (
            f"{where}: leave a blank line after the short answer, or the next line joins the quote")
        words = len(" ".join(s.lstrip(">") for s in quote).split()) - 2  # minus "**Short answer.**"
        low, high = SHORT_ANSWER_WORDS
        assert low <= words <= high, f"{where}: the short answer has {words} words, not {low}-{high}"
        assert any(s.strip() for s in after), f"{where}: the short answer is not followed by the detail"
