"""``ironship history``, ``rollback`` and ``diff``: deployed revisions, read from the server
(``diff --env A --env B`` compares two environments: ``envdiff.py``).

Each command parses its options, finds the manifest (optional: without one there is no
working tree to compare with and git is asked in the current folder), connects, calls
``deploy/history.py`` or ``deploy/revdiff.py`` and renders the result.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ironship import FORMAT_VERSION, exitcodes
from ironship.cli.commands import envdiff
from ironship.cli.commands.deploy import YesOpt
from ironship.cli.commands.deploy_view import confirm
from ironship.cli.commands.envdiff import diff_environments, setting_line, settings_json
from ironship.cli.commands.envflags import with_env_list
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    complete_worker,
    connected,
    manifest_of,
    with_connection,
)
from ironship.cli.ui import err, out, print_json
from ironship.deploy.history import (
    Commits,
    Entry,
    GitCommits,
    History,
    load_history,
    rollback_worker,
)
from ironship.deploy.models import LocalWorker
from ironship.deploy.revdiff import RevisionDiff, Side, compare
from ironship.deploy.settings import local_worker
from ironship.errors import IronshipError
from ironship.iron.target import ConnectOptions, Target
from ironship.manifest.models import Manifest, Worker
from ironship.packaging.contents import select_package
from ironship.paths import DEFAULT_MANIFEST

WorkerArg = Annotated[
    str, typer.Argument(help="The worker (code package name).", autocompletion=complete_worker)
]
SUBJECT_WIDTH = 40


@dataclass(frozen=True)
class _Context:
    """Where the command runs: what to connect with (the manifest, else the current
    folder), the worker as the manifest declares it (None: no manifest, or not in it), git."""

    where: Manifest | Path
    worker: Worker | None
    commits: Commits


def _context(file: Path, name: str, conn: ConnectOptions) -> _Context:
    if not file.exists():
        return _Context(Path.cwd(), None, GitCommits(Path.cwd()))
    manifest = manifest_of(file, conn)
    worker = manifest.worker(name)
    inputs = (worker.root, manifest.path) if worker else ()
    return _Context(manifest, worker, GitCommits(manifest.directory, inputs))


def _local(ctx: _Context, secret_key: bytes | None) -> LocalWorker | None:
    """The working tree's side (its digest keyed like the target's, when it has secrets)."""
    if ctx.worker is None:
        return None
    base = ctx.where.directory if isinstance(ctx.where, Manifest) else ctx.where
    return local_worker(ctx.worker, select_package(ctx.worker, base), secret_key)


# -- history ----------------------------------------------------------------------------------


def _entry_json(e: Entry) -> dict[str, Any]:
    s = e.stamps
    return {
        "rev": e.rev,
        "created_at": e.created_at,
        "checksum": e.checksum,
        "uploaded_by_ironship": s.by_ironship,
        "digest": s.digest,
        "git_sha": s.git_sha,
        "git_dirty": s.git_dirty,
        "git_ref": s.git_ref,
        "subject": e.subject,
        "by": s.by,
        "ci_url": s.ci_url,
        "ironship_version": s.version,
        "current": e.current,
    }


def _short(text: str | None, width: int) -> str:
    if not text:
        return "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def _commit_cell(e: Entry) -> str:
    s = e.stamps
    if not s.by_ironship:
        return "-"
    if not s.short_sha:
        return "unknown"
    return s.short_sha + (f" {_short(e.subject, SUBJECT_WIDTH)}" if e.subject else "")


def _row(e: Entry) -> list[str]:
    s = e.stamps
    if not s.by_ironship:
        stamped = ["-", "-", "-", "-", "-"]
    else:
        digest = (s.digest or "").removeprefix("sha256:")[:12] or "-"
        dirty = "-" if s.git_dirty is None else ("yes" if s.git_dirty else "no")
        who = " ".join(x for x in (s.by, s.ci_url) if x) or "-"
        stamped = [digest, _commit_cell(e), dirty, s.git_ref or "-", who]
    checksum = (e.checksum or "-")[:8]
    return ["*" if e.current else "", str(e.rev), e.created_at or "-", checksum, *stamped]


def aligned(rows: list[list[str]]) -> list[str]:
    """Rows as lines of left-aligned columns two spaces apart (plain text: grep reads it)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _print_history(found: History) -> None:
    head = ["", "rev", "uploaded", "checksum", "digest", "commit", "dirty", "ref", "by"]
    for line in aligned([head, *(_row(e) for e in found.entries)]):
        out.print(line, markup=False)
    if len(found.entries) < found.total:
        err.print(f"({found.total - len(found.entries)} older revision(s) not shown; --limit N)")
    if any(e.current for e in found.entries):
        err.print("* = the working tree's digest", markup=False)


@with_connection
def history(
    worker: WorkerArg,
    as_json: JsonOpt = False,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="Show the newest N revisions.")
    ] = 20,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """List a worker's deployed revisions, newest first, with the commit each came from.

    * marks the working tree's digest; - a package ironship did not upload.
    """
    ctx = _context(file, worker, conn)
    with connected(ctx.where, conn, quiet=as_json, create_engine=False) as tgt:
        local = _local_or_warn(ctx, tgt.secret_key)
        found = load_history(
            tgt.client,
            worker,
            ctx.commits,
            current_digest=local.digest if local else None,
            limit=limit,
        )
    if as_json:
        print_json(
            {
                "format_version": FORMAT_VERSION,
                "worker": worker,
                "code_id": found.code.id,
                "total": found.total,
                "working_tree_digest": local.digest if local else None,
                "revisions": [_entry_json(e) for e in found.entries],
            }
        )
        return
    _print_history(found)


def _local_or_warn(ctx: _Context, secret_key: bytes | None) -> LocalWorker | None:
    """The working tree's side, or None with a warning: history still lists revisions."""
    try:
        return _local(ctx, secret_key)
    except IronshipError as exc:
        err.print(f"warning: cannot read the working tree: {exc}", markup=False)
        return None


# -- rollback ---------------------------------------------------------------------------------


@with_connection
def rollback(
    worker: WorkerArg,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="REV|GIT_SHA|previous",
            help="The revision to go back to: its number, the commit it was uploaded from "
            "(7+ hex digits), or 'previous' (the one before the latest).",
        ),
    ],
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Upload an earlier revision again, as a new revision (history moves forward).

    Its zip, settings and stamps go up again; the new checksum must be the old one.
    """
    ctx = _context(file, worker, conn)
    with (
        connected(ctx.where, conn, quiet=as_json, create_engine=False) as tgt,
        tempfile.TemporaryDirectory(prefix="ironship-rollback-") as tmp,
    ):
        done = rollback_worker(
            tgt.client,
            worker,
            to,
            ctx.commits,
            confirm=lambda question: confirm(question, "rollback", yes),
            scratch=Path(tmp),
        )
    if done.cancelled:
        err.print(done.message)
        raise typer.Exit(exitcodes.ERROR)
    if done.restored is not None and not done.restored.ok:
        raise IronshipError(f"{worker}: {done.message}", hint=f"ironship history {worker}")
    if as_json:
        print_json(
            {
                "format_version": FORMAT_VERSION,
                "worker": worker,
                "restored_rev": done.target,
                "new_rev": done.restored.rev if done.restored else None,
                "message": done.message,
            }
        )
    else:
        out.print(f"{worker}: {done.message}", markup=False)


# -- diff -------------------------------------------------------------------------------------


def _side_json(side: Side) -> dict[str, Any]:
    return {
        "rev": side.rev,
        "working_tree": side.rev is None,
        "checksum": side.checksum,
        "git_sha": side.stamps.git_sha,
        "git_dirty": side.stamps.git_dirty,
    }


def _diff_json(d: RevisionDiff) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "worker": d.worker,
        "from": _side_json(d.before),
        "to": _side_json(d.after),
        "files": {
            "known": d.files.known,
            "added": list(d.files.added),
            "removed": list(d.files.removed),
            "changed": list(d.files.changed),
        },
        "settings": settings_json(d.settings),
        "differs": not d.empty,
    }


def _diff_lines(d: RevisionDiff) -> list[str]:
    lines = [f"{d.worker}: {d.before.label} → {d.after.label}"]
    if not d.files.known:
        lines.append("files: not compared (a side has no zip package)")
    lines += [f"+ {p}" for p in d.files.added]
    lines += [f"- {p}" for p in d.files.removed]
    lines += [f"~ {p}" for p in d.files.changed]
    lines += [setting_line(s) for s in d.settings]
    if d.empty:
        lines.append("no differences")
    return lines


@dataclass(frozen=True)
class DiffRequest:
    """What to compare: two revisions of ``worker`` (``rev_b`` None: the working tree), or,
    with two ``envs``, what the two environments run (``worker`` and ``only`` pick workers)."""

    worker: str | None
    rev_a: str | None
    rev_b: str | None
    envs: tuple[str, ...] = ()
    only: tuple[str, ...] = ()

    @property
    def environments(self) -> tuple[str, str] | None:
        """The two environments to compare (None: this compares revisions)."""
        return (self.envs[0], self.envs[1]) if len(self.envs) == 2 else None

    @property
    def workers(self) -> tuple[str, ...]:
        return (*self.only, *((self.worker,) if self.worker else ()))


USAGE = "ironship diff WORKER REV_A [REV_B], or ironship diff --env A --env B [--only W]"


def check_request(req: DiffRequest) -> None:
    """Refuse a mix of the two ways to call ``diff`` (before anything is read)."""
    if len(req.envs) > 2:
        raise IronshipError(
            f"--env given {len(req.envs)} times: diff compares two environments", hint=USAGE
        )
    if req.environments is not None:
        if req.rev_a is not None or req.rev_b is not None:
            raise IronshipError(
                "diff --env A --env B compares what two environments run: it takes no "
                "revisions (REV_A, REV_B)",
                hint="drop the revisions, or give one --env to compare revisions in it",
            )
        if req.envs[0] == req.envs[1]:
            raise IronshipError(f"--env {req.envs[0]} given twice", hint=USAGE)
        return
    if req.only:
        raise IronshipError("--only goes with diff --env A --env B", hint=USAGE)
    if req.worker is None:
        raise IronshipError("diff needs a worker, or two environments", hint=USAGE)


def _diff(req: DiffRequest, ctx: _Context, tgt: Target) -> RevisionDiff:
    assert req.worker is not None
    if req.rev_a is None:
        raise IronshipError(
            "diff needs the revision to compare: ironship diff WORKER REV_A [REV_B]",
            hint="a revision number, a commit SHA (7+ hex digits), 'previous' or 'latest'",
        )
    local = _local(ctx, tgt.secret_key) if req.rev_b is None else None
    with tempfile.TemporaryDirectory(prefix="ironship-diff-") as tmp:
        return compare(
            tgt.client,
            req.worker,
            req.rev_a,
            req.rev_b,
            ctx.commits,
            local=local,
            scratch=Path(tmp),
        )


@with_env_list
def diff(
    worker: Annotated[
        str | None,
        typer.Argument(
            help="The worker (code package name); with two --env, optional.",
            autocompletion=complete_worker,
        ),
    ] = None,
    rev_a: Annotated[
        str | None,
        typer.Argument(help="A revision: number, commit SHA (7+ hex digits), previous, latest."),
    ] = None,
    rev_b: Annotated[
        str | None, typer.Argument(help="Another revision (default: the working tree).")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="WORKER",
            help="With two --env: compare these workers (repeatable).",
            autocompletion=complete_worker,
        ),
    ] = None,
    as_json: JsonOpt = False,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    envs: tuple[str, ...] = (),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Compare two deployed revisions, a revision with the working tree, or two environments.

    Files + added, - removed, ~ changed; settings by name (env and config values never).

    --env A --env B: whether the two run the same package and settings, worker by worker.
    """
    req = DiffRequest(worker, rev_a, rev_b, envs, tuple(only or ()))
    check_request(req)
    if (pair := req.environments) is not None:
        found = diff_environments(file, conn, pair, req.workers, quiet=as_json)
        envdiff.render(found, pair, as_json)
        return
    assert worker is not None
    ctx = _context(file, worker, conn)
    with connected(ctx.where, conn, quiet=as_json, create_engine=False) as tgt:
        result = _diff(req, ctx, tgt)
    if as_json:
        print_json(_diff_json(result))
        return
    for line in _diff_lines(result):
        out.print(line, markup=False)
