"""Commands about tasks: ``queue``, ``task``, ``log`` and ``cancel``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ironship.cli.options import NO_OPTIONS, FileOpt, JsonOpt, connected, with_connection
from ironship.cli.payload import read_payload_arg
from ironship.cli.ui import err, out, print_json
from ironship.errors import ApiError, IronshipError
from ironship.iron.client import Client, Task
from ironship.iron.target import ConnectOptions
from ironship.manifest.defaults import deep_merge
from ironship.manifest.load import load_manifest
from ironship.paths import DEFAULT_MANIFEST

FINAL = ("complete", "error", "cancelled", "timeout", "killed")


def _manifest_context(file: Path, worker: str | None = None) -> tuple[Path, Any, list[str] | None]:
    """The manifest's folder (else the cwd), the worker's default payload and the worker names.

    Task commands work without a manifest too (names is then None).
    """
    if not file.exists():
        return Path.cwd(), None, None
    manifest = load_manifest(file)
    w = manifest.worker(worker) if worker else None
    return manifest.directory, (w.payload if w else None), [x.name for x in manifest.workers]


def _status_line(t: Task) -> str:
    return f"task {t.id}: {t.status}" + (f" ({t.msg})" if t.msg else "")


@contextmanager
def _task_client(file: Path, conn: ConnectOptions, task_id: str) -> Iterator[Client]:
    """The client of the engine or project that holds ``task_id``; a 404 gets a hint.

    Never starts an engine on a folder that has none (it could not hold the task).
    """
    base = _manifest_context(file)[0]
    with connected(base, conn, quiet=True, create_engine=False) as tgt:
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


def _task_doc(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "code_name": t.code_name,
        "code_rev": t.code_rev,
        "status": t.status,
        "msg": t.msg,
        "created_at": t.created_at,
        "start_time": t.start_time,
        "end_time": t.end_time,
        "duration": t.duration,
    }


def wait_task(
    client: Client, task_id: str, *, poll: float = 0.3, timeout: float | None = None
) -> Task:
    start = time.monotonic()
    while True:
        task = client.get_task(task_id)
        if task.status in FINAL:
            return task
        if timeout is not None and time.monotonic() - start > timeout:
            return task
        time.sleep(poll)


def _print_log(client: Client, task_id: str) -> None:
    text = client.get_log(task_id)
    if text:
        out.print(text, markup=False, end="" if text.endswith("\n") else "\n")


@with_connection
def queue(
    worker: Annotated[str, typer.Argument(help="The worker (code package name).")],
    payload: Annotated[
        str | None,
        typer.Option("--payload", help="JSON merged over the default payload, or @FILE."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait, then print the log.")] = False,
    priority: Annotated[int | None, typer.Option("--priority", min=0, max=2)] = None,
    delay: Annotated[int | None, typer.Option("--delay", min=0, help="Seconds.")] = None,
    timeout: Annotated[int | None, typer.Option("--timeout", min=1, max=3600)] = None,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Queue a task for a worker with its default payload merged with --payload.

    Prints the task id; with --wait, waits and prints the log (the id then goes to stderr).
    """
    base, default, names = _manifest_context(file, worker)
    given = read_payload_arg(payload) if payload is not None else None
    body = deep_merge(default, given) if given is not None else default
    options = {
        k: v
        for k, v in (("priority", priority), ("delay", delay), ("timeout", timeout))
        if v is not None
    }
    with connected(base, conn, quiet=as_json) as tgt:
        try:
            task_id = tgt.client.queue_task(
                worker, json.dumps(body if body is not None else {}), **options
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
            if names is not None and worker not in names:
                hint = f"workers in {file}: {', '.join(names) or 'none'}"
            else:
                hint = "deploy it first: ironship apply"
            raise IronshipError(f"cannot queue {worker!r}: {exc.msg}", hint) from None
        if not wait:
            if as_json:
                print_json({"format_version": "1", "id": task_id})
            else:
                out.print(task_id, markup=False)
            if tgt.in_process:
                # Stopping the engine now would leave the task for the next start.
                err.print(
                    "the local engine runs inside this command, so it waits for the task "
                    "(start `ironship server` to keep an engine running in the background)"
                )
                done = wait_task(tgt.client, task_id)
                err.print(_status_line(done))
            return
        if not as_json:
            err.print(f"queued task {task_id}")
        task = wait_task(tgt.client, task_id)
        if as_json:
            doc = _task_doc(task)
            doc["log"] = tgt.client.get_log(task_id)
            print_json({"format_version": "1", **doc})
        else:
            err.print(_status_line(task))
            _print_log(tgt.client, task_id)
    if task.status != "complete":
        raise typer.Exit(1)


@with_connection
def task(
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    as_json: JsonOpt = False,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Show one task."""
    with _task_client(file, conn, task_id) as client:
        t = client.get_task(task_id)
    doc = _task_doc(t)
    if as_json:
        print_json({"format_version": "1", **doc})
        return
    for key, value in doc.items():
        if value is not None:
            out.print(f"{key:>11}: {value}", markup=False)


@with_connection
def log(
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing until done.")] = False,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Print a task's log (stdout and stderr)."""
    with _task_client(file, conn, task_id) as client:
        client.get_task(task_id)  # a clear 404 for an unknown id, not "no log yet"
        if not follow:
            text = client.get_log(task_id)
            if text is None:
                raise IronshipError(
                    f"task {task_id} has no log yet",
                    hint="it may still be queued; use --follow",
                )
            out.print(text, markup=False, end="")
            return
        _follow(client, task_id)


@with_connection
def cancel(
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Cancel a queued or running task."""
    with _task_client(file, conn, task_id) as client:
        client.cancel_task(task_id)
    out.print(f"cancelled {task_id}", markup=False)


def _follow(client: Client, task_id: str) -> None:
    shown = 0
    while True:
        t = client.get_task(task_id)
        text = client.get_log(task_id) or ""
        if len(text) > shown:
            out.print(text[shown:], markup=False, end="")
            shown = len(text)
        if t.status in FINAL:
            # one last read: output written just before the end
            text = client.get_log(task_id) or ""
            if len(text) > shown:
                out.print(text[shown:], markup=False, end="")
            err.print(_status_line(t))
            return
        time.sleep(0.5)
