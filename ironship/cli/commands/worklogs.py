"""A worker's recent tasks: ``ironship logs`` (their output) and ``ironship tasks`` (a list).

Both read the task list of the API v2 with its own filters (``code_name``, the status flags,
``from_time``, ``per_page``: docs/ironworker-api.md §3 (Tasks), "List filters"), so they work
the same against the local engine and the hosted service. Each task is named by the revision
that ran it and the commit that revision was uploaded from, as ``ironship task`` names it
(``deploy/history.py`` ``task_revision``). ``logs --follow`` keeps listing new tasks and reads
each running task's log from the byte it reached (``Client.stream_log``: ``Range`` on the
engine, the shown prefix skipped on the hosted API) until Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from ironship import FORMAT_VERSION
from ironship.cli.commands.tasks import (
    FOLLOW_POLL,
    LogWriter,
    _folder,
    _manifest,
    _ran_json,
    _task_doc,
    _where,
)
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    WorkerArg,
    connected,
    with_connection,
)
from ironship.cli.ui import err, out, print_json
from ironship.deploy.history import GitCommits, Ran, task_revision
from ironship.errors import ApiError, IronshipError
from ironship.iron.client import Client
from ironship.iron.target import ConnectOptions
from ironship.iron.types import FINISHED, NOT_STARTED, Code, Revision, Task
from ironship.iron.wait import Clock, Sleep
from ironship.manifest.models import Manifest
from ironship.manifest.scheduling import every_seconds
from ironship.paths import DEFAULT_MANIFEST

STATUSES = ("queued", "preparing", "running", *sorted(FINISHED))
MAX_LIMIT = 100  # one page of the API (docs/ironworker-api.md §1 (Transport), Pagination)
# --follow lists tasks created since it started, minus this margin: the server's clock may be
# behind ours. Tasks already seen are recognised by id.
CLOCK_MARGIN = 300

StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        metavar="STATUS",
        help=f"Only tasks with this status (repeatable): {', '.join(STATUSES)}.",
        autocompletion=lambda incomplete: [s for s in STATUSES if s.startswith(incomplete)],
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="DURATION",
        help="Only tasks created within this long: seconds, or a number with s, m, h or d "
        "(90s, 10m, 2h, 1d).",
    ),
]


def _limit_opt() -> Any:
    return typer.Option(
        "--limit",
        metavar="N",
        min=1,
        max=MAX_LIMIT,
        help="At most this many of the most recent tasks (at most 100).",
    )


def _statuses(given: Sequence[str] | None) -> tuple[str, ...]:
    unknown = [s for s in given or () if s not in STATUSES]
    if unknown:
        raise IronshipError(
            f"--status {unknown[0]}: not a task status",
            hint=f"use one of {', '.join(STATUSES)} (repeat --status for several)",
        )
    return tuple(dict.fromkeys(given or ()))


def since_seconds(text: str | None) -> int | None:
    """``--since 10m`` in seconds (None: not given); a clear error for anything else."""
    if text is None:
        return None
    value = text.strip()
    seconds = int(value) if value.isdigit() else every_seconds(value)
    if not seconds:
        raise IronshipError(
            f"--since {text}: not a duration",
            hint="give seconds, or a number with s, m, h or d: --since 90s, 10m, 2h, 1d",
        )
    return seconds


class _Revisions:
    """``list_revisions`` once per code (read again when a task names a newer revision)."""

    def __init__(self, client: Client, folder: Path) -> None:
        self._client = client
        self._commits = GitCommits(folder)
        self._by_code: dict[str, list[Revision]] = {}

    def list_codes(self) -> list[Code]:
        return self._client.list_codes()

    def get_code(self, code_id: str) -> Code:
        return self._client.get_code(code_id)

    def download_code(self, code_id: str, dest: Path, revision: int | None = None) -> Path:
        return self._client.download_code(code_id, dest, revision)

    def list_revisions(self, code_id: str) -> list[Revision]:
        if code_id not in self._by_code:
            self._by_code[code_id] = self._client.list_revisions(code_id)
        return self._by_code[code_id]

    def ran(self, task: Task) -> Ran | None:
        """Which revision and commit ran ``task``; None when it cannot be told."""
        try:
            found = task_revision(self, task, self._commits)
            if found is not None and not found.found and task.code_id:
                self._by_code.pop(task.code_id, None)  # uploaded since we read the list
                found = task_revision(self, task, self._commits)
            return found
        except IronshipError:
            return None


def _recent(
    client: Client, worker: str, statuses: Sequence[str], limit: int, since: int | None
) -> list[Task]:
    """The ``limit`` most recent tasks, oldest first; a 404 (no such code) is an empty list."""
    from_time = int(time.time()) - since if since is not None else None
    try:
        found = client.list_tasks(worker, statuses, per_page=limit, from_time=from_time)
    except ApiError as exc:
        if exc.status != 404:
            raise
        found = []
    newest_first = sorted(found, key=lambda t: t.created_at or "", reverse=True)[:limit]
    return list(reversed(newest_first))


def _revision_text(ran: Ran | None, task: Task) -> str:
    if ran is None:
        return f"rev {task.code_rev}" if task.code_rev else "-"
    return ran.line.removeprefix(f"ran {ran.worker} ")


def _header(task: Task, ran: Ran | None) -> str:
    """``==> task ID error · rev 3 = a1b2c3d 'Fix rounding' (clean) · CREATED <==``"""
    parts = [f"task {task.id}", task.status, _revision_text(ran, task)]
    if task.created_at:
        parts.append(task.created_at)
    return "==> " + " · ".join(parts) + " <=="


class _Output:
    """Task logs and headers on stdout; a header always starts a line."""

    def __init__(self) -> None:
        self._writers: dict[str, LogWriter] = {}
        self._at_line_start = True
        self.current: str | None = None  # the task whose output was printed last

    def header(self, task: Task, ran: Ran | None) -> None:
        if not self._at_line_start:
            self._put("\n")
        self._put(_header(task, ran) + "\n")
        self.current = task.id

    def writer(self, task_id: str) -> Callable[[bytes], None]:
        log = self._writers.setdefault(task_id, LogWriter())

        def write(chunk: bytes) -> None:
            if chunk:
                log.write(chunk)
                self._at_line_start = chunk.endswith(b"\n")

        return write

    def done(self, task_id: str) -> None:
        writer = self._writers.pop(task_id, None)
        if writer is not None:
            writer.close()

    def _put(self, text: str) -> None:
        out.file.write(text)
        out.file.flush()
        self._at_line_start = text.endswith("\n")


@with_connection
def logs(
    worker: WorkerArg,
    follow: Annotated[
        bool, typer.Option("--follow", help="Then print new tasks' output as they run (Ctrl-C).")
    ] = False,
    since: SinceOpt = None,
    status: StatusOpt = None,
    limit: Annotated[int, _limit_opt()] = 10,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Print the logs of a worker's recent tasks, newest last, with task, status and revision.

    Each log is headed by its task id, status, the revision that ran it and that revision's
    commit; --follow then prints new tasks' output as they run, until Ctrl-C.
    """
    statuses = _statuses(status)
    seconds = since_seconds(since)
    manifest = _manifest(file, conn)
    _warn_unknown(manifest, worker)
    started = int(time.time())
    with connected(_where(manifest), conn, quiet=True, create_engine=False) as tgt:
        client = tgt.client
        revisions = _Revisions(client, _folder(manifest))
        output = _Output()
        recent = _recent(client, worker, statuses, limit, seconds)
        if not recent and not follow:
            err.print(f"no tasks of {worker} match", markup=False)
        # Tasks created since --follow began are new; the others were shown or left out.
        seen = {t.id for t in _listed_since(client, worker, statuses, started)} if follow else set()
        active: dict[str, int] = {}
        for task in recent:
            seen.add(task.id)
            output.header(task, revisions.ran(task))
            shown = client.stream_log(task.id, output.writer(task.id)) or 0
            if follow and not task.finished:
                active[task.id] = shown
            else:
                output.done(task.id)
        if not follow:
            return
        err.print(f"following {worker}: new tasks' output appears as they run (Ctrl-C stops)")
        try:
            _follow(client, worker, statuses, started, seen, active, revisions, output)
        except KeyboardInterrupt:
            return


def _listed_since(client: Client, worker: str, statuses: Sequence[str], started: int) -> list[Task]:
    try:
        return client.list_tasks(
            worker, statuses, per_page=MAX_LIMIT, from_time=started - CLOCK_MARGIN
        )
    except ApiError as exc:
        if exc.status != 404:
            raise
        return []


def _follow(
    client: Client,
    worker: str,
    statuses: Sequence[str],
    started: int,
    seen: set[str],
    active: dict[str, int],
    revisions: _Revisions,
    output: _Output,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> None:
    """Forever: pick up new tasks, print what each running task wrote since the last look,
    and a last header line (its final status) when one ends."""
    while True:
        began = clock()
        fresh = _listed_since(client, worker, statuses, started)
        for task in sorted(fresh, key=lambda t: t.created_at or ""):
            if task.id not in seen:
                seen.add(task.id)
                active[task.id] = 0
                output.header(task, revisions.ran(task))
        for task_id in list(active):
            _advance(client, task_id, active, revisions, output)
        sleep(max(0.0, FOLLOW_POLL - (clock() - began)))


def _advance(
    client: Client, task_id: str, active: dict[str, int], revisions: _Revisions, output: _Output
) -> None:
    """Print what ``task_id`` wrote since the last look (headed by its header when another
    task's output came last); close it with its final status when it has finished."""
    task = client.get_task(task_id)  # the status first: output written before the end is read
    if task.status in NOT_STARTED:
        return
    write = output.writer(task_id)

    def headed(chunk: bytes) -> None:
        if output.current != task_id:
            output.header(task, revisions.ran(task))
        write(chunk)

    active[task_id] = client.stream_log(task_id, headed, offset=active[task_id]) or active[task_id]
    if task.finished:
        output.done(task_id)
        output.header(task, revisions.ran(task))
        output.current = None
        del active[task_id]


def _warn_unknown(manifest: Manifest | None, worker: str) -> None:
    if manifest is not None and manifest.worker(worker) is None:
        err.print(
            f"warning: {manifest.path} has no worker named {worker!r}; showing the server's "
            "tasks of that name",
            markup=False,
        )


@with_connection
def tasks(
    worker: WorkerArg,
    status: StatusOpt = None,
    since: SinceOpt = None,
    limit: Annotated[int, _limit_opt()] = 20,
    as_json: JsonOpt = False,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """List a worker's recent tasks, newest last: status, duration, revision and commit."""
    statuses = _statuses(status)
    seconds = since_seconds(since)
    manifest = _manifest(file, conn)
    if not as_json:
        _warn_unknown(manifest, worker)
    with connected(_where(manifest), conn, quiet=True, create_engine=False) as tgt:
        revisions = _Revisions(tgt.client, _folder(manifest))
        recent = _recent(tgt.client, worker, statuses, limit, seconds)
        rows = [(t, revisions.ran(t)) for t in recent]
    if as_json:
        docs = [{**_task_doc(t), "revision": _ran_json(ran)} for t, ran in rows]
        print_json({"format_version": FORMAT_VERSION, "tasks": docs})
        return
    if not rows:
        err.print(f"no tasks of {worker} match", markup=False)
        return
    # Plain aligned columns, never cut to the terminal's width: ids are copied from here.
    table = [("TASK", "STATUS", "CREATED", "DURATION", "REVISION")]
    for t, ran in rows:
        duration = f"{t.duration / 1000:.2f} s" if t.duration is not None else "-"
        table.append((t.id, t.status, t.created_at or "-", duration, _revision_text(ran, t)))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.file.write("  ".join([*cells, row[-1]]) + "\n")
    out.file.flush()
