"""Execute a Plan: package everything first, upload what changed, verify the server (§5).

Every upload is stamped (env_vars ``IRONSHIP_*``) only as part of the upload itself, so a
failed upload never leaves a stamp claiming success (PEERS pain point 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from ironship.deploy.diff import files_digest_of
from ironship.deploy.models import ApplyResult, Outcome, Plan, WorkerPlan, WorkerResult
from ironship.deploy.stamps import DIGEST_KEY, FILES_KEY, SMOKE_KEY
from ironship.errors import IronshipError
from ironship.iron.client import Client
from ironship.iron.types import Code
from ironship.packaging.archive import write_zip


def upload_data(wp: WorkerPlan, stamps: Mapping[str, str]) -> dict[str, Any]:
    """The ``data`` JSON of one upload: the manifest's settings plus ironship's stamps."""
    assert wp.local is not None
    data = dict(wp.local.settings)
    env = dict(data.get("env_vars") or {})
    env.update(stamps)
    env[DIGEST_KEY] = wp.local.digest
    env[FILES_KEY] = files_digest_of(wp.local)
    if wp.smoke_digest:
        env[SMOKE_KEY] = wp.smoke_digest
    data["env_vars"] = env
    return data


def package_changed(plan: Plan, build_dir: Path) -> dict[str, tuple[Path, str]]:
    """Write the zip of every worker that needs one, before anything is uploaded."""
    build_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, str]] = {}
    for wp in plan.workers:
        if wp.needs_zip and wp.local is not None:
            dest = build_dir / f"{wp.name}.zip"
            out[wp.name] = (dest, write_zip(wp.local, dest))
    return out


def _upload_one(
    client: Client,
    wp: WorkerPlan,
    zips: Mapping[str, tuple[Path, str]],
    stamps: Mapping[str, str],
) -> WorkerResult:
    prev = wp.remote.rev if wp.remote else None
    zip_entry = zips.get(wp.name)
    try:
        client.upload_code(upload_data(wp, stamps), zip_entry[0] if zip_entry else None)
    except IronshipError as exc:
        return WorkerResult(wp.name, wp.action, "failed", previous_rev=prev, message=str(exc))
    outcome: Outcome = "created" if wp.action == "create" else "updated"
    return WorkerResult(wp.name, wp.action, outcome, None, prev, zip_entry is not None)


def _delete_one(client: Client, wp: WorkerPlan) -> WorkerResult:
    assert wp.remote is not None
    try:
        client.delete_code(wp.remote.id)
    except IronshipError as exc:
        return WorkerResult(wp.name, "delete", "failed", message=str(exc))
    return WorkerResult(wp.name, "delete", "deleted", previous_rev=wp.remote.rev)


def _verify(
    result: WorkerResult,
    wp: WorkerPlan,
    code: Code | None,
    zips: Mapping[str, tuple[Path, str]],
) -> WorkerResult:
    """Read-back check: the server now carries our stamp (and our zip's MD5 if we sent one)."""
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


def apply_plan(
    client: Client,
    plan: Plan,
    *,
    build_dir: Path,
    parallelism: int = 4,
    stamps: Mapping[str, str] | None = None,
    on_done: Callable[[WorkerResult], None] | None = None,
) -> ApplyResult:
    """Upload the plan's changes with bounded parallelism, then read the server back."""
    zips = package_changed(plan, build_dir)  # any packaging error stops us before uploading
    stamp_map = dict(stamps or {})
    todo = [w for w in plan.workers if w.changes]

    def run(wp: WorkerPlan) -> WorkerResult:
        res = _delete_one(client, wp) if wp.action == "delete" else None
        res = res or _upload_one(client, wp, zips, stamp_map)
        if on_done:
            on_done(res)
        return res

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        done = {r.name: r for r in pool.map(run, todo)}
    if any(r.outcome in ("created", "updated") for r in done.values()):
        codes = {c.name: c for c in client.list_codes()}
        by_name = {w.name: w for w in plan.workers}
        done = {n: _verify(r, by_name[n], codes.get(n), zips) for n, r in done.items()}
    results = []
    for wp in plan.workers:
        if wp.name in done:
            results.append(done[wp.name])
        else:
            outcome: Outcome = "orphan" if wp.action == "orphan" else "unchanged"
            rev = wp.remote.rev if wp.remote else None
            results.append(WorkerResult(wp.name, wp.action, outcome, rev, rev))
    return ApplyResult(plan, tuple(results))


def rollback(client: Client, result: ApplyResult, scratch: Path) -> dict[str, str]:
    """Put each worker this apply changed back to its previous revision, as a new revision.

    The old zip is downloaded from the server and uploaded again with the old settings and
    stamps, so history only moves forward (PEERS R19) and the server's checksum is the old
    one again. Workers this apply created have nothing to go back to and are left as they
    are. Returns worker -> what happened.
    """
    by_name = {w.name: w for w in result.plan.workers}
    report: dict[str, str] = {}
    for res in result.changed:
        wp = by_name[res.name]
        old = wp.remote
        if old is None:
            report[res.name] = "created by this apply; no earlier revision to restore (left as is)"
            continue
        data: dict[str, Any] = {
            "name": old.name,
            "runtime": old.runtime,
            "file_name": old.file_name,
            "config": old.config,
            "max_concurrency": old.max_concurrency,
            "retries": old.retries,
            "retries_delay": old.retries_delay,
            "default_priority": old.priority,
            "env_vars": dict(old.env_vars),
        }
        data = {k: v for k, v in data.items() if v is not None}
        try:
            zip_path = None
            if old.latest_checksum:
                # Even when this apply changed settings only: an upload with a zip replaces
                # every setting, while a settings-only upload keeps whatever it leaves out,
                # so a config this apply added would survive the rollback.
                zip_path = client.download_code(
                    old.id, scratch / f"{old.name}.r{old.rev}.zip", revision=old.rev
                )
            now = client.get_code(client.upload_code(data, zip_path))
        except IronshipError as exc:
            report[res.name] = f"rollback to revision {old.rev} failed: {exc}"
            continue
        if old.latest_checksum and now.latest_checksum != old.latest_checksum:
            report[res.name] = (
                f"rollback to revision {old.rev} failed: the server's checksum is "
                f"{now.latest_checksum}, revision {old.rev}'s was {old.latest_checksum}"
            )
            continue
        report[res.name] = (
            f"rolled back to revision {old.rev} (uploaded again as revision {now.rev})"
        )
    return report
