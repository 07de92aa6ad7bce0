"""The Chinese path: every page, statement, manifest text and program string has its
translation, the twins match their English pages, and the terminal views speak Chinese.

`gaps()` lists what has no translation yet; `python -m pytest tests/test_zh.py -k gaps`
prints it.
"""

from __future__ import annotations

import gettext
import json
import re
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from resnet_kata import catalog, cli, docsview, i18n, report
from resnet_kata.record import FAIL, CheckResult, ErrorKind, Record

from . import twins
from .conftest import needs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ZH = DOCS / "zh"
LOCALE = ROOT / "grader" / "locale"
PO = LOCALE / "zh" / "LC_MESSAGES" / "resnet_kata.po"
MO = PO.with_suffix(".mo")
GLOSSARY = ZH / "glossary.md"
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{[a-z_]*(?:[:!][^{}]*)?\}")
MARKUP = re.compile(r"\[/?(?:bold|dim|red|green|yellow|cyan|bold \w+)?\]")
EXERCISES = catalog.exercises()


def english_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


TWINNED_PAGES = [p.name for p in english_pages() if (ZH / p.name).is_file()]
TWINNED_EXERCISES = [e for e in EXERCISES if (e.dir / "README.zh.md").is_file()]
TRANSLATED_MANIFESTS = [e for e in EXERCISES
                        if "zh" in tomllib.loads((e.dir / "kata.toml").read_text(encoding="utf-8"))]


def manifest(ex: catalog.Exercise) -> dict:
    return tomllib.loads((ex.dir / "kata.toml").read_text(encoding="utf-8"))


def po_entries() -> list:
    babel = pytest.importorskip("babel.messages.pofile", reason="the catalog tests need Babel")
    with PO.open("rb") as fh:
        return [m for m in babel.read_po(fh) if m.id]


def gaps(pages: list[Path] | None = None) -> list[str]:
    """Everything the Chinese path lacks: pages, statements, manifest texts, program strings."""
    out = []
    for page in english_pages() if pages is None else pages:
        if not (ZH / page.name).is_file():
            out.append(f"docs/zh/{page.name}: no Chinese twin of docs/{page.name}")
    for ex in EXERCISES:
        if not (ex.dir / "README.zh.md").is_file():
            out.append(f"exercises/{ex.id}/README.zh.md: no Chinese statement")
        data = manifest(ex)
        zh = data.get("zh", {})
        for name in catalog.TRANSLATED:
            if data.get(name) and not zh.get(name):
                out.append(f"exercises/{ex.id}/kata.toml: [zh] has no {name}")
    if not PO.is_file():
        out.append(f"{PO.relative_to(ROOT)}: no catalog")
    else:
        for m in po_entries():
            if not (m.string if isinstance(m.string, str) else all(m.string)) or m.fuzzy:
                ident = m.id if isinstance(m.id, str) else m.id[0]
                out.append(f"program string not translated: {ident[:70]!r}")
    if not GLOSSARY.is_file():
        out.append("docs/zh/glossary.md: no glossary")
    if (ZH / "index.md").is_file():
        out += [f"docs/zh/index.md: the seed question {t!r} is missing" for t in missing_titles()]
    return out


def missing_titles() -> list[str]:
    with (DOCS / "questions.toml").open("rb") as fh:
        questions = tomllib.load(fh)["question"]
    index = (ZH / "index.md").read_text(encoding="utf-8")
    return sorted({q["title"] for q in questions if q["title"] not in index})


def test_gaps_none_are_left() -> None:
    missing = gaps()
    assert not missing, f"{len(missing)} translations missing:\n" + "\n".join(missing)


def test_gaps_lists_a_page_without_twin(tmp_path) -> None:
    page = tmp_path / "zz_new_topic.md"
    page.write_text("# New\n", encoding="utf-8")
    found = gaps([*english_pages(), page])
    assert "docs/zh/zz_new_topic.md: no Chinese twin of docs/zz_new_topic.md" in found
    assert "docs/zh/01_residual_block.md: no Chinese twin of docs/01_residual_block.md" not in found


# --- the language choice -------------------------------------------------------------


@pytest.mark.parametrize(("environ", "want"), [
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LC_ALL": "zh_SG"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LC_ALL": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh"),
    ({"RESNET_KATA_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"RESNET_KATA_LANG": "zh"}, "zh"),
])
def test_the_language_comes_from_the_variable_then_the_locale(environ, want) -> None:
    assert i18n.detect(None, environ) == want


def test_the_flag_wins_and_a_bad_value_is_a_clear_error() -> None:
    assert i18n.detect("en", {"RESNET_KATA_LANG": "zh"}) == "en"
    assert i18n.detect("zh_CN", {}) == "zh"
    with pytest.raises(i18n.LanguageError, match="use one of en, zh"):
        i18n.detect("klingon", {})
    with pytest.raises(i18n.LanguageError, match="RESNET_KATA_LANG"):
        i18n.detect(None, {"RESNET_KATA_LANG": "xx"})


@pytest.fixture
def kata(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESNET_KATA_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("COLUMNS", "100")

    def run(*args: str, lang_env: str | None = None):
        if lang_env is None:
            monkeypatch.setenv("RESNET_KATA_LANG", "en")
        else:
            monkeypatch.delenv("RESNET_KATA_LANG", raising=False)
            monkeypatch.delenv("LC_ALL", raising=False)
            monkeypatch.delenv("LC_MESSAGES", raising=False)
            monkeypatch.delenv("LANGUAGE", raising=False)
            monkeypatch.setenv("LANG", lang_env)
        capsys.readouterr()
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_lang_is_taken_before_or_after_the_verb_and_doctor_names_it(kata) -> None:
    for argv in (["--lang", "zh", "doctor"], ["doctor", "--lang", "zh"], ["doctor", "--lang=zh"]):
        code, out, _err = kata(*argv)
        assert code == 0 and "中文" in out and "--lang" in out, out
    code, out, _err = kata("doctor", lang_env="zh_CN.UTF-8")
    assert "中文" in out and "locale" not in out  # "from the locale", in Chinese
    code, out, _err = kata("doctor", "--lang", "en", lang_env="zh_CN.UTF-8")
    assert "English (from --lang" in out and not CJK.search(out)
    code, _out, err = kata("--lang", "xx", "list")
    assert code == 2 and "invalid choice" in err or "use one of" in err


def test_a_new_learner_with_a_chinese_locale_reads_chinese(kata) -> None:
    """LANG=zh_CN.UTF-8: start, hint, docs, progress speak Chinese; --lang en speaks English."""
    ex = catalog.resolve("01")
    zh = manifest(ex)["zh"]
    code, out, _err = kata("start", "01", "--framework", "torch", lang_env="zh_CN.UTF-8")
    assert code == 0
    statement = (ex.dir / "README.zh.md").read_text(encoding="utf-8")
    assert statement.splitlines()[0].lstrip("# ").split("·")[-1].strip() in out
    assert "你的文件" in out or "文件" in out
    code, out, _err = kata("hint", lang_env="zh_CN.UTF-8")
    assert zh["hints"][0][:12] in out.replace("\n", "")
    code, out, _err = kata("docs", "01", "--no-pager", lang_env="zh_CN.UTF-8")
    assert "简答" in out and "Short answer" not in out
    code, out, _err = kata("progress", lang_env="zh_CN.UTF-8")
    assert code == 0 and CJK.search(out)
    code, out, _err = kata("hint", "--lang", "en", lang_env="zh_CN.UTF-8")
    assert manifest(ex)["hints"][0][:30] in out.replace("\n", " ").replace("  ", " ")
    code, out, _err = kata("progress", "--lang", "en", lang_env="zh_CN.UTF-8")
    assert not CJK.search(out)


@needs("torch")
def test_check_speaks_chinese_and_its_json_keeps_english_keys(kata, tmp_path) -> None:
    ex = catalog.resolve("01")
    stub = ex.stub("torch")
    code, out, _err = kata("check", "01", "--framework", "torch", "--impl", str(stub), "--json",
                           "--lang", "zh")
    zh = json.loads(out)
    code, out, _err = kata("check", "01", "--framework", "torch", "--impl", str(stub), "--json",
                           "--lang", "en")
    en = json.loads(out)

    def keys(value, path=""):
        if isinstance(value, dict):
            return {f"{path}.{k}" for k in value} | set().union(*(keys(v, f"{path}.{k}")
                                                               for k, v in value.items()))
        if isinstance(value, list):
            return set().union(set(), *(keys(v, f"{path}[]") for v in value))
        return set()

    assert keys(zh) - {".seconds"} == keys(en) - {".seconds"}
    assert zh["status"] == en["status"] and [c["name"] for c in zh["checks"]] == [
        c["name"] for c in en["checks"]]
    assert any(CJK.search(c["message"]) for c in zh["checks"]), zh["checks"]
    assert not any(CJK.search(c["message"]) for c in en["checks"])
    code, out, _err = kata("check", "01", "--framework", "torch", "--impl", str(stub), "--lang", "zh")
    assert "项检查通过" in out or "检查" in out


# --- the twins -----------------------------------------------------------------------


@pytest.mark.parametrize("page", TWINNED_PAGES)
def test_a_chinese_docs_page_matches_its_english_twin(page: str) -> None:
    zh = ZH / page
    assert zh.is_file(), f"docs/zh/{page} is missing"
    problems = twins.problems(DOCS / page, zh)
    assert not problems, f"docs/zh/{page}:\n" + "\n".join(problems)


@pytest.mark.parametrize("ex", TWINNED_EXERCISES, ids=[e.id for e in TWINNED_EXERCISES])
def test_a_chinese_statement_matches_its_english_twin(ex: catalog.Exercise) -> None:
    zh = ex.dir / "README.zh.md"
    assert zh.is_file(), f"{ex.id}/README.zh.md is missing"
    problems = twins.problems(ex.dir / "README.md", zh)
    assert not problems, f"{ex.id}/README.zh.md:\n" + "\n".join(problems)


@pytest.mark.parametrize("ex", TRANSLATED_MANIFESTS, ids=[e.id for e in TRANSLATED_MANIFESTS])
def test_a_translated_manifest_translates_every_text(ex: catalog.Exercise) -> None:
    data = manifest(ex)
    zh = data.get("zh")
    assert zh, f"{ex.id}/kata.toml has no [zh] table"
    for name in catalog.TRANSLATED:
        english, chinese = data.get(name), zh.get(name)
        if not english:
            continue
        assert chinese, f"{ex.id}: [zh] {name} is missing"
        items = [chinese] if isinstance(chinese, str) else chinese
        assert all(CJK.search(s) for s in items), f"{ex.id}: [zh] {name} is not Chinese"
        # the code names a hint mentions stay as they are
        for en_item, zh_item in zip([english] if isinstance(english, str) else english, items, strict=False):
            for code in re.findall(r"`([^`]+)`", en_item):
                assert code in zh_item, f"{ex.id}: [zh] {name} lost the code `{code}`: {zh_item}"
    i18n.set_language("zh")
    catalog._load_all.cache_clear()
    try:
        chinese = catalog.resolve(ex.id)
        assert chinese.title == zh["title"] and chinese.hints == tuple(zh["hints"])
        assert chinese.statement.name == "README.zh.md"
        # the Chinese page where it exists, the English one until then
        assert chinese.doc_path().parent.name == ("zh" if (ZH / Path(ex.doc).name).is_file() else "docs")
    finally:
        i18n.set_language("en")




def test_a_chinese_page_links_only_to_pages_and_anchors_that_exist() -> None:
    bad = []
    for page in sorted(ZH.glob("*.md")):
        bad += [f"{page.name}: {p}" for p in twins.broken_links(twins.read(page))]
    assert not bad, "\n".join(bad)


# --- the glossary and consistent terms -------------------------------------------------


def glossary() -> list[tuple[str, str, list[str]]]:
    """(English, Chinese, avoided variants) per row of the glossary's tables."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and line.startswith("|") and not set(cells[0]) <= set("-: ") and \
                cells[0] != "English":
            avoided = [v.strip() for v in re.split(r"[、,，]", cells[3]) if v.strip()]
            rows.append((cells[0], cells[1], avoided))
    return rows


def chinese_texts() -> dict[str, str]:
    """Every Chinese text the learner reads, by where it is."""
    texts = {f"docs/zh/{p.name}": p.read_text(encoding="utf-8")
             for p in sorted(ZH.glob("*.md")) if p.name != "glossary.md"}
    for ex in EXERCISES:
        if (ex.dir / "README.zh.md").is_file():
            texts[f"{ex.id}/README.zh.md"] = (ex.dir / "README.zh.md").read_text(encoding="utf-8")
        zh = manifest(ex).get("zh", {})
        texts[f"{ex.id}/kata.toml [zh]"] = json.dumps(zh, ensure_ascii=False)
    if PO.is_file():
        texts["the program strings"] = PO.read_text(encoding="utf-8")
    return texts


def test_the_glossary_defines_the_terms_the_kit_uses() -> None:
    rows = glossary()
    assert len(rows) >= 60, f"the glossary has {len(rows)} terms"
    chinese = [zh for _en, zh, _avoid in rows]
    for must in ("残差块", "恒等映射", "投影捷径", "瓶颈块", "预激活", "学习率预热", "余弦退火"):
        assert any(must in zh for zh in chinese), f"the glossary lacks {must}"
    for en, zh, avoided in rows:
        assert CJK.search(zh) or zh.isascii(), (en, zh)
        for variant in avoided:
            assert variant not in zh, f"{en}: {variant!r} is avoided but is part of {zh!r}"


def seed_quotations() -> list[str]:
    """The seed questions' own words (titles and prompts), quoted byte for byte on the pages:
    their terms are the source's, not the kit's."""
    with (DOCS / "questions.toml").open("rb") as fh:
        questions = tomllib.load(fh)["question"]
    return sorted({q[k] for q in questions for k in ("title", "prompt") if q.get(k)}, key=len,
                  reverse=True)


def test_terms_are_used_consistently() -> None:
    """A variant the glossary says the kit does not use appears nowhere in the Chinese texts
    (the seed questions quoted as written aside)."""
    chosen = [zh for _en, zh, _avoid in glossary()]
    quoted = seed_quotations()
    found = []
    for where, text in chinese_texts().items():
        for quote in quoted:
            text = text.replace(quote, "")
        for en, zh, avoided in glossary():
            for variant in avoided:
                # a variant that is part of a chosen term is only wrong outside that term
                scrubbed = text
                for term in chosen:
                    if variant in term:
                        scrubbed = scrubbed.replace(term, "")
                if variant in scrubbed:
                    found.append(f"{where}: {variant!r} (the kit says {zh!r} for {en})")
    assert not found, "\n".join(found)


# --- the program strings -------------------------------------------------------------


def test_the_catalog_is_complete_and_keeps_placeholders_and_markup() -> None:
    bad = []
    for m in po_entries():
        pairs = ([(m.id, m.string)] if isinstance(m.id, str)
                 else [(m.id[1], s) for s in m.string])
        for english, chinese in pairs:
            if not chinese:
                bad.append(f"untranslated: {english[:60]!r}")
                continue
            if sorted(PLACEHOLDER.findall(english)) != sorted(PLACEHOLDER.findall(chinese)):
                bad.append(f"placeholders differ: {english[:50]!r} -> {chinese[:50]!r}")
            if sorted(MARKUP.findall(english)) != sorted(MARKUP.findall(chinese)):
                bad.append(f"rich markup differs: {english[:50]!r} -> {chinese[:50]!r}")
            if re.search(r"`[^`]+`", english):
                for code in re.findall(r"`([^`]+)`", english):
                    if code not in chinese:
                        bad.append(f"code `{code}` lost: {chinese[:60]!r}")
    assert not bad, "\n".join(bad)


def test_the_catalog_holds_every_marked_string_and_the_mo_is_compiled_from_it() -> None:
    extract = pytest.importorskip("babel.messages.extract")
    marked = set()
    for path in sorted((ROOT / "grader").rglob("*.py")):
        with path.open("rb") as fh:
            for _line, _func, message, _comments in extract.extract_python(
                    fh, extract.DEFAULT_KEYWORDS.keys(), [], {}):
                first = message if isinstance(message, str) or message is None else message[0]
                if first:  # None: a variable passed to _(), marked where it is defined
                    marked.add(first)
    in_po = {m.id if isinstance(m.id, str) else m.id[0] for m in po_entries()}
    assert marked - in_po == set(), (
        "strings marked in the code but not in the catalog (run the pybabel extract/update "
        f"commands of CONTRIBUTING.md): {sorted(marked - in_po)[:10]}")
    assert in_po - marked == set(), f"catalog entries no code marks any more: {sorted(in_po - marked)[:10]}"
    with MO.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    for m in po_entries():
        if isinstance(m.id, str):
            assert compiled.gettext(m.id) == m.string, (
                f"the .mo is older than the .po (run pybabel compile): {m.id[:60]!r}")


def test_a_string_without_translation_falls_back_to_english() -> None:
    i18n.set_language("zh")
    assert i18n._("a sentence no catalog holds") == "a sentence no catalog holds"
    assert i18n._("Interviews: {passed} passed of {total}") != "Interviews: {passed} passed of {total}"
    pack = catalog.Exercise(id="99_x", title="T", order=99, difficulty="easy", frameworks=("numpy",),
                            files={"numpy": "x.py"}, hints=("h",), time_budget=1, doc="x.md",
                            summary="s", dir=ROOT / "nowhere")
    assert catalog.translated(pack, None, "zh").hints == ("h",)
    assert pack.statement.name == "README.md"


# --- the terminal views --------------------------------------------------------------


def _console(width: int) -> Console:
    return Console(width=width, record=True, color_system=None, highlight=False,
                   file=open("/dev/null", "w"))  # noqa: SIM115 - recorded, not shown


def _render(renderable, width: int) -> str:
    con = _console(width)
    con.print(renderable)
    return con.export_text()


def _render_record(record: Record, width: int) -> str:
    con = _console(width)
    report.render(record, con, "PyTorch")
    return con.export_text()


def _squash(text: str) -> str:
    return re.sub(r"[\s│┃|↪]+", "", text)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_chinese_renders_whole_at_every_width(width: int) -> None:
    i18n.set_language("zh")
    message = ("形状检查失败：输入 (2, 8, 5, 5) 时，期望输出 (2, 8, 5, 5)，实际得到 (2, 8, 3, 3)。"
               "很可能 conv1 没有设置 padding=1（Keras：padding=\"same\"），导致特征图每次缩小两个像素。")
    record = Record("01_residual_block", "torch", checks=[
        CheckResult("shapes", "shapes", FAIL, message, 0.1)]).finish(seconds=1.0)
    out = _render_record(record, width)
    assert all(cell_len(line) <= width for line in out.splitlines()), out
    assert _squash(message) in _squash(out), out
    assert "项检查通过" in out
    page = ZH / "01_residual_block.md"
    text = _render(docsview.page(page), width)
    assert all(cell_len(line) <= width for line in text.splitlines())
    short = next(line for line in page.read_text(encoding="utf-8").splitlines()
                 if line.startswith("> **简答。**"))
    body = _squash(short.split("**简答。**", 1)[1])
    body = re.sub(r"[*`>]", "", body)
    assert body[:80] in re.sub(r"[*`>▌]", "", _squash(text)), "the short answer is cut"
    err = Record("01_residual_block", "torch")
    err.fail_run(ErrorKind.TIMEOUT, message)
    out = _render_record(err.finish(seconds=1.0), width)
    assert _squash(message) in _squash(out) and all(cell_len(x) <= width for x in out.splitlines())


def test_a_line_break_inside_a_chinese_paragraph_adds_no_space() -> None:
    text = ("训练与评估模式都要，\nBN 统计量随机。残差\n分支使用\nReLU 激活；\n**粗体**开头。\n\n"
            "## 标题\n正文\n\n"
            "```python\nx = 1  # 中文，\ny = 2\n```\n| 表，\n| 行 |\n")
    joined = docsview.join_wide_lines(text)
    assert "都要，BN 统计量随机。残差分支使用 ReLU 激活；**粗体**开头。" in joined
    assert "## 标题\n正文" in joined, "a heading is not joined to the next line"
    assert "# 中文，\ny = 2" in joined, "code is left alone"
    assert "| 表，\n| 行 |" in joined
    english = "A line\nbreak stays a space.\n"
    assert docsview.join_wide_lines(english) == english


@pytest.mark.parametrize("ex", TWINNED_EXERCISES, ids=[e.id for e in TWINNED_EXERCISES])
def test_a_chinese_statement_shows_no_space_after_full_width_punctuation(ex) -> None:
    """Not in the text, not from a line break (a bold label's closing `**` may be followed by
    a space: CommonMark needs it after punctuation)."""
    text = docsview.join_wide_lines((ex.dir / "README.zh.md").read_text(encoding="utf-8"))
    bad = [line.strip() for line in text.splitlines()
           if re.search(r"[，。；：、] [\u4e00-\u9fffA-Za-z`*]", line)]
    assert not bad, "\n".join(bad[:5])


def test_a_chinese_message_loses_the_spaces_its_pieces_leave() -> None:
    message = ("在评估模式下，`BasicBlock(8, 8)` 不一致。 与这个错误一致：没有捷径连接。\n"
               "  - `downsample` 应为 含 2 个元素的 Sequential：1x1 卷积\n"
               "    x = 中文 注释  # the learner's own line stays")
    i18n.set_language("zh")
    tidied = i18n.tidy(message)
    assert "不一致。与这个错误一致" in tidied and "应为含 2 个元素的 Sequential" in tidied
    assert "`BasicBlock(8, 8)` 不一致" in tidied, "the space between code and Chinese stays"
    assert tidied.endswith("x = 中文 注释  # the learner's own line stays")
    i18n.set_language("en")
    assert i18n.tidy(message) == message


def test_the_stage_trace_table_lines_up_in_chinese() -> None:
    from types import SimpleNamespace

    from resnet_kata.checks.networks import trace_table
    i18n.set_language("zh")
    # stage names as long in characters as the header 阶段, which takes twice the cells
    table = trace_table(SimpleNamespace(channels_last=False), ["s1", "s2"],
                        {"s1": (1, 8, 8, 8), "s2": (1, 8, 8, 8)},
                        {"s1": (1, 8, 8, 8), "s2": (1, 8, 4, 4)})
    lines = table.splitlines()
    assert "阶段" in lines[0] and "不同" in lines[2], table
    # the third column starts in the same terminal cell on every line
    fields = [list(re.finditer(r"\S(?:\S| (?! ))*", line)) for line in lines]  # 2+ spaces part them
    starts = [cell_len(line[:found[2].start()]) for line, found in zip(lines, fields, strict=True)]
    assert len(set(starts)) == 1, table
