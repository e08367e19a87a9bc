"""Saved plans: ``plan --out FILE`` writes one, ``apply FILE`` applies exactly it, ``show``
renders it.

A plan file is the ``plan --json`` document (``render.plan_json``) plus, for every worker
that changes, the resolved settings it would upload (``upload``), and a ``plan_file``
section: what the plan was made from (the manifest and its sha256, the git commit, the
environment, the target, the options) and the codes seen on the server. It holds no secret:
``config`` and each env var appear only as a keyed hash (HMAC-SHA256), never in the file's
key: the target's secret key (``Target.secret_key``, derived from its token as
``ironship.secrets.digest_key`` does, the key the digests of workers with secrets use) when
the caller passes it, else a random key kept in ``.ironship/plan-key`` beside the manifest.
A reviewer sees which values changed between two plans without the values being guessable
from the file; the IronWorker token is never in it.

**Applying a saved plan** re-plans from the working tree with the saved options and requires
that nothing moved since (``check_fresh``): every worker's digests (files, settings, smoke
tests), the manifest's sha256, and every revision seen on the server. A plan is a pure
function of those (docs/architecture.md, Conventions 5), so the new Plan is the saved one;
the zips are built at apply time from the working tree, and the digest comparison is what
checks them against the plan. Reading the format back is in ``deploy/planread.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ironship import paths
from ironship.deploy.models import Plan, WorkerPlan
from ironship.deploy.planner import make_plan
from ironship.deploy.planread import (
    PLAN_FILE_VERSION,
    PlanContext,
    PlanTarget,
    SavedPlan,
    SavedWorker,
    load_plan_file,
    read_plan,
)
from ironship.deploy.ports import CodeSource, StackLister
from ironship.deploy.render import plan_json
from ironship.errors import IronshipError
from ironship.iron.types import Code
from ironship.manifest.models import Manifest
from ironship.packaging.gitinfo import git_state

__all__ = [
    "PLAN_FILE_VERSION",
    "PlanContext",
    "PlanTarget",
    "SavedPlan",
    "SavedWorker",
    "check_fresh",
    "check_target",
    "fresh_plan",
    "keyed",
    "keyed_hash",
    "load_plan_file",
    "plan_context",
    "plan_key",
    "read_plan",
    "save_plan",
    "upload_view",
    "write_plan_file",
]

KEY_FILE = "plan-key"
HASH_PREFIX = "hmac-sha256:"
SCALARS = ("runtime", "file_name", "max_concurrency", "retries", "retries_delay")


def plan_key(base: Path) -> bytes:
    """The key of this checkout's keyed hashes: ``.ironship/plan-key``, made on first use."""
    folder = paths.ensure_state_dir(base)
    key_file = folder / KEY_FILE
    try:
        key = key_file.read_bytes()
    except FileNotFoundError:
        key = b""
    if len(key) >= 32:
        return key
    key = secrets.token_bytes(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def keyed_hash(key: bytes, value: str) -> str:
    return HASH_PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (the manifest's, to notice it changed)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise IronshipError(f"{path}: cannot read: {exc.strerror or exc}") from None


def keyed(key: bytes, value: Any) -> str:
    """The keyed hash of a setting's value, whatever holds it.

    A masked secret value (``Secret`` in ironship/secrets.py) hashes itself with ``digest``
    (the same HMAC-SHA256), so its text is never taken out here; anything else that is not a
    string is hashed by its JSON spelling.
    """
    if isinstance(value, str):
        return keyed_hash(key, value)
    digest = getattr(value, "digest", None)
    if callable(digest):
        return HASH_PREFIX + str(digest(key))
    return keyed_hash(key, json.dumps(value, sort_keys=True, default=str))


def plan_context(
    manifest: Manifest,
    target: PlanTarget,
    *,
    only: Sequence[str] = (),
    prune: bool = False,
    force: bool = False,
) -> PlanContext:
    """What ``plan --out`` records besides the plan: the manifest, its environment, the
    target and the options the plan was made with."""
    environment = manifest.environment.name if manifest.environment else None
    return PlanContext(manifest.path, target, environment, tuple(only), prune, force)


def upload_view(settings: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The settings a worker would upload, with config and env values as keyed hashes."""
    view: dict[str, Any] = {k: settings.get(k) for k in SCALARS}
    view["default_priority"] = settings.get("default_priority")
    config = settings.get("config")
    view["config"] = keyed(key, config) if config is not None else None
    env = settings.get("env_vars") or {}
    view["env"] = {name: keyed(key, env[name]) for name in sorted(env)}
    return view


def _worker_extra(wp: WorkerPlan, key: bytes) -> dict[str, Any]:
    if wp.local is None or not wp.changes:
        return {}
    return {"upload": upload_view(wp.local.settings, key)}


def save_plan(
    plan: Plan,
    context: PlanContext,
    *,
    key: bytes,
    relative_to: Path | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The plan file's document. ``relative_to``: the folder the manifest path is written
    relative to (the plan file's own folder), so a checkout that moves keeps its plans."""
    doc = plan_json(plan, context.target.kind)
    for worker_doc, wp in zip(doc["workers"], plan.workers, strict=True):
        worker_doc.update(_worker_extra(wp, key))
    manifest = context.manifest_path.resolve()
    shown = Path(os.path.relpath(manifest, relative_to.resolve())) if relative_to else manifest
    git = git_state(manifest.parent)
    doc["plan_file"] = {
        "version": PLAN_FILE_VERSION,
        "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "manifest": {"path": shown.as_posix(), "sha256": file_sha256(manifest)},
        "environment": context.environment,
        "git": {"sha": git.sha, "dirty": git.dirty},
        "target": {
            "kind": context.target.kind,
            "host": context.target.host,
            "project_id": context.target.project_id,
        },
        "options": {
            "only": list(context.only),
            "prune": context.prune,
            "force": context.force,
        },
        "codes_seen": sorted(w.remote.name for w in plan.workers if w.remote is not None),
        "hashes": "config and env values are keyed HMAC-SHA256 hashes; "
        "the values are not in this file",
    }
    return doc


def write_plan_file(
    path: Path,
    plan: Plan,
    context: PlanContext,
    *,
    key: bytes | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the plan file (whole or not at all: a temp file, then a rename); returns it.

    ``key`` keys the hashes of config and env values: pass the target's ``secret_key``;
    without one (or an empty one) this checkout's ``.ironship/plan-key`` is used.
    """
    secret = key or plan_key(context.manifest_path.resolve().parent)
    doc = save_plan(plan, context, key=secret, relative_to=path.parent, now=now)
    text = json.dumps(doc, indent=2) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise IronshipError(
            f"{path}: cannot write the plan file: {exc.strerror or exc}",
            hint="pass --out a path in a folder you can write to",
        ) from None
    return doc


# -- applying a saved plan -------------------------------------------------------------------


def check_target(saved: SavedPlan, target: PlanTarget, environment: str | None) -> None:
    """Refuse to apply a plan made for another target or environment."""
    if environment != saved.environment:
        made = f"environment {saved.environment!r}" if saved.environment else "no environment"
        now = f"environment {environment!r}" if environment else "no environment"
        raise IronshipError(
            f"{saved.path}: this plan was made for {made}, not {now}",
            hint="apply it with the --env it was made with, or make a new plan",
        )
    if not saved.target.same_as(target):
        raise IronshipError(
            f"{saved.path}: this plan was made for {saved.target.describe()}, "
            f"not {target.describe()}",
            hint="apply it with the credentials it was made with, or make a new plan",
        )


def _manifest_moved(saved: SavedPlan) -> list[str]:
    try:
        now = hashlib.sha256(saved.manifest_path.read_bytes()).hexdigest()
    except OSError:
        return [f"{saved.manifest_path.name} is gone"]
    return [] if now == saved.manifest_sha256 else [f"{saved.manifest_path.name} changed"]


def _digests_moved(old: SavedWorker, new: WorkerPlan) -> list[str]:
    if new.local is None:
        return []
    if old.files_digest is not None and old.files_digest != new.local.files_digest:
        return [f"{old.name}'s files changed"]
    out = []
    if old.digest is not None and old.digest != new.local.digest:
        out.append(f"{old.name}'s settings changed")
    if old.smoke_digest != new.local.smoke_digest:
        out.append(f"{old.name}'s smoke tests changed")
    return out


def _workers_moved(saved: SavedPlan, current: Plan) -> list[str]:
    now = {w.name: w for w in current.workers}
    planned = {w.name for w in saved.workers if w.action not in ("orphan", "delete")}
    local = {n for n, w in now.items() if w.local is not None}
    out = [f"worker {n} is new" for n in sorted(local - planned)]
    out += [f"worker {n} is gone" for n in sorted(planned - local)]
    for old in saved.workers:
        if old.name in now:
            out.extend(_digests_moved(old, now[old.name]))
    return out


def _server_moved(saved: SavedPlan, codes: Sequence[Code]) -> list[str]:
    now = {c.name: c for c in codes}
    out = []
    for old in saved.workers:
        code, seen = now.get(old.name), old.remote
        if seen is None and code is not None:
            out.append(f"{old.name} now exists on the server (revision {code.rev})")
        elif seen is not None and code is None:
            out.append(f"{old.name} is no longer on the server")
        elif seen is not None and code is not None and not seen.matches(code):
            out.append(
                f"{old.name} is at revision {code.rev} on the server, the plan saw {seen.rev}"
            )
    if not saved.only:
        known = {w.name for w in saved.workers}
        out += [f"{n} is new on the server" for n in sorted(now.keys() - known)]
    return out


def _actions_moved(saved: SavedPlan, current: Plan) -> list[str]:
    now = {w.name: w for w in current.workers}
    return [
        f"{old.name} would now be {now[old.name].action}, not {old.action}"
        for old in saved.workers
        if old.name in now
        and (now[old.name].action, now[old.name].code_changed) != (old.action, old.code_changed)
    ]


def check_fresh(saved: SavedPlan, current_plan: Plan, current_codes: Sequence[Code]) -> None:
    """Refuse a saved plan when its inputs moved: a worker's files, settings or smoke tests,
    the manifest, or the server (a revision uploaded, a code created or deleted since).

    ``current_plan`` is a new plan of the working tree made with the saved options;
    ``current_codes`` the server's code list now.
    """
    moved = _manifest_moved(saved)
    moved += _workers_moved(saved, current_plan)
    moved += _server_moved(saved, current_codes)
    if not moved:
        moved = _actions_moved(saved, current_plan)  # only when an input check missed it
    if moved:
        raise IronshipError(
            f"{saved.path}: stale plan: {'; '.join(moved)}; run plan again",
            hint=f"make a new plan (ironship plan --out {saved.path.name}), review it, "
            "and apply that",
        )


def fresh_plan(
    source: CodeSource,
    manifest: Manifest,
    saved: SavedPlan,
    *,
    parallelism: int = 4,
    stacks: StackLister | None = None,
    secret_key: bytes | None = None,
) -> Plan:
    """The Plan to apply for ``saved``: the working tree planned again with the saved options,
    refused (``IronshipError``) unless nothing moved since the plan was saved.

    ``secret_key`` is the target's (``Target.secret_key``), as ``plan`` used it: it keys the
    digests of workers with secrets, which are compared with the saved ones.
    """
    if manifest.path.resolve() != saved.manifest_path:
        raise IronshipError(
            f"{saved.path}: this plan was made from {saved.manifest_path}, not {manifest.path}",
            hint="apply it with -f naming the manifest it was made from",
        )
    current = make_plan(
        source,
        manifest,
        only=saved.only,
        prune=saved.prune,
        force=saved.force,
        parallelism=parallelism,
        stacks=stacks,
        secret_key=secret_key,
    )
    check_fresh(saved, current, source.list_codes())
    return current
