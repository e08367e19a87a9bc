"""Gather both sides of a plan: the manifest's file sets and the server's code list.

One list call decides every unchanged worker (issue 3 §4). Only a worker whose code changed
costs one more call, a download of its current zip, so the plan can name the files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ironship import paths
from ironship.deploy.diff import plan, plan_worker, smoke_digest
from ironship.deploy.models import Plan, WorkerPlan
from ironship.deploy.stamps import FILES_KEY
from ironship.errors import ApiError, IronshipError
from ironship.iron.client import Client, Code
from ironship.manifest.models import Manifest, Worker
from ironship.packaging.archive import FileSet, build_fileset, files_of_zip, write_zip
from ironship.packaging.hashcache import HashCache


def select_workers(manifest: Manifest, only: Sequence[str]) -> tuple[Worker, ...]:
    """The workers named by ``only`` (all when empty); an unknown name is an error."""
    if not only:
        return manifest.workers
    known = {w.name for w in manifest.workers}
    unknown = [n for n in only if n not in known]
    if unknown:
        raise IronshipError(
            f"{manifest.path}: no worker named {', '.join(repr(n) for n in unknown)}",
            hint=f"workers in this manifest: {', '.join(sorted(known)) or 'none'}",
        )
    return tuple(w for w in manifest.workers if w.name in set(only))


def cache_path(manifest: Manifest) -> Path:
    return paths.hash_cache_file(manifest.directory)


def build_filesets(workers: Sequence[Worker], cache: HashCache | None = None) -> list[FileSet]:
    # Sequential on purpose: walking and matching are GIL-bound Python, and measured slower
    # with threads (bench/RESULTS.md); the hash cache makes re-reads cheap instead.
    return [build_fileset(w, cache) for w in workers]


def _remote_index(client: Client, code: Code, scratch: Path) -> dict[str, tuple[bool, str]] | None:
    if not code.latest_checksum:
        return None  # image-based or empty package: nothing to list
    try:
        path = client.download_code(code.id, scratch / f"{code.id}.zip")
        return files_of_zip(path)
    except (ApiError, IronshipError):
        return None


def _plan_one(
    client: Client,
    worker: Worker,
    fileset: FileSet,
    remote: Code | None,
    force: bool,
    scratch: Path,
    name_files: bool,
) -> WorkerPlan:
    local_md5 = None
    if remote is not None and FILES_KEY not in remote.env_vars and remote.latest_checksum:
        # Not uploaded by ironship: compare the reproducible zip's MD5 with latest_checksum.
        local_md5 = write_zip(fileset, scratch / f"{fileset.worker}.local.zip")
    smoke = smoke_digest(worker)
    first = plan_worker(fileset, remote, local_md5=local_md5, force=force, smoke_digest=smoke)
    if remote is None or first.files is None or not name_files:  # unchanged, --force, or status
        return first
    index = _remote_index(client, remote, scratch)
    if index is None:
        return first
    return plan_worker(
        fileset, remote, local_md5=local_md5, remote_files=index, force=force, smoke_digest=smoke
    )


def make_plan(
    client: Client,
    manifest: Manifest,
    *,
    only: Sequence[str] = (),
    prune: bool = False,
    force: bool = False,
    parallelism: int = 4,
    name_files: bool = True,
) -> Plan:
    """Build the Plan that ``plan`` shows and ``apply`` executes.

    ``name_files=False`` skips downloading changed workers' zips (``status`` only needs to
    know whether a worker is in sync, not which files differ).
    """
    workers = select_workers(manifest, only)
    paths.ensure_state_dir(manifest.directory)
    cache = HashCache.load(cache_path(manifest))
    filesets = build_filesets(workers, cache)
    cache.save()
    codes = client.list_codes()
    by_name = {c.name: c for c in codes}
    with tempfile.TemporaryDirectory(prefix="ironship-plan-") as tmp:
        scratch = Path(tmp)
        with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
            plans = list(
                pool.map(
                    lambda w, fs: _plan_one(
                        client, w, fs, by_name.get(w.name), force, scratch, name_files
                    ),
                    workers,
                    filesets,
                )
            )
    # With --only, workers outside the selection are not orphans: they are simply not planned.
    remote = codes if not only else [c for c in codes if c.name in set(only)]
    result = plan(plans, remote, prune=prune and not only)
    if only:
        skipped = sorted(w.name for w in manifest.workers if w.name not in set(only))
        note = f"--only in effect: {len(skipped)} worker(s) not planned"
        return Plan(result.workers, result.prune, (note,) if skipped else ())
    return result
