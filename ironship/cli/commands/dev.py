"""``ironship dev``: watch the project, and deploy and smoke-test each saved change.

The loop and the rounds are the core's (``deploy/devwatch.py``, ``deploy/devloop.py``); this
command picks the target (the local engine unless ``--target iron --yes``), keeps it open for
the whole session (one in-process engine, started once), runs each round in a thread of its
own so Ctrl-C is answered at once, and prints one status block per round.

Ctrl-C (or SIGTERM) stops the session: an upload under way is finished first, a round that
is planning or running its smoke tests is given up, then the engine stops and the command
exits 0. A second Ctrl-C gives up at once (exit 130).
"""

from __future__ import annotations

import functools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from ironship import paths
from ironship.cli.commands.deploy import OnlyOpt
from ironship.cli.commands.deploy_view import announce_install
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    ParallelOpt,
    connected,
    manifest_of,
    with_connection,
)
from ironship.cli.ui import err, out
from ironship.deploy.devloop import DevSession, RoundReport
from ironship.deploy.devwatch import Debounce, WatchScope, changes
from ironship.deploy.models import ApplyOutcome, WorkerPlan, WorkerResult
from ironship.deploy.pipeline import ApplyRequest, smoke_cases, stamp_source
from ironship.deploy.planner import select_workers
from ironship.errors import IronshipError
from ironship.iron.target import ConnectOptions
from ironship.paths import DEFAULT_MANIFEST
from ironship.smoke.report import Payloads, failure_details, payloads_of
from ironship.smoke.runner import SmokeResult

TRIGGERS_SHOWN = 3  # changed paths named in a block's first line; the rest are counted
FILES_SHOWN = 3  # changed files named per uploaded worker
DEFAULT_DEBOUNCE = Debounce()
JOIN_STEP = 0.05  # seconds between two looks at a running round and at Ctrl-C

YesOpt = Annotated[
    bool,
    typer.Option(
        "-y", "--yes", help="With --target iron: upload every saved change to IronWorker."
    ),
]
DebounceOpt = Annotated[
    int,
    typer.Option(
        "--debounce",
        metavar="MS",
        min=10,
        max=10_000,
        help="How long the files must stay quiet after a save before a round starts.",
    ),
]


@with_connection
def dev(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    only: OnlyOpt = None,
    yes: YesOpt = False,
    parallelism: ParallelOpt = 4,
    debounce: DebounceOpt = DEFAULT_DEBOUNCE.quiet_ms,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Watch the manifest and the workers' files; deploy and smoke-test each saved change.

    Runs against the local engine unless given --target iron --yes. Ctrl-C stops.
    """
    conn = _dev_target(conn, yes)
    manifest = manifest_of(file, conn)  # a broken manifest at the start is an error, as for apply
    select_workers(manifest, only or [])  # and so is an unknown --only name
    stop = threading.Event()
    with _stop_on_signals(stop), connected(manifest, conn) as tgt:
        session = DevSession(
            tgt.client,
            lambda: manifest_of(file, conn),
            ApplyRequest(
                only=tuple(only or ()),
                parallelism=parallelism,
                smoke="changed",
                check_runtimes=tgt.kind == "local",
            ),
            stamps=lambda m: stamp_source(m.path),
            secret_key=tgt.secret_key,
            stop=stop,
            on_install=announce_install,
        )
        session.manifest = manifest
        if _round(session, ("start",), stop):
            quiet = Debounce(quiet_ms=debounce, max_ms=max(debounce * 10, DEFAULT_DEBOUNCE.max_ms))
            scope = functools.partial(_scope, session, conn)
            ready = functools.partial(_announce_watching, scope)
            for batch in changes(scope, stop, quiet, on_ready=ready):
                if not _round(session, tuple(scope().shown(p) for p in batch), stop):
                    break
        err.print("stopping the engine" if tgt.in_process else "stopping")
    err.print("stopped")


def _dev_target(conn: ConnectOptions, yes: bool) -> ConnectOptions:
    """The local engine unless ``--target`` says otherwise; a hosted one only with ``--yes``."""
    if conn.target is None:
        return replace(conn, target="local")
    if conn.target == "iron" and not yes:
        raise IronshipError(
            "ironship dev --target iron uploads every saved change to IronWorker",
            hint="add --yes to do that on purpose, or leave out --target to use the local engine",
        )
    return conn


def _scope(session: DevSession, conn: ConnectOptions) -> WatchScope:
    """What to watch: the last manifest that loaded, its --only workers, never the engine's
    data folder (``--data`` may name one inside a worker's root)."""
    assert session.manifest is not None  # loaded before the first round
    data = conn.data_dir or paths.engine_dir(session.manifest.directory)
    return WatchScope.of(session.manifest, session.request.only, (data,))


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop``; a second Ctrl-C interrupts at once."""

    def handler(signum: int, _: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _round(session: DevSession, trigger: tuple[str, ...], stop: threading.Event) -> bool:
    """Run one round in its own thread and print its block; False once the session stops."""
    done: list[RoundReport] = []

    def work() -> None:
        try:
            done.append(session.run_round(trigger))
        except Exception as exc:  # our bug: shown in the block, and the session goes on
            problem = IronshipError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="please report it; save again to retry",
            )
            done.append(RoundReport(trigger, None, 0.0, error=problem))

    thread = threading.Thread(target=work, name="ironship-dev-round", daemon=True)
    thread.start()
    told = False
    while thread.is_alive():
        thread.join(JOIN_STEP)
        if stop.is_set() and thread.is_alive():
            if session.try_abandon():
                err.print("stopping: the current round is given up (nothing is half-uploaded)")
                return False
            if not told:
                err.print("stopping once the upload under way is done (Ctrl-C again: now)")
                told = True
    print_block(done[0], _payloads(session))
    return not stop.is_set()


def _payloads(session: DevSession) -> Payloads:
    return payloads_of(smoke_cases(session.manifest.workers)) if session.manifest else {}


def _announce_watching(where: Callable[[], WatchScope]) -> None:
    scope = where()
    workers = len(scope.roots)
    err.print(
        f"watching {scope.shown(scope.manifest)} and {workers} worker folder(s) "
        f"({len(scope.directories())} folders) for changes; Ctrl-C to stop",
        markup=False,
    )


def print_block(report: RoundReport, payloads: Payloads) -> None:
    """The status block of one round, on stdout: what changed, what was uploaded, the smoke
    results (failures in full), and how long it took."""
    lines = [f"[{time.strftime('%H:%M:%S')}] {_trigger_text(report.trigger)}"]
    if report.error is not None:
        message = report.error.message.replace("\n", "\n    ")
        lines.append(f"  error: {message}")
        if report.error.hint:
            lines.append(f"  hint: {report.error.hint}")
    elif report.outcome is not None:
        lines.extend(_outcome_lines(report.outcome, payloads))
    lines.append(f"  {_ending(report)}")
    out.print("\n".join(lines), markup=False)


def _trigger_text(trigger: tuple[str, ...]) -> str:
    if trigger == ("start",):
        return "start: deploying what differs from the target"
    shown = ", ".join(trigger[:TRIGGERS_SHOWN])
    more = len(trigger) - TRIGGERS_SHOWN
    return f"changed: {shown}" + (f" (+{more} more)" if more > 0 else "")


def _ending(report: RoundReport) -> str:
    took = f"{report.seconds:.2f}s"
    if report.error is not None:
        return f"failed after {took}; still watching: fix it and save"
    outcome = report.outcome
    if outcome is None:
        return f"stopped after {took}"
    split = ""
    if report.apply_seconds is not None and outcome.smoke is not None and outcome.smoke.results:
        smoke = report.seconds - report.apply_seconds
        split = f" (plan + upload {report.apply_seconds:.2f}s, smoke {smoke:.2f}s)"
    if outcome.exit_code:
        return f"failed in {took}{split} (exit code {outcome.exit_code}); still watching"
    return f"done in {took}{split}"


def _outcome_lines(outcome: ApplyOutcome, payloads: Payloads) -> list[str]:
    lines = [f"  warning: {w}" for w in outcome.plan.warnings]
    applied = outcome.applied
    plans = {wp.name: wp for wp in outcome.plan.workers}
    touched = [r for r in applied.results if r.outcome != "unchanged"] if applied else []
    if not touched:
        lines.append("  no changes: nothing uploaded")
    for r in touched:
        lines.append(f"  {r.name}: {_result_text(r, plans.get(r.name))}")
    if outcome.smoke_skipped:
        lines.append("  smoke: skipped, an upload failed")
    if outcome.smoke is not None and touched:
        lines.extend(_smoke_lines(outcome.smoke.results, payloads))
    return lines


def _result_text(r: WorkerResult, wp: WorkerPlan | None) -> str:
    if r.outcome not in ("created", "updated"):
        return f"{r.outcome}" + (f": {r.message}" if r.message else "")
    before = f"rev {r.previous_rev} → " if r.previous_rev is not None else ""
    return f"{r.outcome} {before}rev {r.rev} ({_what_changed(wp, r.code_uploaded)})"


def _what_changed(wp: WorkerPlan | None, code: bool) -> str:
    parts: list[str] = []
    files = wp.files if wp is not None else None
    if files is not None and files.known:
        names = [*files.changed, *(f"+{f}" for f in files.added), *(f"-{f}" for f in files.removed)]
        if names:
            more = len(names) - FILES_SHOWN
            parts.append(", ".join(names[:FILES_SHOWN]) + (f" +{more} more" if more > 0 else ""))
    if wp is not None and wp.settings:
        parts.append("settings: " + ", ".join(s.key for s in wp.settings))
    if not parts:
        parts.append("code" if code else "settings")
    return "; ".join(parts)


def _smoke_lines(results: tuple[SmokeResult, ...], payloads: Payloads) -> list[str]:
    if not results:
        return ["  smoke: no smoke tests declared for the changed workers"]
    lines = []
    for worker in dict.fromkeys(r.worker for r in results):
        own = [r for r in results if r.worker == worker]
        failed = [r.test for r in own if not r.passed]
        passed = len(own) - len(failed)
        text = f"{passed} passed" + (
            f", {len(failed)} FAILED: {', '.join(failed)}" if failed else ""
        )
        lines.append(f"  smoke {worker}: {text}")
    details = failure_details(results, payloads)
    if details:
        lines.extend(f"    {line}" if line else "" for line in details.splitlines())
    return lines
