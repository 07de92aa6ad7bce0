"""Grade one learner file: import it, run the exercise's checks, emit events.

Runs in its own process (`python -m resnet_kata.worker`, spawned by the runner),
or in-process through `grade()` for tests. Whatever the learner's code does,
raise, exit or print, this module turns it into check results; only a crash
of the process itself escapes it, and the runner reports that.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import importlib.util
import json
import math
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

from . import catalog, frameworks, i18n
from .checks import Check, CheckFailed, Context
from .checks.calls import EXERCISE_PACKAGE_PREFIX, describe_exception, exception_text, learner_frames
from .i18n import _, tidy
from .record import (
    ERROR,
    EVENTS_FLAG,
    FAIL,
    JOB_FLAG,
    PASS,
    SKIP,
    CheckResult,
    ErrorKind,
    Event,
    Record,
    encode_event,
)

Emit = Callable[[dict[str, Any]], None]
SEED = 0


def describe_syntax_error(exc: SyntaxError) -> str:
    if exc.lineno is None and "null bytes" in str(exc.msg):
        return _("Your file is not Python source: it contains NUL bytes (a binary file?).")
    where = f"{Path(exc.filename or '?').name}, line {exc.lineno}"
    text = (exc.text or "").rstrip("\n")
    caret = ""
    if text and exc.offset:
        stripped = text.lstrip()
        caret = "\n    " + " " * max(0, exc.offset - 1 - (len(text) - len(stripped))) + "^"
        text = stripped
    body = f"\n    {text}{caret}" if text else ""
    return f"SyntaxError: {exc.msg} ({where}){body}"


def load_learner(impl: Path) -> ModuleType:
    name = f"kata_learner_{abs(hash(str(impl.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, impl)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {impl}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if str(impl.parent) not in sys.path:
        sys.path.insert(0, str(impl.parent))  # the learner may import a helper beside it
    spec.loader.exec_module(module)
    return module


def exercise_package(ex: catalog.Exercise) -> str:
    """Make the exercise's folder importable as a package; return its name.

    The folder's modules (`checks.py` and its siblings) import each other with
    relative imports (`from .references import ...`). The package name is made
    from the id, so it never collides with the learner's module or a stub.
    """
    name = EXERCISE_PACKAGE_PREFIX + re.sub(r"\W", "_", ex.id)
    if name not in sys.modules:
        package = ModuleType(name, f"The checks of {ex.id}.")
        package.__path__ = [str(ex.dir)]
        package.__package__ = name
        package.__file__ = None
        sys.modules[name] = package
    return name


def load_checks(ex: catalog.Exercise) -> ModuleType:
    return importlib.import_module(exercise_package(ex) + ".checks")


def _run_one(check: Check, ctx: Context, impl: Path) -> CheckResult:
    ctx.details = {}
    start = time.perf_counter()
    status, message = PASS, ""
    try:
        ctx.A.reset(SEED) if ctx.A is not None else None
        message = check.run(ctx) or ""
    except CheckFailed as exc:
        status, message = FAIL, exc.message
        ctx.details.update(exc.details)
    except SystemExit as exc:
        status = ERROR
        message = (_(
            "Your code called sys.exit({code}) during this check. A graded function or layer "
            "must return, never exit.").format(code=repr(exc.code))
            + "\n" + learner_frames(exc, impl)).rstrip()
    except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything
        frames = learner_frames(exc, impl)
        status = ERROR
        if isinstance(exc, NotImplementedError) and frames and _raised_by(exc, impl):
            message = _(
                "Not implemented yet: {what} still raises NotImplementedError. Replace the TODO "
                "with your code.").format(what=exception_text(exc) or _("a TODO")) + "\n" + frames
        elif frames:
            message = _("Your code raised {error}").format(error=describe_exception(exc, impl))
            if getattr(exc, "kata_while_building", False):
                message = _(
                    "Keras creates a layer's weights on its first call, so this check calls "
                    "your layer once on zeros, and that call failed.") + " " + message
        else:  # raised in the grader's or the framework's code: no frame of theirs is shown
            message = _(
                "This check could not run on your object: {error}{at}. It usually means a layer "
                "or attribute does not behave as the statement says."
            ).format(error=f"{type(exc).__name__}: {exception_text(exc)}", at="")
    details = _jsonable(ctx.details)
    curve = details.pop("loss_curve", None) or []
    # a training check's accuracy goes with its curve; other checks keep theirs in details
    accuracy = details.pop("accuracy", None) if curve else None
    return CheckResult(
        check.name, check.title, status, tidy(message), round(time.perf_counter() - start, 3),
        details, loss_curve=[float(v) for v in curve if _finite(v)],
        accuracy=float(accuracy) if accuracy is not None else None,
    )


def _raised_by(exc: BaseException, impl: Path) -> bool:
    """Whether the learner's file raised `exc` itself (a stub's `raise NotImplementedError`),
    not a library it called (torch raises NotImplementedError for an operation a dtype lacks)."""
    last = traceback.extract_tb(exc.__traceback__)[-1:]
    return (bool(last) and Path(last[0].filename).resolve() == impl.resolve()
            and (last[0].line or "").lstrip().startswith("raise"))


def _finite(value: Any) -> bool:
    """A number the report can draw (a curve marks a blow-up with None or inf)."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


def _flush_output() -> None:
    """Write out what the learner printed (their streams, or ones they put in their place)."""
    for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
                   if s is not None}.values():
        with contextlib.suppress(Exception):
            stream.flush()


def grade(
    exercise: str | catalog.Exercise,
    framework: str,
    impl: str | Path,
    device: str = "auto",
    only: list[str] | None = None,
    emit: Emit | None = None,
    elsewhere: list[str] | None = None,
) -> Record:
    """Grade `impl` against `exercise` in this process and return the record.

    The checks in `elsewhere` are graded by another worker at the same time: where one of
    them would run, an `aside` event holds its place (a skip stays a skip here).
    """
    emit = emit or (lambda event: None)
    started = time.perf_counter()
    ex = exercise if isinstance(exercise, catalog.Exercise) else catalog.resolve(exercise)
    impl = Path(impl).resolve()
    record = Record(ex.id, framework, impl=str(impl), doc=ex.doc, followups=list(ex.followups))

    def finish() -> Record:
        record.loaded = [m for m in ("torch", "tensorflow", "keras") if m in sys.modules]
        record.finish(seconds=time.perf_counter() - started)
        _flush_output()  # the runner ends this process as soon as the record is in
        emit({"event": Event.RECORD, "record": record.to_dict()})
        return record

    if framework not in ex.frameworks:
        record.error_kind = ErrorKind.INTERNAL
        record.message = _("{id} has no {framework} version (it has: {names}).").format(
            id=ex.id, framework=framework, names=", ".join(ex.frameworks))
        return finish()
    if framework != "numpy" and not frameworks.is_installed(framework):
        record.error_kind = ErrorKind.MISSING_FRAMEWORK
        record.message = _("{framework} is not installed. Install it with:\n  {command}").format(
            framework=frameworks.LABELS[framework], command=frameworks.install_command(framework))
        return finish()
    try:  # a syntax error is reported before paying for the framework's import
        compile(impl.read_bytes(), str(impl), "exec")
    except SyntaxError as exc:
        record.error_kind = ErrorKind.SYNTAX
        record.message = _("Your file does not parse.") + "\n" + describe_syntax_error(exc)
        return finish()
    except (OSError, ValueError) as exc:
        record.error_kind = ErrorKind.IMPORT
        record.message = _("Your file could not be read: {error}").format(error=exc)
        return finish()
    adapter = None
    if framework != "numpy":
        from .adapters import DeviceUnavailable, get_adapter

        try:
            adapter = get_adapter(framework, device)
        except DeviceUnavailable as exc:
            record.error_kind = ErrorKind.DEVICE
            record.message = str(exc)
            return finish()
        record.device = adapter.device_name
        adapter.reset(SEED)
        if framework == "torch":
            from .adapters import lazy_dynamo

            lazy_dynamo.install()  # torch.optim without the 1.5 s import of torch._dynamo
    emit({"event": Event.BEGIN, "exercise": ex.id, "framework": framework, "device": record.device})
    try:
        module = load_learner(impl)
    except SyntaxError as exc:
        record.error_kind = ErrorKind.SYNTAX
        record.message = _("Your file does not parse.") + "\n" + describe_syntax_error(exc)
        return finish()
    except SystemExit as exc:
        record.error_kind = ErrorKind.EXIT
        record.message = _(
            "Your file called sys.exit({code}) while being imported; keep top-level code to "
            "definitions (put experiments under `if __name__ == \"__main__\":`)."
        ).format(code=repr(exc.code))
        return finish()
    except BaseException as exc:  # noqa: BLE001
        record.error_kind = ErrorKind.IMPORT
        record.message = _("Importing your file raised {error}").format(
            error=describe_exception(exc, impl))
        return finish()

    checks = load_checks(ex).checks(framework)
    aside = set(elsewhere or ())
    _can_go_aside(checks, aside)
    ctx = Context(framework, adapter, module, ex.id)
    outcome: dict[str, str] = {}
    gate_failed = ""
    for check in checks:
        if only and check.name not in only:
            continue
        blocked = [n for n in check.needs if outcome.get(n, PASS) != PASS]
        if gate_failed or blocked:
            why = gate_failed or blocked[0]
            result = CheckResult(check.name, check.title, SKIP,
                                 _("Skipped: `{check}` must pass first.").format(check=why))
        elif check.name in aside:
            emit({"event": Event.ASIDE, "check": check.name, "title": check.title})
            continue
        else:
            emit({"event": Event.START, "check": check.name, "title": check.title})
            ctx.progress = _progress(emit, check.name)
            result = _run_one(check, ctx, impl)
        outcome[check.name] = result.status
        if check.gate and result.status != PASS:
            gate_failed = check.name
        record.checks.append(result)
        emit({"event": Event.CHECK, "result": asdict(result)})
    return finish()


def _can_go_aside(checks: list[Check], aside: set[str]) -> None:
    """A check graded elsewhere decides nothing here: no gate, and none of the others needs it."""
    unknown = aside - {c.name for c in checks}
    deciding = [c.name for c in checks if c.name in aside and (
        c.gate or any(c.name in d.needs for d in checks if d.name not in aside))]
    if unknown or deciding:
        raise RuntimeError(f"[beside] of the manifest: {sorted(unknown)} are no checks of the "
                           f"battery; {deciding} are gates or needed by another check")


def _progress(emit: Emit, name: str) -> Callable[..., None]:
    last = [0.0]

    def progress(step: int, total: int, **info: Any) -> None:
        now = time.perf_counter()
        if step < total and now - last[0] < 0.1:
            return
        last[0] = now
        emit({"event": Event.PROGRESS, "check": name, "step": step, "total": total, **info})

    return progress


def preload(framework: str) -> None:
    """What a spare imports before its job: the framework's adapter (and so the framework),
    numpy and the battery; and the blocks' training data, generated."""
    import resnet_kata.checks.blocks  # the battery: spec, training, data
    import resnet_kata.checks.calls  # noqa: F401
    import resnet_kata.checks.mistakes  # noqa: F401

    resnet_kata.checks.blocks.prefetch()

    if framework in ("torch", "tf") and frameworks.is_installed(framework):
        from .adapters import ADAPTER_MODULES

        adapter = importlib.import_module(ADAPTER_MODULES[framework])
        if hasattr(adapter, "warm_up"):
            adapter.warm_up()


def read_job(fd: int) -> dict[str, Any]:
    """The one job, as a JSON line from the runner (the spare blocks here until a save)."""
    with os.fdopen(fd, "rb") as pipe:
        return json.loads(pipe.readline() or b"{}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resnet_kata.worker")
    parser.add_argument("--framework", required=True)
    parser.add_argument(EVENTS_FLAG, type=int, required=True, help="fd of the event pipe")
    parser.add_argument(JOB_FLAG, type=int, required=True, help="fd to read the job from")
    parser.add_argument("--spare", action="store_true", help="import the framework, then wait")
    args = parser.parse_args(argv)
    faulthandler.enable(all_threads=False)
    os.set_inheritable(args.events, False)  # a process the learner's code starts gets no copy
    out = os.fdopen(args.events, "w", buffering=1, encoding="utf-8")
    del sys.argv[1:]
    if args.spare:
        preload(args.framework)
    job = read_job(args.job_from)
    if not job:
        return 0  # the runner closed the pipe: this spare is not needed
    token = str(job.pop("token", ""))  # lives only in `emit`'s closure

    def emit(event: dict[str, Any]) -> None:
        out.write(encode_event(event, token))
        out.flush()

    try:
        i18n.set_language(str(job.get("lang") or "en"))
        impl = Path(job["impl"])
        os.chdir(impl.parent)
        exercise = catalog.load_folder(Path(job["exercise_dir"]))
        record = grade(exercise, job["framework"], impl, job.get("device", "auto"),
                       job.get("only") or None, emit, job.get("elsewhere") or None)
    except BaseException:  # noqa: BLE001 - a bug of the kit: say so, do not blame the learner
        emit({"event": Event.INTERNAL, "message": traceback.format_exc()})
        return 2
    return record.exit_code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave at once: a thread the learner's code started must not keep the process alive.
    os._exit(code)
