"""Commands about tasks: ``queue``, ``task``, ``log`` and ``cancel``."""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ironship import FORMAT_VERSION, exitcodes
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    complete_worker,
    connected,
    manifest_of,
    with_connection,
)
from ironship.cli.payload import payload_text, read_payload_arg
from ironship.cli.ui import err, out, print_json
from ironship.deploy.history import GitCommits, Ran, task_revision
from ironship.errors import ApiError, IronshipError
from ironship.iron.client import Client
from ironship.iron.target import ConnectOptions
from ironship.iron.types import Task
from ironship.iron.wait import Clock, wait_for_task
from ironship.manifest.defaults import deep_merge
from ironship.manifest.models import Manifest
from ironship.paths import DEFAULT_MANIFEST
from ironship.secrets import filter_sensitive

# How long waiting for a task may take when --wait-timeout is not given: its delay, plus its
# own timeout (the longest IronWorker lets it run; 3600 s when the server does not say), plus
# a margin for queueing and start-up. After that ironship says the task is still running.
MAX_TASK_TIMEOUT = 3600
WAIT_MARGIN = 60.0
FOLLOW_POLL = 0.5  # seconds between two reads of a followed log

WaitTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--wait-timeout",
        metavar="SECONDS",
        min=0,
        help="Wait at most this long for the task to finish (default: its delay and timeout "
        "plus 60 s).",
    ),
]


def _manifest(file: Path, conn: ConnectOptions) -> Manifest | None:
    """The manifest as --env resolves it; None without one (task commands work without)."""
    return manifest_of(file, conn) if file.exists() else None


def _where(manifest: Manifest | None) -> Manifest | Path:
    """What to connect with: the manifest (its engine, its environment), else the cwd."""
    return manifest if manifest is not None else Path.cwd()


def _folder(manifest: Manifest | None) -> Path:
    return manifest.directory if manifest is not None else Path.cwd()


def _status_line(t: Task) -> str:
    return f"task {t.id}: {t.status}" + (f" ({t.msg})" if t.msg else "")


@contextmanager
def _task_client(manifest: Manifest | None, conn: ConnectOptions, task_id: str) -> Iterator[Client]:
    """The client of the engine or project that holds ``task_id``; a 404 gets a hint.

    Never starts an engine on a folder that has none (it could not hold the task).
    """
    with connected(_where(manifest), conn, quiet=True, create_engine=False) as tgt:
        try:
            yield tgt.client
        except ApiError as exc:
            if exc.status != 404:
                raise
            raise IronshipError(
                f"task {task_id}: {exc.msg}",
                hint="a task id belongs to one engine and project: check -f/--data (local "
                "engine) or the credentials (--target iron)",
            ) from None


def _ran(client: Client, task: Task, folder: Path) -> Ran | None:
    """Which revision and commit ran ``task`` (git asked in ``folder``); None when the task
    or the server cannot say."""
    try:
        return task_revision(client, task, GitCommits(folder))
    except IronshipError as exc:
        err.print(f"warning: cannot tell which revision ran the task: {exc}", markup=False)
        return None


def _ran_json(ran: Ran | None) -> dict[str, Any] | None:
    if ran is None:
        return None
    return {
        "rev": ran.rev,
        "git_sha": ran.stamps.git_sha,
        "git_dirty": ran.stamps.git_dirty,
        "subject": ran.subject,
    }


def _number(text: str | None) -> int | None:
    """``code_rev`` is a string on the wire; ironship's own JSON gives numbers as numbers."""
    return int(text) if text is not None and text.isdigit() else None


def _task_doc(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "code_name": t.code_name,
        "code_rev": _number(t.code_rev),
        "status": t.status,
        "msg": t.msg,
        "created_at": t.created_at,
        "start_time": t.start_time,
        "end_time": t.end_time,
        "duration": t.duration,  # milliseconds, as the API gives it
        "payload": _shown_payload(t.payload),
    }


def _shown_payload(payload: str | None) -> Any:
    """The task's payload as ironship shows it: JSON decoded, sensitive keys [FILTERED]."""
    if payload is None:
        return None
    try:
        return filter_sensitive(json.loads(payload))
    except ValueError:
        return payload  # not JSON: a plain string the worker reads as it is


def _wait_bound(task: Task, wait_timeout: float | None) -> float:
    if wait_timeout is not None:
        return wait_timeout
    return (task.delay or 0) + (task.timeout or MAX_TASK_TIMEOUT) + WAIT_MARGIN


def _still_running(task: Task, waited: float, in_process: bool) -> IronshipError:
    hint = f"ironship task {task.id} shows it later; --wait-timeout SECONDS waits longer"
    if in_process:
        hint += "; start `ironship server` to keep an engine running in the background"
    return IronshipError(
        f"task {task.id} is still {task.status or 'unfinished'} after {waited:g} s", hint
    )


def _wait(client: Client, task_id: str, wait_timeout: float | None, in_process: bool) -> Task:
    """Wait for the task, at most the bound; a task still running then is an error."""
    bound = _wait_bound(client.get_task(task_id), wait_timeout)
    task = wait_for_task(client, task_id, timeout=bound)
    if not task.finished:
        raise _still_running(task, bound, in_process)
    return task


def _print_log(client: Client, task_id: str) -> None:
    text = client.get_log(task_id)
    if text:
        out.print(text, markup=False, end="" if text.endswith("\n") else "\n")


def _queue_one(client: Client, worker: str, body: str, options: dict[str, int], hint: str) -> str:
    try:
        return client.queue_task(worker, body, **options)
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise IronshipError(f"cannot queue {worker!r}: {exc.msg}", hint) from None


@with_connection
def queue(
    worker: Annotated[
        str,
        typer.Argument(help="The worker (code package name).", autocompletion=complete_worker),
    ],
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload",
            metavar="JSON|@FILE",
            help="JSON merged over the default payload, or @FILE (at most 64 KB in all).",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait, then print the log.")] = False,
    wait_timeout: WaitTimeoutOpt = None,
    priority: Annotated[
        int | None,
        typer.Option(
            "--priority",
            metavar="0|1|2",
            min=0,
            max=2,
            help="Task priority; 2 runs first. Default: the worker's priority.",
        ),
    ] = None,
    delay: Annotated[
        int | None,
        typer.Option("--delay", metavar="SECONDS", min=0, help="Start no sooner than this."),
    ] = None,
    timeout: Annotated[
        int | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=1,
            max=3600,
            help="Stop the task after this long. Default: the worker's timeout.",
        ),
    ] = None,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Queue a task for a worker with its default payload merged with --payload.

    Prints the task id; with --wait, waits and prints the log (the id then goes to stderr).
    """
    manifest = _manifest(file, conn)
    w = manifest.worker(worker) if manifest is not None else None
    default = w.payload if w is not None else None
    names = [x.name for x in manifest.workers] if manifest is not None else None
    given = read_payload_arg(payload) if payload is not None else None
    body = payload_text(
        deep_merge(default, given) if given is not None else default, given=given is not None
    )
    options = {
        k: v
        for k, v in (("priority", priority), ("delay", delay), ("timeout", timeout))
        if v is not None
    }
    if names is not None and worker not in names:
        hint = f"workers in {file}: {', '.join(names) or 'none'}"
    else:
        hint = "deploy it first: ironship apply"
    with connected(_where(manifest), conn, quiet=as_json) as tgt:
        task_id = _queue_one(tgt.client, worker, body, options, hint)
        if not wait:
            _print_id(task_id, as_json)
            if tgt.in_process:
                # Stopping the engine now would leave the task for the next start.
                err.print(
                    "the local engine runs inside this command, so it waits for the task "
                    "(start `ironship server` to keep an engine running in the background)"
                )
                err.print(_status_line(_wait(tgt.client, task_id, wait_timeout, True)))
            return
        if not as_json:
            err.print(f"queued task {task_id}")
        task = _wait(tgt.client, task_id, wait_timeout, tgt.in_process)
        if as_json:
            doc = _task_doc(task)
            doc["log"] = tgt.client.get_log(task_id)
            print_json({"format_version": FORMAT_VERSION, **doc})
        else:
            err.print(_status_line(task))
            _print_log(tgt.client, task_id)
    if task.status != "complete":
        raise typer.Exit(exitcodes.ERROR)


def _print_id(task_id: str, as_json: bool) -> None:
    if as_json:
        print_json({"format_version": FORMAT_VERSION, "id": task_id})
    else:
        out.print(task_id, markup=False)


@with_connection
def task(
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    as_json: JsonOpt = False,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Show one task, and which revision and commit ran it."""
    manifest = _manifest(file, conn)
    with _task_client(manifest, conn, task_id) as client:
        t = client.get_task(task_id)
        ran = _ran(client, t, _folder(manifest))
    doc = _task_doc(t)
    if as_json:
        print_json({"format_version": FORMAT_VERSION, **doc, "revision": _ran_json(ran)})
        return
    doc["duration"] = f"{t.duration} ms" if t.duration is not None else None
    if isinstance(doc["payload"], (dict, list)):
        doc["payload"] = json.dumps(doc["payload"], ensure_ascii=False)
    for key, value in doc.items():
        if value is not None:
            out.print(f"{key:>11}: {value}", markup=False)
    if ran is not None:
        out.print(ran.line, markup=False)


@with_connection
def log(
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing until done.")] = False,
    wait_timeout: WaitTimeoutOpt = None,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Print a task's log (stdout and stderr); which revision ran it goes to stderr first."""
    manifest = _manifest(file, conn)
    with _task_client(manifest, conn, task_id) as client:
        first = client.get_task(task_id)  # a clear 404 for an unknown id, not "no log yet"
        ran = _ran(client, first, _folder(manifest))
        if ran is not None:
            err.print(ran.line, markup=False)
        writer = LogWriter()
        if not follow:
            if client.stream_log(task_id, writer.write) is None:
                raise IronshipError(
                    f"task {task_id} has no log yet",
                    hint="it may still be queued; use --follow",
                )
            writer.close()
            return
        _follow(client, first, _wait_bound(first, wait_timeout), writer)


@with_connection
def cancel(
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Cancel a queued or running task."""
    with _task_client(_manifest(file, conn), conn, task_id) as client:
        try:
            client.cancel_task(task_id)
        except ApiError as exc:
            if exc.status != 400:
                raise
            # The API answers 400 for a task that has already ended: say which way it ended.
            t = client.get_task(task_id)
            if not t.finished:
                raise
            raise IronshipError(
                f"task {task_id} already finished ({t.status})",
                hint=f"nothing to cancel; ironship log {task_id} shows what it printed",
            ) from None
    out.print(f"cancelled {task_id}", markup=False)


class LogWriter:
    """Log bytes to stdout as they arrive, decoded as UTF-8 across chunk boundaries."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, chunk: bytes) -> None:
        self._emit(self._decoder.decode(chunk))

    def close(self) -> None:
        self._emit(self._decoder.decode(b"", final=True))

    def _emit(self, text: str) -> None:
        if text:
            out.file.write(text)
            out.file.flush()


def _follow(
    client: Client, task: Task, bound: float, writer: LogWriter, clock: Clock = time.monotonic
) -> None:
    """Print the log as it grows until the task finishes, for at most ``bound`` seconds; each
    read asks only for the bytes not shown yet (``Client.stream_log``)."""
    shown = 0
    deadline = clock() + bound
    while True:
        remaining = deadline - clock()
        step = max(0.0, min(FOLLOW_POLL, remaining))
        task = wait_for_task(client, task.id, timeout=step, clock=clock)
        # Read the log after the status: output written just before the end is included.
        shown = client.stream_log(task.id, writer.write, offset=shown) or shown
        if task.finished:
            writer.close()
            err.print(_status_line(task))
            return
        if remaining <= 0:
            writer.close()
            raise _still_running(task, bound, False)
