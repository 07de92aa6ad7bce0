"""`resnet-kata`: verbs only. Parse, call the layer below, render.

Exit codes: 0 every check passed (or the verb succeeded); 1 a check failed or
the learner's code broke; 2 a usage error, a missing framework or an internal
error.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from . import catalog, devcheck, docsview, drill, frameworks, i18n, report, runner
from . import workspace as ws
from .catalog import CatalogError, Exercise, UnknownExercise
from .choose import UsageError
from .choose import current as _current
from .choose import framework as _framework
from .choose import require_framework as _require_framework
from .choose import resolve as _resolve
from .i18n import _

OK, FAILED, USAGE = 0, 1, 2


def _console() -> Console:
    return Console(stderr=False, highlight=False, soft_wrap=False)


def _err(msg: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        _("[red]error:[/] {message}").format(message=msg))


def _workspace(args: argparse.Namespace) -> ws.Workspace:
    space = ws.Workspace(ws.locate(args.workspace))
    space.check_usable()
    space.state  # noqa: B018 - read now so a warning about a corrupt file shows first
    for w in space.warnings:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            _("[yellow]warning:[/] {message}").format(message=w))
    return space


# -- verbs ---------------------------------------------------------------------


# The difficulty words, translated where shown (the manifest and --json keep English).
DIFFICULTY = {"easy": i18n.N_("easy"), "medium": i18n.N_("medium"), "hard": i18n.N_("hard")}


def _difficulty(level: str) -> str:
    return _(DIFFICULTY[level]) if level in DIFFICULTY else level


def _columns(items: tuple[Exercise, ...]) -> tuple[str, ...]:
    """The frameworks to show a column for: torch and tf, and numpy once an exercise offers it."""
    return tuple(fw for fw in ("torch", "tf", "numpy")
                 if fw != "numpy" or any(fw in ex.frameworks for ex in items))


def cmd_list(args: argparse.Namespace) -> int:
    space = _workspace(args)
    items = catalog.exercises()
    columns = _columns(items)
    rows = []
    for ex in items:
        status = {}
        for fw in columns:
            if fw not in ex.frameworks:
                status[fw] = "n/a"
            elif space.passed(ex.id, fw):
                status[fw] = "passed"
            elif space.file(ex, fw).exists():
                status[fw] = "started"
            else:
                status[fw] = "-"
        rows.append((ex, status))
    if args.json:
        print(json.dumps([
            {"id": ex.id, "title": ex.title, "difficulty": ex.difficulty,
             "frameworks": list(ex.frameworks), "status": st} for ex, st in rows
        ], indent=2))
        return OK
    table = Table(title=_("resnet-kata exercises"))
    table.add_column(_("id"), no_wrap=True, min_width=max(len(ex.id) for ex, _st in rows))  # typed
    table.add_column(_("title"), ratio=1)
    table.add_column(_("difficulty"), no_wrap=True)
    for col in columns:
        table.add_column(col, no_wrap=True)
    colours = {"passed": "green", "started": "yellow", "-": "dim", "n/a": "dim"}
    shown = {"passed": _("passed"), "started": _("started"), "-": "-", "n/a": _("n/a")}
    for ex, st in rows:
        table.add_row(ex.id, ex.title, _difficulty(ex.difficulty),
                      *(f"[{colours[st[f]]}]{shown[st[f]]}[/]" for f in columns))
    _console().print(table)
    return OK


def cmd_start(args: argparse.Namespace) -> int:
    space = _workspace(args)
    ex = _resolve(args.exercise)
    fw = _framework(ex, args.framework, None)
    path, created = space.start(ex, fw)
    space.set_current(ex.id, fw)
    con = _console()
    con.print(Markdown(docsview.join_wide_lines(ex.statement.read_text(encoding="utf-8"))))
    con.rule()
    if created:
        con.print(_("Your file: [bold]{path}[/] (a fresh stub, {framework})").format(
            path=path, framework=frameworks.LABELS[fw]))
    else:
        con.print(_("Your file: [bold]{path}[/] (kept as it was: start never overwrites)").format(
            path=path))
    con.print(_("Edit it, then run [bold]resnet-kata check[/] "
                "(or [bold]resnet-kata watch[/] to re-check on every save)."))
    if not frameworks.is_installed(fw) and fw != "numpy":
        con.print(_("[yellow]{framework} is not installed yet:[/] {command}").format(
            framework=frameworks.LABELS[fw], command=frameworks.install_command(fw)))
    return OK


MAX_SOURCE_BYTES = 5_000_000  # a learner's file is kilobytes; anything this large is a mistake


def gradable_file(path: Path, what: str) -> Path:
    """`path` if it is a readable regular file of sane size, else a one-line UsageError."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(_("{what} {path}: no such file.").format(what=what, path=path)) from None
    except OSError as exc:
        raise UsageError(_("{what} {path}: cannot be read ({reason}).").format(
            what=what, path=path, reason=exc.strerror or exc)) from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(_("{what} {path} is a folder; name the Python file inside it.").format(
            what=what, path=path))
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(_("{what} {path} exists but is not a regular file (a device, a pipe?); "
                           "name a Python file.").format(what=what, path=path))
    if info.st_size > MAX_SOURCE_BYTES:
        raise UsageError(_("{what} {path} is {mb:.0f} MB; a solution is a few kilobytes of "
                           "Python. Is it the right file?").format(
                               what=what, path=path, mb=info.st_size / 1e6))
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise UsageError(_("{what} {path}: cannot be read ({reason}).").format(
            what=what, path=path, reason=exc.strerror or exc)) from None
    return path


def _run_check(args: argparse.Namespace, space: ws.Workspace, ex: Exercise, fw: str,
               spares: runner.SparePool | None = None, impl: Path | None = None) -> int:
    if impl is not None or args.impl:
        impl = gradable_file(impl or Path(args.impl).expanduser().resolve(), "--impl")
    else:
        impl = space.file(ex, fw)
        if not impl.exists():
            raise UsageError(_("You have not started {id} in {framework} yet: "
                               "resnet-kata start {id} --framework {framework}").format(
                                   id=ex.id, framework=fw))
        gradable_file(impl, _("your file"))
    _require_framework(fw)
    only = [c for c in (args.only or "").split(",") if c] or None
    con = _console()
    if args.json:
        record = runner.run_check(ex, fw, impl, args.device, args.timeout, only, spares=spares)
        print(report.to_json(record))
    else:
        with report.LiveView(con) as live:
            record = runner.run_check(ex, fw, impl, args.device, args.timeout, only, live, spares)
        report.render(record, con, frameworks.LABELS.get(fw, fw))
    if not args.impl and not record.error_kind.is_kit:
        space.record_result(ex.id, fw, record.status == "pass" and not only)
        if not record.passed and drill.mark_due(space, ex.id) and not args.json:
            con.print(_("[dim]The interview questions of {id} are due again: resnet-kata drill "
                        "--topic {number}[/]").format(id=ex.id, number=ex.number))
    return record.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    space = _workspace(args)
    ex = _current(space, args.exercise)
    fw = _framework(ex, args.framework, space)
    return _run_check(args, space, ex, fw)


def cmd_watch(args: argparse.Namespace) -> int:
    from . import watch

    space = _workspace(args)
    ex = _current(space, args.exercise)
    fw = _framework(ex, args.framework, space)
    path = Path(args.impl).resolve() if args.impl else space.file(ex, fw)
    if not path.exists():
        raise UsageError(_("No file to watch at {path}: resnet-kata start {id} --framework "
                           "{framework}").format(path=path, id=ex.id, framework=fw))
    con = _console()

    def check(target: watch.Target, spares: runner.SparePool) -> int:
        _require_framework(target.framework)
        return _run_check(args, space, target.exercise, target.framework, spares,
                          impl=target.path if args.impl else None)

    def hint(exercise: Exercise) -> None:
        _show_hints(con, space, exercise)

    try:
        return watch.watch(watch.Target(ex, fw, path), space, con, check, hint,
                           poll=args.poll, poll_ms=int(args.interval * 1000), once=args.once)
    except KeyboardInterrupt:
        return OK


def cmd_hint(args: argparse.Namespace) -> int:
    space = _workspace(args)
    _refuse_during_interview(space, _("Hints"))
    _show_hints(_console(), space, _current(space, args.exercise))
    return OK


def _show_hints(con: Console, space: ws.Workspace, ex: Exercise) -> None:
    """The hints shown so far and the next one."""
    if space.hint_level(ex.id) >= len(ex.hints):
        con.print(_("All {n} hints for {id} are shown below; next step: "
                    "resnet-kata docs {id}").format(n=len(ex.hints), id=ex.id))
        level = len(ex.hints)
    else:
        level = space.next_hint_level(ex.id, len(ex.hints))
    for i in range(level):
        con.print(_("[bold]Hint {k}/{n}:[/] {hint}").format(k=i + 1, n=len(ex.hints),
                                                              hint=ex.hints[i]))


def cmd_solution(args: argparse.Namespace) -> int:
    space = _workspace(args)
    _refuse_during_interview(space, _("Solutions"))
    ex = _resolve(args.exercise)
    fw = _framework(ex, args.framework, space)
    con = _console()
    if not space.passed(ex.id, fw):
        if not args.give_up:
            con.print(_("The solution of {id} opens after you pass it in {framework}. "
                        "To see it now: resnet-kata solution {id} --give-up").format(
                            id=ex.id, framework=fw))
            return FAILED
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(_("--give-up needs a confirmation: add --yes."))
            answer = input(_("Show the {framework} solution of {id} before passing it? [y/N] ")
                           .format(framework=fw, id=ex.id))
            if not _yes(answer):
                con.print(_("Kept hidden. `resnet-kata hint` gives the next hint."))
                return OK
        space.gave_up(ex.id)
    path = ex.solution(fw)
    con.print(_("[bold]{id}[/] reference solution ({framework}): {path}").format(
        id=ex.id, framework=frameworks.LABELS[fw], path=path))
    con.print(Syntax(path.read_text(encoding="utf-8"), "python", line_numbers=True))
    return OK


def cmd_reset(args: argparse.Namespace) -> int:
    space = _workspace(args)
    ex = _resolve(args.exercise)
    fw = _framework(ex, args.framework, space)
    target = space.file(ex, fw)
    con = _console()
    if target.exists() and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(_("reset replaces your file with the stub; confirm with --yes."))
        answer = input(_("Replace {path} with the stub? A backup is kept. [y/N] ").format(
            path=target))
        if not _yes(answer):
            con.print(_("Nothing changed."))
            return OK
    backup = space.reset(ex, fw)
    space.set_current(ex.id, fw)
    if backup:
        con.print(_("Your previous file is saved as [bold]{path}[/]").format(path=backup))
    con.print(_("{path} is the stub again.").format(path=target))
    return OK


def cmd_progress(args: argparse.Namespace) -> int:
    space = _workspace(args)
    items = catalog.exercises()
    per_fw = {}
    for fw in _columns(items):
        offered = [ex for ex in items if fw in ex.frameworks]
        per_fw[fw] = (sum(space.passed(ex.id, fw) for ex in offered), len(offered))
    from . import interview

    interviews = interview.history(space)
    passed_interviews = sum(1 for r in interviews if r.get("passed"))
    due = drill.cards_due_count(space)
    reviewed = len(drill.schedule(space))
    if args.json:
        data: dict[str, Any] = {fw: {"passed": p, "total": t} for fw, (p, t) in per_fw.items()}
        data["interviews"] = {"passed": passed_interviews, "total": len(interviews)}
        data["drill"] = {"due": due, "reviewed": reviewed}
        print(json.dumps(data))
        return OK
    con = _console()
    for fw, (p, t) in per_fw.items():
        bar = "█" * p + "░" * (t - p)
        label = frameworks.LABELS[fw]
        con.print(f"{label}{' ' * max(1, 19 - cell_len(label))}{bar} {p}/{t}")
    con.print(_("Interviews: {passed} passed of {total}").format(
        passed=passed_interviews, total=len(interviews)))
    if due:
        con.print(_("Drill: {due} card(s) due now, {reviewed} reviewed so far (resnet-kata drill)")
                  .format(due=due, reviewed=reviewed))
    else:
        con.print(_("Drill: {due} card(s) due now, {reviewed} reviewed so far").format(
            due=due, reviewed=reviewed))
    cur = space.current()
    if cur:
        con.print(_("Current: {id} ({framework})").format(id=cur[0], framework=cur[1]))
    return OK


def _doc_pages() -> dict[str, Path]:
    """The docs pages by name, in the language spoken where a translation exists."""
    docs = catalog.kit_root() / "docs"
    pages = {p.stem: p for p in sorted(docs.glob("*.md"))} if docs.is_dir() else {}
    lang = i18n.language()
    if lang != "en":
        for p in sorted((docs / lang).glob("*.md")):
            pages[p.stem] = p
    return pages


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def cmd_docs(args: argparse.Namespace) -> int:
    _refuse_during_interview(_workspace(args), _("The docs"))
    pages = _doc_pages()
    con = _console()
    if not args.name:
        table = Table(title=_("resnet-kata docs (resnet-kata docs NAME)"))
        table.add_column(_("name"), no_wrap=True, min_width=max(map(len, pages)))
        table.add_column(_("title"), ratio=1)
        for stem, path in pages.items():
            table.add_row(stem, _title(path))
        con.print(table)
        return OK
    key = args.name.strip().lower().replace("-", "_").removesuffix(".md")
    page = pages.get(key)
    if page is None:
        try:
            page = catalog.resolve(key).doc_path()
        except UnknownExercise:
            topical = [s for s in pages if key in s]
            if len(topical) == 1:
                page = pages[topical[0]]
            else:
                close = difflib.get_close_matches(key, list(pages), n=3, cutoff=0.5) or topical[:3]
                if close:
                    raise UsageError(_("No docs page named {name}. Did you mean: {names}?").format(
                        name=repr(args.name), names=", ".join(close))) from None
                raise UsageError(_("No docs page named {name}.").format(name=repr(args.name))) from None
    if not page.exists():
        raise UsageError(_("The page {name} is missing from docs/.").format(name=page.name))
    docsview.show(con, page, pager=not args.no_pager)
    return OK


def cmd_notebook(args: argparse.Namespace) -> int:
    try:
        import nbformat  # noqa: F401

        from . import notebook
    except ImportError:
        raise UsageError(_('the notebook route needs its extra: pip install -e ".[notebook]"')) from None
    space = _workspace(args)
    ex = _resolve(args.exercise)
    fw = _framework(ex, args.framework, space)
    path, created = notebook.write(space, ex, fw)
    con = _console()
    if created:
        con.print(_("Notebook: [bold]{path}[/] (written)").format(path=path))
    else:
        con.print(_("Notebook: [bold]{path}[/] (kept as it was: never overwritten)").format(path=path))
    con.print(_("Open it with [bold]jupyter lab {path}[/] (or VS Code), run the cells, and grade "
                "the stub cell until it passes.").format(path=path))
    return OK


def _yes(answer: str) -> bool:
    return answer.strip().lower() in ("y", "yes", "是", "好", "确定")


def _ask(prompt: str) -> str:
    """A line from standard input (a terminal or a pipe); EOF ends the session."""
    try:
        return input(prompt)
    except EOFError:
        raise KeyboardInterrupt from None


def _refuse_during_interview(space: ws.Workspace, what: str) -> None:
    from . import interview

    under_way = interview.active(space)
    if under_way:
        raise UsageError(_("{what} are not available during an interview ({id}, until {time} "
                           "UTC). Finish or stop it (Ctrl-C) first.").format(
                               what=what, id=under_way["exercise"], time=under_way["until"][11:16]))


def cmd_interview(args: argparse.Namespace) -> int:
    from . import interview

    space = _workspace(args)
    con = _console()
    if args.history:
        rows = interview.history(space)
        if args.json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
            return OK
        table = Table(title=_("Interviews"))
        for col in (_("started"), _("exercise"), _("framework"), _("result"), _("checks"),
                    _("oral")):
            table.add_column(col)
        for r in rows:
            result = (_("passed in {seconds:.0f} s").format(seconds=r["seconds_to_pass"])
                      if r["passed"] else _("not passed ({how})").format(how=r["ended"]))
            oral = ", ".join(_(drill.RATING_NAMES[o["rating"]]) for o in r["oral"]) or "-"
            table.add_row(r["started"][:16].replace("T", " "), r["exercise"], r["framework"], result,
                          str(r["checks_run"]), oral)
        con.print(table if rows else _("No interviews yet: resnet-kata interview"))
        return OK
    if args.exercise:
        ex = _resolve(args.exercise)
        fw = _framework(ex, args.framework, space)
    else:
        picked = interview.pick(space, args.framework)
        if picked is None:
            raise UsageError(_("every exercise is passed; name one: resnet-kata interview 04"))
        ex, fw = picked
    _require_framework(fw)
    minutes = args.minutes if args.minutes is not None else interview.MINUTES[ex.difficulty]
    if minutes <= 0:
        raise UsageError(_("--minutes must be positive"))
    interactive = sys.stdin.isatty() and con.is_terminal
    rep, path = interview.coding_round(space, ex, fw, minutes, con, interactive, poll=args.poll)
    if rep.ended != "interrupted":
        try:
            interview.oral_round(space, ex, rep, con, _ask)
        except KeyboardInterrupt:
            con.print(_("[dim]Oral round stopped.[/]"))
    js, md = interview.write_report(space, rep)
    con.print(_("Report: [bold]{path}[/] (and {name})").format(path=md, name=js.name))
    return OK if rep.passed else FAILED


def cmd_drill(args: argparse.Namespace) -> int:
    space = _workspace(args)
    con = _console()
    at = drill.now()
    if args.list:
        rows = [r for r in drill.listing(space, at)
                if not args.topic or args.topic in r["id"] or any(args.topic in e for e in r["exercises"])]
        if args.json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
            return OK
        table = Table(title=_("Drill cards ({reviewed} reviewed of {total})").format(
            reviewed=sum(r["reviewed"] for r in rows), total=len(rows)))
        table.add_column(_("due"), no_wrap=True)
        table.add_column(_("card"), overflow="fold")
        table.add_column(_("exercises"), overflow="fold")
        for r in sorted(rows, key=lambda r: (r["due"] is None, r["due"] or "")):
            table.add_row(drill.when(r["due"], at), r["question"], ", ".join(r["exercises"]))
        con.print(table)
        return OK
    items = drill.due(space, at, new=args.new, topic=args.topic)
    if args.json:
        print(json.dumps(drill.as_json(items), indent=2, ensure_ascii=False))
        return OK
    if not items:
        con.print(_("Nothing is due. `resnet-kata drill --list` shows when each card is."))
        return OK
    from . import cards

    docs = cards.answers_folder()
    done = 0
    try:
        for n, card in enumerate(items, 1):
            con.rule(_("card {k}/{n} · {topic}").format(
                k=n, n=len(items), topic=", ".join(card.exercises) or card.topic))
            con.print(f"[bold]{card.question}[/]" + (f"\n[dim]{card.source}[/]" if card.source else ""))
            _ask(_("Answer it (aloud, or type notes), then press Enter for the model answer: "))
            con.print(docsview.PageMarkdown(docsview.prepare(card.answer, docs)))
            rating = None
            while rating is None:
                rating = drill.parse_rating(
                    _ask(_("How did you do? 1 again · 2 hard · 3 good · 4 easy: ")))
            next_due = drill.review(space, card.id, rating, at=drill.now())
            con.print(_("[dim]Next time: {when}.[/]").format(
                when=drill.when(next_due.isoformat(), drill.now())))
            done += 1
    except KeyboardInterrupt:
        pass
    con.print(_("{n} card(s) reviewed; the schedule is saved.").format(n=done))
    return OK


def cmd_doctor(args: argparse.Namespace) -> int:
    con = _console()
    table = Table(title=_("resnet-kata doctor"), show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("Python", f"{sys.version.split()[0]} ({sys.executable})")
    try:
        root = catalog.kit_root()
        table.add_row(_("Kit"), _("{path} ({n} exercises)").format(path=root,
                                                                 n=len(catalog.exercises())))
    except CatalogError as exc:
        table.add_row(_("Kit"), f"[red]{escape(str(exc))}[/]")
    space = _workspace(args)
    table.add_row(_("Workspace"), str(space.root) if space.root.exists()
                  else _("{path} (not created yet)").format(path=space.root))
    table.add_row(_("State"), _("ok") if not space.warnings else _("[yellow]was corrupt, set aside[/]"))
    table.add_row(_("Language"), _("{name} (from {source}; --lang en|zh or ${env} to change)").format(
        name=i18n.NAMES[i18n.language()], source=_(LANG_SOURCE.get(args.lang_source, "default")),
        env=i18n.ENV))
    for fw in ("torch", "tf"):
        fi = frameworks.info(fw)
        value = (f"[green]{fi.version}[/]" if fi.installed
                 else _("[red]missing[/]: {command}").format(command=fi.install_command))
        table.add_row(fi.label, value)
    table.add_row("CUDA", _probe_cuda() if frameworks.is_installed("torch") else _("n/a (no torch)"))
    con.print(table)
    return OK


def _probe_cuda() -> str:
    code = "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60)
    except subprocess.TimeoutExpired:
        return _("probe timed out")
    if out.returncode != 0:
        return _("probe failed: {error}").format(error=out.stderr.strip()[-200:])
    return out.stdout.strip() or _("not available (checks run on the CPU)")


def cmd_dev_check(args: argparse.Namespace) -> int:
    items = devcheck.exercises_in(Path(d) for d in args.dirs)
    if not items:
        raise UsageError("no exercise folders (with a kata.toml) found there")
    con = _console()

    def show(f: devcheck.Finding) -> None:
        if args.json:
            return
        mark = "[green]ok[/]  " if f.ok else "[red]FAIL[/]"
        con.print(f"{mark} {f.exercise}")
        for line in f.problems:
            con.print(f"       [red]-[/] {escape(line)}")
        for line in f.notes:
            con.print(f"       [dim]{escape(line)}[/]")

    findings = devcheck.run(items, jobs=args.jobs or None, on_done=show)
    bad = [f for f in findings if not f.ok]
    if args.json:
        print(json.dumps([{"exercise": f.exercise, "ok": f.ok, "problems": f.problems,
                           "notes": f.notes} for f in findings], indent=2))
    else:
        con.print(f"{len(findings) - len(bad)}/{len(findings)} exercises sound"
                  + (f"; to fix: {', '.join(f.exercise for f in bad)}" if bad else ""))
    return FAILED if bad else OK


# -- parser ----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error printed as one line (and exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _err(_("{message} (see `{prog} --help`)").format(message=message, prog=self.prog))
        raise SystemExit(USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="resnet-kata",
        description=_("ResNet interview katas: implement, check, read the questions."),
    )
    parser.add_argument("--workspace", help=_("your exercise files and state (default "
                        "<kit>/workspace, or ${env})").format(env=ws.ENV))
    parser.add_argument("--exercises", action="append", default=[], metavar="DIR",
                        help=_("also use the exercise folders in DIR (a pack; repeatable; "
                               "or ${env}, {sep}-separated)").format(env=catalog.PATH_ENV,
                                                                    sep=os.pathsep))
    parser.add_argument("--lang", choices=i18n.LANGUAGES, help=_(LANG_HELP).format(env=i18n.ENV))
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help_: str, fn, exercise: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(fn=fn)
        p.add_argument("--lang", choices=i18n.LANGUAGES, default=argparse.SUPPRESS,
                       help=_(LANG_HELP).format(env=i18n.ENV))
        if exercise == "required":
            p.add_argument("exercise", help=_("id (NN_slug), number (NN) or slug"))
        elif exercise == "optional":
            p.add_argument("exercise", nargs="?", help=_("default: the current exercise"))
        return p

    p = verb("list", _("List the exercises with their status per framework."), cmd_list)
    p.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))

    p = verb("start", _("Copy an exercise's stub into your workspace and show its statement."),
             cmd_start, "required")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))

    for name, help_, fn in (
        ("check", _("Grade your file (or --impl PATH) for an exercise."), cmd_check),
        ("watch", _("Re-check the current exercise every time its file is saved."), cmd_watch),
    ):
        p = verb(name, help_, fn, "optional")
        p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
        p.add_argument("--impl", help=_("grade this file instead of your workspace file"))
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                       help=_("torch checks run on CUDA when available (auto)"))
        p.add_argument("--json", action="store_true", help=_("print the result record as JSON"))
        p.add_argument("--timeout", type=float, help=_("seconds (default: the exercise's budget)"))
        p.add_argument("--only", help=_("comma-separated check names to run"))
        if name == "watch":
            p.add_argument("--poll", action="store_true",
                           help=_("poll for changes (file systems without events: network, WSL mounts)"))
            p.add_argument("--interval", type=float, default=0.3, help=_("seconds between polls (--poll)"))
            p.add_argument("--once", action="store_true", help=_("stop after the first check"))

    verb("hint", _("Show the next of up to three progressive hints."), cmd_hint, "optional")

    p = verb("solution", _("Show the reference solution (after a pass, or with --give-up)."),
             cmd_solution, "required")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
    p.add_argument("--give-up", action="store_true", help=_("show it before passing"))
    p.add_argument("--yes", "-y", action="store_true", help=_("do not ask for confirmation"))

    p = verb("reset", _("Put the stub back; your file is kept as a backup."), cmd_reset, "required")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
    p.add_argument("--yes", "-y", action="store_true", help=_("do not ask for confirmation"))

    p = verb("progress", _("Your progress per framework."), cmd_progress)
    p.add_argument("--json", action="store_true")

    p = verb("interview", _("A timed coding round with no hints, then an oral round, and a report."),
             cmd_interview, "optional")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
    p.add_argument("--minutes", type=float, help=_("default by difficulty: easy 20, medium 30, hard 45"))
    p.add_argument("--history", action="store_true", help=_("list the interviews so far"))
    p.add_argument("--json", action="store_true", help=_("with --history: print JSON"))
    p.add_argument("--poll", action="store_true", help=_("poll for saves (file systems without events)"))

    p = verb("drill", _("Flashcards of the interview questions, scheduled by spaced repetition "
                        "(FSRS)."),
             cmd_drill)
    p.add_argument("--new", type=int, default=10, help=_("new cards at most in this session (10)"))
    p.add_argument("--topic", help=_("only cards of this exercise or page (e.g. 03, batchnorm)"))
    p.add_argument("--list", action="store_true", help=_("every card and when it is due"))
    p.add_argument("--json", action="store_true", help=_("print JSON and ask nothing"))

    p = verb("notebook", _("Write the exercise as a Jupyter notebook (graded with %%%%kata)."),
             cmd_notebook, "required")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))

    p = verb("docs", _("List the docs pages, or render one (exercise id or topic)."), cmd_docs)
    p.add_argument("name", nargs="?")
    p.add_argument("--no-pager", action="store_true", help=_("print the whole page, never page it"))

    verb("doctor", _("Python, frameworks, CUDA, language and workspace: what the kit sees."),
         cmd_doctor)

    dev = sub.add_parser("dev", help=_("For maintainers and pack authors."),
                         description="For maintainers and pack authors.")
    dev_sub = dev.add_subparsers(dest="dev_verb", metavar="DEV_VERB")
    p = dev_sub.add_parser(
        "check", help=_("Check exercises: manifests, declared files, failing stubs, passing solutions."),
        description="Every manifest valid, every file of a folder declared, every untouched stub "
        "failing with messages, every solution passing. Exit 0 when all are sound, else 1.")
    p.set_defaults(fn=cmd_dev_check)
    p.add_argument("dirs", nargs="*", metavar="DIR",
                   help=_("a pack or one exercise folder (default: the whole catalogue)"))
    p.add_argument("--jobs", "-j", type=int, default=0, help=_("gradings at once (default: the CPUs)"))
    p.add_argument("--json", action="store_true", help=_("print the findings as JSON"))
    dev.set_defaults(fn=lambda args: (dev.print_help(), USAGE)[1])
    return parser


LANG_HELP = i18n.N_("the language to speak: en or zh (default: ${env}, else the locale)")
# Where the language in use came from (shown by doctor).
LANG_SOURCE = {"flag": i18n.N_("--lang"), "env": i18n.N_("$RESNET_KATA_LANG"),
               "locale": i18n.N_("the locale"), "default": i18n.N_("default")}


def _language(argv: list[str]) -> tuple[str, str]:
    """The language asked for (by --lang anywhere on the line, the variable, the locale) and
    where from; read before the parser is built, so that its help speaks it too."""
    flag = None
    for i, word in enumerate(argv):
        if word == "--":
            break
        if word == "--lang" and i + 1 < len(argv):
            flag = argv[i + 1]
        elif word.startswith("--lang="):
            flag = word.split("=", 1)[1]
    if flag:
        return i18n.detect(flag), "flag"
    if os.environ.get(i18n.ENV):
        return i18n.detect(), "env"
    lang = i18n.detect()
    return lang, "locale" if lang != "en" or any(os.environ.get(v) for v in
                                                 ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")) else "default"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        lang, source = _language(argv)
    except i18n.LanguageError as exc:
        _err(str(exc))
        return USAGE
    i18n.set_language(lang)  # the job of a check carries it to the worker
    parser = build_parser()
    args = parser.parse_args(argv)
    args.lang_source = source
    if not getattr(args, "fn", None):
        parser.print_help()
        return USAGE
    try:
        for folder in args.exercises:
            catalog.add_path(folder)
        return args.fn(args)
    except UsageError as exc:
        _err(str(exc))
        return USAGE
    except CatalogError as exc:
        _err(_("an exercise folder is broken: {error}").format(error=exc))
        return USAGE
    except ws.WorkspaceError as exc:
        _err(str(exc))
        return USAGE
    except KeyboardInterrupt:
        return FAILED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK


if __name__ == "__main__":
    sys.exit(main())
