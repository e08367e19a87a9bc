"""Execute a Plan: package everything first, upload what changed, verify the server; rollback.

Every upload is stamped (env_vars ``IRONSHIP_*``) only as part of the upload itself, so a
failed upload never leaves a stamp claiming success (docs/architecture.md, Stamps). Right
before each upload or delete, ``deploy/guard.py`` reads the worker again and leaves it alone
when another deploy changed it since the plan (outcome ``conflict``). The server is reached
only through the ``CodeStore`` port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from ironship.deploy.guard import Gate
from ironship.deploy.history import restore_revision
from ironship.deploy.models import ApplyResult, Outcome, Plan, WorkerPlan, WorkerResult
from ironship.deploy.ports import CodeSink, CodeStore
from ironship.deploy.schedule_apply import (
    apply_schedules,
    failure_message,
    kept_schedules,
    skip_schedules,
)
from ironship.deploy.settings import upload_data
from ironship.deploy.stamps import DIGEST_KEY
from ironship.errors import ApiError, IronshipError
from ironship.iron.types import Code
from ironship.packaging.archive import write_zips

# How many workers apply changes at once by default. Each upload is a few requests (the
# guard's re-read, the upload) that mostly wait on the network: against a server 100 ms away,
# 16 at a time apply 50 workers about 8x faster than one at a time, 8 at a time about 5.5x
# (bench/RESULTS.md, "Uploads"). A server that wants fewer says so with 429 and Retry-After,
# which the client waits out (iron/transport.py).
DEFAULT_PARALLELISM = 16

# Why a worker's schedules were not touched, by the outcome the guard gave the worker.
NOT_STARTED = {
    "conflict": "the worker changed on the server since the plan",
    "skipped": "the worker was not started",
    "failed": "the worker could not be re-read before changing it",
}


def package_changed(plan: Plan, build_dir: Path) -> dict[str, tuple[Path, str]]:
    """Write the zip of every worker that needs one, before anything is uploaded.

    The zips are streamed to files in ``build_dir``, one per core at a time
    (``archive.write_zips``), and later uploaded from there: no zip is ever held in memory.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (wp.name, wp.local.fileset, build_dir / f"{wp.name}.zip")
        for wp in plan.workers
        if wp.needs_zip and wp.local is not None
    ]
    md5s = write_zips([(files, dest) for _name, files, dest in jobs])
    return {name: (dest, md5) for (name, _files, dest), md5 in zip(jobs, md5s, strict=True)}


def _upload_one(
    sink: CodeSink,
    wp: WorkerPlan,
    zips: Mapping[str, tuple[Path, str]],
    stamps: Mapping[str, str],
) -> WorkerResult:
    assert wp.local is not None
    prev = wp.remote.rev if wp.remote else None
    zip_entry = zips.get(wp.name)
    try:
        sink.upload_code(upload_data(wp.local, stamps), zip_entry[0] if zip_entry else None)
    except ApiError as exc:
        # No status: the connection broke, maybe after the server stored the upload.
        lost = exc.status is None
        return WorkerResult(
            wp.name, wp.action, "failed", previous_rev=prev, message=str(exc), response_lost=lost
        )
    except IronshipError as exc:
        return WorkerResult(wp.name, wp.action, "failed", previous_rev=prev, message=str(exc))
    outcome: Outcome = "created" if wp.action == "create" else "updated"
    return WorkerResult(wp.name, wp.action, outcome, None, prev, zip_entry is not None)


def _delete_one(sink: CodeSink, wp: WorkerPlan) -> WorkerResult:
    assert wp.remote is not None
    try:
        sink.delete_code(wp.remote.id)
    except IronshipError as exc:
        return WorkerResult(wp.name, "delete", "failed", message=str(exc))
    return WorkerResult(wp.name, "delete", "deleted", previous_rev=wp.remote.rev)


def _change_one(
    store: CodeStore,
    wp: WorkerPlan,
    zips: Mapping[str, tuple[Path, str]],
    stamps: Mapping[str, str],
) -> WorkerResult:
    """Upload or delete the worker's code as planned, and carry out its schedules: after
    the upload (none when it failed), before a delete (which waits for them)."""
    if wp.action == "delete":
        cancelled = apply_schedules(store, wp)
        problem = failure_message(cancelled)
        if problem is not None:
            msg = f"not deleted: {problem}"
            return WorkerResult(wp.name, "delete", "failed", message=msg, schedules=cancelled)
        return replace(_delete_one(store, wp), schedules=cancelled)
    if wp.changes:
        res = _upload_one(store, wp, zips, stamps)
        if res.outcome == "failed":
            return replace(res, schedules=skip_schedules(wp, "the worker's upload failed"))
    else:  # only its schedules change
        rev = wp.remote.rev if wp.remote else None
        res = WorkerResult(wp.name, wp.action, "unchanged", rev, rev)
    return replace(res, schedules=apply_schedules(store, wp))


def _with_schedule_failure(res: WorkerResult) -> WorkerResult:
    """A schedule that failed fails its worker (the exit code rules of docs: 5 or 1)."""
    problem = failure_message(res.schedules)
    if problem is None or (res.outcome == "failed" and problem in (res.message or "")):
        return res
    message = f"{res.message}; {problem}" if res.outcome == "failed" and res.message else problem
    return replace(res, outcome="failed", message=message)


def _verify(
    result: WorkerResult,
    wp: WorkerPlan,
    code: Code | None,
    zips: Mapping[str, tuple[Path, str]],
) -> WorkerResult:
    """Read-back check: the server now carries our stamp (and our zip's MD5 if we sent one).

    An upload whose answer was lost is judged by the same read-back: it landed when the
    server carries its digest at a newer revision than the plan saw.
    """
    if result.response_lost:
        if not _landed(wp, code):
            return result
        landed: Outcome = "created" if wp.action == "create" else "updated"
        note = "the upload's answer was lost; the read-back shows it landed"
        result = replace(result, outcome=landed, message=note, code_uploaded=wp.needs_zip)
    if result.outcome not in ("created", "updated"):
        return result
    assert wp.local is not None
    if code is None:
        return replace(result, outcome="failed", message="uploaded, but missing from the list")
    if code.env_vars.get(DIGEST_KEY) != wp.local.digest:
        return replace(result, outcome="failed", message="server stamp does not match the upload")
    entry = zips.get(wp.name)
    if entry is not None and code.latest_checksum and code.latest_checksum != entry[1]:
        msg = f"server checksum {code.latest_checksum} != local zip {entry[1]}"
        return replace(result, outcome="failed", rev=code.rev, message=msg)
    return replace(result, rev=code.rev)


def _landed(wp: WorkerPlan, code: Code | None) -> bool:
    if code is None or wp.local is None or code.env_vars.get(DIGEST_KEY) != wp.local.digest:
        return False
    before = wp.remote.rev if wp.remote is not None else None
    return before is None or (code.rev is not None and code.rev > before)


def _read_back(
    store: CodeStore,
    plan: Plan,
    done: dict[str, WorkerResult],
    zips: Mapping[str, tuple[Path, str]],
) -> dict[str, WorkerResult]:
    """Verify every upload against one list call. When that call fails, each upload that
    the server acknowledged is ``unverified`` (it landed, unchecked) and every other result
    stays as it was: the apply still reports each worker's true state."""
    uploaded = ("created", "updated")
    if not any(r.outcome in uploaded or r.response_lost for r in done.values()):
        return done
    try:
        codes = {c.name: c for c in store.list_codes()}
    except IronshipError as exc:
        why = f"uploaded, not verified: reading the server back failed: {exc}"
        return {
            n: replace(r, outcome="unverified", message=why) if r.outcome in uploaded else r
            for n, r in done.items()
        }
    by_name = {w.name: w for w in plan.workers}
    return {n: _verify(r, by_name[n], codes.get(n), zips) for n, r in done.items()}


def apply_plan(
    store: CodeStore,
    plan: Plan,
    *,
    build_dir: Path,
    parallelism: int = DEFAULT_PARALLELISM,
    stamps: Mapping[str, Mapping[str, str]] | None = None,
    on_done: Callable[[WorkerResult], None] | None = None,
    continue_on_error: bool = True,
) -> ApplyResult:
    """Upload the plan's changes with bounded parallelism, then read the server back.

    ``stamps`` maps a worker's name to the metadata stamps of its upload (its git commit).
    A worker another deploy changed since the plan is not touched (outcome ``conflict``,
    deploy/guard.py). Each worker's schedules (deploy/schedules.py) are carried out right
    after its upload, never when it failed; a schedule that fails fails its worker. With
    ``continue_on_error=False`` the first failure or conflict stops the apply: workers not
    started yet are reported ``skipped``.
    """
    zips = package_changed(plan, build_dir)  # any packaging error stops us before uploading
    stamp_map = stamps or {}
    todo = [w for w in plan.workers if w.changes or w.schedule_changes]
    gate = Gate(store, continue_on_error=continue_on_error)

    def run(wp: WorkerPlan) -> WorkerResult:
        res = gate.before(wp)
        if res is not None:
            res = replace(res, schedules=skip_schedules(wp, NOT_STARTED[res.outcome]))
        else:
            res = _change_one(store, wp, zips, stamp_map.get(wp.name, {}))
        gate.after(_with_schedule_failure(res))
        if on_done and wp.changes:
            on_done(_with_schedule_failure(res))
        return res

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        done = {r.name: r for r in pool.map(run, todo)}
    done = _read_back(store, plan, done, zips)
    results = []
    for wp in plan.workers:
        if wp.name in done:
            results.append(_with_schedule_failure(done[wp.name]))
        else:
            outcome: Outcome = "orphan" if wp.action == "orphan" else "unchanged"
            rev = wp.remote.rev if wp.remote else None
            kept = kept_schedules(wp)
            results.append(WorkerResult(wp.name, wp.action, outcome, rev, rev, schedules=kept))
    return ApplyResult(plan, tuple(results))


def rollback(store: CodeStore, result: ApplyResult, scratch: Path) -> dict[str, str]:
    """Put each worker this apply changed back to its previous revision, as a new revision.

    Each one goes through ``history.restore_revision``, as ``ironship rollback`` does: the
    old zip is uploaded again with the old settings and stamps, so the server's checksum is
    the old one again while ``rev`` keeps going up (it only ever does: docs/ironworker-api.md
    §2 (Code packages)). Workers this apply created have nothing to go back to and are left
    as they are. Returns worker -> what happened.
    """
    by_name = {w.name: w for w in result.plan.workers}
    return {r.name: _restore(store, by_name[r.name].remote, scratch) for r in result.changed}


def _restore(store: CodeStore, old: Code | None, scratch: Path) -> str:
    if old is None:
        return "created by this apply; no earlier revision to restore (left as is)"
    return restore_revision(store, old, scratch).message
