"""Gather both sides of a plan: the manifest's workers and the server's code list.

One list call decides every unchanged worker (docs/architecture.md, Stamps). Only a worker
whose code changed costs one more call, a download of its current zip, so the plan can name
the files. The server is reached only through the ``CodeSource`` port.
"""

from __future__ import annotations

import gc
import os
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from ironship import paths
from ironship.deploy.diff import plan, plan_worker
from ironship.deploy.models import LocalWorker, Plan, WorkerPlan
from ironship.deploy.ports import CodeSource, StackLister
from ironship.deploy.schedules import plan_schedules
from ironship.deploy.settings import local_worker
from ironship.deploy.stamps import DIGEST_KEY, FILES_KEY
from ironship.errors import IronshipError
from ironship.iron.types import Code
from ironship.manifest.models import Manifest, Worker
from ironship.packaging.archive import files_of_zip, write_zip
from ironship.packaging.buildroot import build_folder
from ironship.packaging.contents import recipes_of, select_package
from ironship.packaging.deps.cache import DepsCache, project_cache
from ironship.packaging.deps.inventory import vendored_in_zip
from ironship.packaging.deps.model import Kind, Vendored
from ironship.packaging.fileset import file_sources
from ironship.packaging.hashcache import HashCache

# What to install when the local engine lacks a runtime's program (the engine looks for these
# on its PATH: ironship/engine/run/runtimes.py).
INSTALL_HINTS = {
    "php": "php-cli",
    "node": "nodejs",
    "ruby": "ruby",
    "python": "python3",
    "sh": "a POSIX sh",
}


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


def read_locals(
    workers: Sequence[Worker],
    base: Path,
    cache: HashCache | None = None,
    secret_key: bytes | None = None,
    *,
    deps: DepsCache | None = None,
) -> list[LocalWorker]:
    """Each worker's desired side: its package's files (its vendored dependencies included,
    built or taken from the cache under ``base``), settings and digests.

    ``secret_key`` (``Target.secret_key``) keys the digest of workers with secrets.
    """
    store = deps or project_cache(base)

    def one(worker: Worker) -> LocalWorker:
        return local_worker(worker, select_package(worker, base, cache, deps=store), secret_key)

    # With the hash cache warm, the work is walking and matching: GIL-bound Python, which
    # threads only slow down (bench/RESULTS.md). Once this run has had to hash more than
    # HASH_AHEAD_AFTER bytes, the cache is cold: the rest of the workers' files are hashed
    # ahead in one process per core, then the workers are built from the cache as usual.
    out: list[LocalWorker] = []
    rest = list(workers)
    # Tens of thousands of small objects and no cycles among them: the cyclic collector
    # would only walk them again and again (a tenth of a no-op plan's time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        while rest and (cache is None or cache.bytes_read < HASH_AHEAD_AFTER):
            out.append(one(rest.pop(0)))
        if rest and cache is not None:
            cache.prefetch(_sources(rest), jobs=max(2, os.cpu_count() or 1))
        out.extend(one(w) for w in rest)
    finally:
        if collecting:
            gc.enable()
    return out


def _sources(workers: Sequence[Worker]) -> Iterator[str]:
    """The files of the workers without dependencies (theirs are the ones select_files will
    hash; a worker with dependencies, or whose folder cannot be read, is left as it is)."""
    for worker in workers:
        if recipes_of(worker):
            continue
        try:
            yield from file_sources(worker)
        except (IronshipError, OSError):
            continue


HASH_AHEAD_AFTER = 8 << 20


class _Scratch:
    """The plan's scratch folder under .ironship/build/, made only when a worker needs it:
    a plan with nothing changed writes nothing."""

    def __init__(self, base: Path, stack: ExitStack) -> None:
        self.base, self.stack = base, stack
        self.folder: Path | None = None
        self.lock = threading.Lock()

    def __call__(self) -> Path:
        with self.lock:
            if self.folder is None:
                self.folder = self.stack.enter_context(build_folder(self.base, "plan"))
            return self.folder


Remote = tuple[dict[str, tuple[bool, str]], tuple[Vendored, ...]]


def _remote_side(
    source: CodeSource, code: Code, local: LocalWorker, scratch: Callable[[], Path]
) -> Remote | None:
    """The server zip's file index and vendored trees, or None when it cannot be read."""
    if not code.latest_checksum:
        return None  # image-based or empty package: nothing to list
    kinds: list[Kind] = [v.kind for v in local.fileset.deps] + ["pip"]
    try:
        path = source.download_code(code.id, scratch() / f"{code.id}.zip")
        return files_of_zip(path), vendored_in_zip(path, kinds)
    except (IronshipError, zipfile.BadZipFile, OSError):
        return None


def _plan_one(
    source: CodeSource,
    local: LocalWorker,
    remote: Code | None,
    scratch: Callable[[], Path],
    *,
    force: bool,
    name_files: bool,
) -> WorkerPlan:
    local_md5 = None
    if remote is not None and FILES_KEY not in remote.env_vars and remote.latest_checksum:
        # Not uploaded by ironship: compare the reproducible zip's MD5 with latest_checksum.
        local_md5 = write_zip(local.fileset, scratch() / f"{local.worker}.local.zip")
    first = plan_worker(local, remote, local_md5=local_md5, force=force)
    if remote is None or first.files is None or not name_files:
        return first  # unchanged, --force, or status
    found = _remote_side(source, remote, local, scratch)
    if found is None:
        return first
    index, deps = found
    return plan_worker(
        local, remote, local_md5=local_md5, remote_files=index, remote_deps=deps, force=force
    )


def _settled(remote: Code | None, local: LocalWorker, force: bool) -> bool:
    """Whether the remote code carries this worker's digest (nothing to download or zip)."""
    if remote is None or force or FILES_KEY not in remote.env_vars:
        return False
    return remote.env_vars.get(DIGEST_KEY) == local.digest


def runtime_warnings(stacks: StackLister, locals_: Sequence[LocalWorker]) -> tuple[str, ...]:
    """One line per worker whose runtime the server cannot run; none if it cannot say."""
    # The warning is about runtimes only: a lister that can name them without probing every
    # interpreter's version (iron/target.py's LocalEngine) is asked that instead.
    runtimes = getattr(stacks, "list_runtimes", None)
    try:
        listed = runtimes() if callable(runtimes) else stacks.list_stacks()
        available = {str(s).lower() for s in listed}
    except IronshipError:
        return ()  # only a warning: never fail a plan because the list is unavailable
    out = []
    for local in locals_:
        runtime = str(local.settings.get("runtime", ""))
        if runtime and runtime.lower() not in available:
            hint = INSTALL_HINTS.get(runtime.lower(), f"the '{runtime}' interpreter")
            out.append(
                f"{local.worker}: the local engine has no '{runtime}' runtime; "
                f"its tasks will fail (install {hint})"
            )
    return tuple(out)


def make_plan(
    source: CodeSource,
    manifest: Manifest,
    *,
    only: Sequence[str] = (),
    prune: bool = False,
    force: bool = False,
    parallelism: int = 4,
    name_files: bool = True,
    stacks: StackLister | None = None,
    secret_key: bytes | None = None,
    on_deps: Callable[[str], None] | None = None,
) -> Plan:
    """Build the Plan that ``plan`` shows and ``apply`` executes.

    ``name_files=False`` skips downloading changed workers' zips (``status`` only needs to
    know whether a worker is in sync, not which files differ). ``stacks`` (given for the local
    engine) adds a warning per worker whose runtime the engine has no interpreter for.
    ``secret_key`` (the target's, ``Target.secret_key``) keys the digest of workers whose
    settings hold ``${secret:…}`` values; a manifest without secrets needs none.
    ``on_deps`` hears a line each time a vendored tree must be installed (not cached yet).
    """
    workers = select_workers(manifest, only)
    paths.ensure_state_dir(manifest.directory)
    cache = HashCache.load(paths.hash_cache_file(manifest.directory))
    deps = project_cache(manifest.directory, on_build=on_deps)
    locals_ = read_locals(workers, manifest.directory, cache, secret_key, deps=deps)
    cache.save()
    codes = source.list_codes()
    by_name = {c.name: c for c in codes}
    with ExitStack() as stack:
        scratch = _Scratch(manifest.directory, stack)

        def one(local: LocalWorker) -> WorkerPlan:
            remote = by_name.get(local.worker)
            return _plan_one(source, local, remote, scratch, force=force, name_files=name_files)

        if all(_settled(by_name.get(x.worker), x, force) for x in locals_):
            plans = [one(local) for local in locals_]  # no I/O left: no threads either
        else:
            with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
                plans = list(pool.map(one, locals_))
    skipped = sum(1 for w in manifest.workers if w.name not in set(only))
    result = plan(plans, codes, prune=prune, only=only, skipped=skipped)
    result = plan_schedules(source, manifest, result)
    if stacks is None:
        return result
    return replace(result, warnings=runtime_warnings(stacks, locals_))
