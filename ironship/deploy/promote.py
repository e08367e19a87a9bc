"""``ironship promote``: the exact package one environment runs, uploaded to another.

For each worker, the latest revision in the source environment (say staging) is downloaded
and uploaded to the destination (say production) byte for byte, with no rebuild:

- **the same bytes**: the zip is the source revision's own; its MD5 is checked against the
  source's ``latest_checksum`` after the download, and the destination's after the upload;
- **the destination's settings**: config, env, concurrency… as the manifest resolves them
  for the destination's environment (``upload_settings`` of that worker), so an upload with
  a zip replaces every setting the destination had;
- **the source's stamps**: commit, ref, dirty, CI run, who, ironship's version are carried
  over as they are, plus ``IRONSHIP_PROMOTED_FROM`` (``staging rev 4``). ``IRONSHIP_FILES``
  is the source's (checked against the zip's files); ``IRONSHIP_DIGEST`` and
  ``IRONSHIP_SMOKE`` are what the destination's ``plan`` computes for these files with its
  own settings and smoke tests (keyed with its token when they hold secrets), so a later
  ``plan --env production`` says unchanged. A recorded smoke pass is not carried: it says
  what passed in the source environment (``deploy/smokepass.py``).

Everything that could refuse a worker (not deployed in the source, not uploaded by
ironship, stamped dirty without ``allow_dirty``, smoke tests declared but no pass recorded
on that revision) is checked for every worker before anything is downloaded or uploaded.
The result reuses apply's values (a Plan of create/update/unchanged, an ApplyResult), so the
CLI renders it as apply's and the exit codes are apply's.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ironship import exitcodes
from ironship.deploy.diff import setting_changes
from ironship.deploy.guard import Gate, apply_exit_code
from ironship.deploy.models import (
    ApplyResult,
    LocalWorker,
    Outcome,
    Plan,
    SettingChange,
    WorkerPlan,
    WorkerResult,
)
from ironship.deploy.planner import select_workers
from ironship.deploy.ports import CodeStore
from ironship.deploy.settings import (
    content_digest,
    files_digest,
    smoke_digest,
    upload_data,
    upload_settings,
)
from ironship.deploy.smokepass import SMOKE_PASSED_KEY, smoke_passed
from ironship.deploy.stamps import (
    DIGEST_KEY,
    FILES_KEY,
    SMOKE_KEY,
    STAMP_PREFIX,
    Provenance,
    read_stamps,
)
from ironship.errors import IronshipError
from ironship.iron.types import Code
from ironship.manifest.models import Manifest, Worker
from ironship.packaging.archive import files_of_zip, zip_md5
from ironship.packaging.deps.model import RUNNER_NAME
from ironship.packaging.fileset import FileEntry, FileSet

PROMOTED_FROM_KEY = "IRONSHIP_PROMOTED_FROM"  # "staging rev 4": where a promoted package came from
# Stamps computed for the destination, or meaningful only where they were written.
NOT_CARRIED = frozenset({DIGEST_KEY, FILES_KEY, SMOKE_KEY, SMOKE_PASSED_KEY, PROMOTED_FROM_KEY})


@dataclass(frozen=True)
class Endpoint:
    """One side of a promotion: the environment's name, the manifest resolved for it, and
    its server. ``secret_key`` (the target's) keys digests of settings holding secrets."""

    name: str
    manifest: Manifest
    store: CodeStore
    secret_key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PromoteRequest:
    only: tuple[str, ...] = ()
    allow_dirty: bool = False  # promote a revision stamped dirty


def _ignore(_: object) -> None:
    """The default hook: nothing to show."""


@dataclass(frozen=True)
class PromoteHooks:
    """``confirm(question)`` approves the uploads (it may raise when it cannot ask);
    ``on_plan`` shows what will happen, before the question."""

    confirm: Callable[[str], bool]
    on_plan: Callable[[Promotion], None] = _ignore


@dataclass(frozen=True)
class Promotion:
    """What promoting will do: one WorkerPlan per worker (``local``: the source's files with
    the destination's settings; ``remote``: the destination's code now), and the source
    revision each one comes from."""

    source: str
    dest: str
    plan: Plan
    origins: Mapping[str, Code] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class PromoteOutcome:
    """What promoting did; ``applied`` is None when the confirmation was refused."""

    promotion: Promotion
    applied: ApplyResult | None
    exit_code: int

    @property
    def cancelled(self) -> bool:
        return self.applied is None


# -- refusals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    message: str
    hint: str


def refusal(worker: Worker, code: Code | None, source: str, allow_dirty: bool) -> Refusal | None:
    """Why ``worker``'s latest revision in ``source`` may not be promoted (None: it may)."""
    name = worker.name
    if code is None:
        return Refusal(
            f"{name}: not deployed in {source}",
            f"deploy and test it there first: ironship apply --env {source} --smoke",
        )
    what = f"{name}: {source} revision {code.rev}"
    stamps = read_stamps(code.env_vars)
    if not stamps.by_ironship:
        return Refusal(
            f"{what} was not uploaded by ironship (no stamps say what it is)",
            f"ironship apply --env {source} --force --only {name} uploads it with its stamps",
        )
    if not code.latest_checksum:
        return Refusal(f"{what} has no zip package", f"ironship history {name} --env {source}")
    if stamps.git_dirty and not allow_dirty:
        return Refusal(
            f"{what} ({stamps.short_sha or 'no commit'}) was uploaded from a dirty tree "
            "(its files differed from their commit)",
            f"commit and deploy {source} again, or pass --allow-dirty to promote it anyway",
        )
    if worker.smoke and not smoke_passed(code.env_vars):
        return Refusal(
            f"{what} has no passing smoke run recorded (its smoke tests have not all passed on it)",
            f"run them on {source}: ironship apply --env {source} --smoke=all --only {name} "
            "(a pass is recorded on the revision; `ironship test` records nothing)",
        )
    return None


def check_refusals(
    workers: Sequence[Worker], codes: Mapping[str, Code], source: str, allow_dirty: bool
) -> None:
    """Raise one error naming every worker that may not be promoted (nothing uploaded)."""
    found = [refusal(w, codes.get(w.name), source, allow_dirty) for w in workers]
    refused = [r for r in found if r is not None]
    if not refused:
        return
    hints = list(dict.fromkeys(r.hint for r in refused))
    head = "refusing to promote; nothing was uploaded:\n  "
    raise IronshipError(head + "\n  ".join(r.message for r in refused), hint="; ".join(hints))


# -- preparing ----------------------------------------------------------------------------------


def zip_fileset(worker: str, zip_path: Path) -> FileSet:
    """The files of a package zip as a FileSet (path, exec bit, content sha256, size): what
    the digests are computed from. ``source`` names the zip itself."""
    index = files_of_zip(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        sizes = {i.filename: i.file_size for i in archive.infolist()}
    files = tuple(
        FileEntry(path, executable, sha, sizes.get(path, 0), zip_path)
        for path, (executable, sha) in sorted(index.items())
    )
    return FileSet(worker, zip_path, files)


def carried_stamps(origin: Code, source: str) -> dict[str, str]:
    """The source revision's provenance stamps, and where it was promoted from."""
    env = origin.env_vars
    out = {k: v for k, v in env.items() if k.startswith(STAMP_PREFIX) and k not in NOT_CARRIED}
    out[PROMOTED_FROM_KEY] = f"{source} rev {origin.rev}"
    return out


def _download(store: CodeStore, origin: Code, scratch: Path, source: str) -> FileSet:
    """The source revision's zip, checked: its bytes and its files are what the server and
    the stamps say."""
    zip_path = store.download_code(origin.id, scratch / f"{origin.name}.zip", revision=origin.rev)
    what = f"{origin.name}: {source} revision {origin.rev}"
    md5 = zip_md5(zip_path)
    if md5 != origin.latest_checksum:
        raise IronshipError(
            f"{what}: the downloaded zip's MD5 is {md5}, the server says {origin.latest_checksum}",
            hint="nothing was uploaded; run promote again",
        )
    fileset = zip_fileset(origin.name, zip_path)
    if files_digest(fileset.files) != origin.env_vars.get(FILES_KEY):
        raise IronshipError(
            f"{what}: the zip's files are not the ones its {FILES_KEY} stamp names",
            hint=f"nothing was uploaded; deploy {source} again with ironship apply --force",
        )
    return fileset


def _side(stamps: Provenance, code: Code) -> str:
    commit = stamps.short_sha or ("no commit" if stamps.by_ironship else "not ironship's")
    return f"rev {code.rev} ({commit}, checksum {(code.latest_checksum or '-')[:8]})"


def plan_worker(
    local: LocalWorker, origin: Code, dest: Code | None, names: tuple[str, str]
) -> WorkerPlan:
    """One worker's promotion: create, update (the package, its settings or both), or
    unchanged when the destination runs these bytes with these settings already."""
    source, target = names
    head = f"{source} {_side(read_stamps(origin.env_vars), origin)}"
    if dest is None:
        reason = f"new in {target}: {head}"
        return WorkerPlan(local.worker, "create", (reason,), code_changed=True, local=local)
    settings = setting_changes(local.settings, dest)
    if local.smoke_digest is not None and dest.env_vars.get(SMOKE_KEY) != local.smoke_digest:
        settings += (SettingChange("smoke tests", None, None, sensitive=True),)
    there = f"{target} {_side(read_stamps(dest.env_vars), dest)}"
    same_bytes = dest.latest_checksum == origin.latest_checksum
    if same_bytes and not settings:
        reason = f"{there} runs {source} rev {origin.rev}'s package already"
        return WorkerPlan(local.worker, "unchanged", (reason,), local=local, remote=dest)
    lead = f"{head} replaces {there}" if not same_bytes else f"{there} runs this package"
    return WorkerPlan(
        local.worker,
        "update",
        (lead, *(s.describe() for s in settings)),
        code_changed=not same_bytes,
        settings=settings,
        local=local,
        remote=dest,
    )


def _local(fileset: FileSet, worker: Worker, secret_key: bytes | None) -> LocalWorker:
    """The source's files with the destination's settings, digested as its plan would."""
    settings = upload_settings(worker, RUNNER_NAME if worker.requirements is not None else None)
    return LocalWorker(
        fileset,
        settings,
        digest=content_digest(fileset.files, settings, secret_key),
        files_digest=files_digest(fileset.files),
        smoke_digest=smoke_digest(worker),
    )


def prepare(
    source: Endpoint,
    dest: Endpoint,
    origins: Mapping[str, Code],
    workers: Sequence[Worker],
    scratch: Path,
) -> tuple[Promotion, dict[str, Path]]:
    """Download and check each worker's source revision (``origins``: the source's codes, as
    ``check_refusals`` passed them); plan each one's promotion.

    Returns the promotion and each worker's zip under ``scratch``. This only reads.
    """
    present = {c.name: c for c in dest.store.list_codes()}
    plans, zips = [], {}
    for worker in workers:
        origin = origins[worker.name]
        fileset = _download(source.store, origin, scratch, source.name)
        zips[worker.name] = fileset.root
        target = dest.manifest.worker(worker.name) or worker
        local = _local(fileset, target, dest.secret_key)
        names = (source.name, dest.name)
        plans.append(plan_worker(local, origin, present.get(worker.name), names))
    chosen = {w.name: origins[w.name] for w in workers}
    return Promotion(source.name, dest.name, Plan(tuple(plans)), chosen), zips


# -- uploading --------------------------------------------------------------------------------


def _verify(now: Code, wp: WorkerPlan, origin: Code, names: tuple[str, str]) -> str | None:
    """Why the uploaded revision is not what was promoted (None: it is)."""
    assert wp.local is not None
    source, target = names
    if now.latest_checksum != origin.latest_checksum:
        return (
            f"{target}'s checksum is {now.latest_checksum}, {source} rev {origin.rev}'s is "
            f"{origin.latest_checksum}: not the same bytes"
        )
    if now.env_vars.get(DIGEST_KEY) != wp.local.digest:
        return "server stamp does not match the upload"
    return None


def _upload_one(
    store: CodeStore, wp: WorkerPlan, zip_path: Path, origin: Code, names: tuple[str, str]
) -> WorkerResult:
    assert wp.local is not None
    prev = wp.remote.rev if wp.remote else None
    try:
        data = upload_data(wp.local, carried_stamps(origin, names[0]))
        now = store.get_code(store.upload_code(data, zip_path))
    except IronshipError as exc:
        return WorkerResult(wp.name, wp.action, "failed", previous_rev=prev, message=str(exc))
    problem = _verify(now, wp, origin, names)
    if problem is not None:
        return WorkerResult(wp.name, wp.action, "failed", now.rev, prev, True, problem)
    outcome: Outcome = "created" if wp.action == "create" else "updated"
    return WorkerResult(wp.name, wp.action, outcome, now.rev, prev, True)


def carry_out(store: CodeStore, promotion: Promotion, zips: Mapping[str, Path]) -> ApplyResult:
    """Upload each promoted worker (one at a time), each re-read right before its upload
    (``deploy/guard.py``: a worker another deploy changed since is left alone)."""
    gate = Gate(store)
    names = (promotion.source, promotion.dest)
    results = []
    for wp in promotion.plan.workers:
        if not wp.changes:
            rev = wp.remote.rev if wp.remote else None
            results.append(WorkerResult(wp.name, wp.action, "unchanged", rev, rev))
            continue
        res = gate.before(wp) or _upload_one(
            store, wp, zips[wp.name], promotion.origins[wp.name], names
        )
        gate.after(res)
        results.append(res)
    return ApplyResult(promotion.plan, tuple(results))


def promote(
    source: Endpoint, dest: Endpoint, request: PromoteRequest, hooks: PromoteHooks
) -> PromoteOutcome:
    """``ironship promote``: refuse, download and plan, confirm, upload, verify."""
    if source.name == dest.name:
        raise IronshipError(
            f"--from and --to both name {source.name}", hint="promote goes from one to another"
        )
    workers = select_workers(source.manifest, request.only)
    codes = {c.name: c for c in source.store.list_codes()}
    check_refusals(workers, codes, source.name, request.allow_dirty)
    with tempfile.TemporaryDirectory(prefix="ironship-promote-") as tmp:
        promotion, zips = prepare(source, dest, codes, workers, Path(tmp))
        hooks.on_plan(promotion)
        changing = sum(1 for w in promotion.plan.workers if w.changes)
        question = f"Promote {changing} worker(s) from {source.name} to {dest.name}?"
        if changing and not hooks.confirm(question):
            return PromoteOutcome(promotion, None, exitcodes.ERROR)
        applied = carry_out(dest.store, promotion, zips)
    return PromoteOutcome(promotion, applied, apply_exit_code(applied))
