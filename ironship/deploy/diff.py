"""Pure comparison of the manifest with the server: LocalWorker + Code → WorkerPlan → Plan.

``plan`` and ``apply`` share this one code path: apply executes exactly the Plan that ``plan``
renders (docs/architecture.md, Conventions 5). Nothing here talks to the network, reads a
file or prints; it imports only the deploy values, the stamp names and the settings mapping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ironship.deploy.depsdiff import (
    dependency_reasons,
    is_vendored,
    new_worker_reasons,
    vendored_prefixes,
)
from ironship.deploy.models import Action, FileChanges, LocalWorker, Plan, SettingChange, WorkerPlan
from ironship.deploy.settings import FIELDS, canonical_json, user_env
from ironship.deploy.stamps import FILES_KEY, SMOKE_KEY
from ironship.iron.types import Code
from ironship.packaging.deps.model import Vendored
from ironship.secrets import Secret

FileIndex = Mapping[str, tuple[bool, str]]  # path -> (exec bit, content sha256)


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _config_value(raw: str | None) -> Any:
    """Config arrives as a string; compare its JSON meaning, not its formatting."""
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _same_config(desired: Any, remote: str | None) -> bool:
    """Config by JSON meaning; one holding a secret is compared inside the Secret."""
    if isinstance(desired, Secret):
        before = _config_value(remote)
        return before is not None and desired.matches(canonical_json(before))
    return bool(_config_value(desired) == _config_value(remote))


def _same_env(desired: Any, remote: str) -> bool:
    return desired.matches(remote) if isinstance(desired, Secret) else bool(desired == remote)


def setting_changes(desired: Mapping[str, Any], remote: Code) -> tuple[SettingChange, ...]:
    """Field-by-field differences between the settings to upload and the code on the server."""
    out: list[SettingChange] = []
    for f in FIELDS:
        if not hasattr(remote, f.code):
            continue  # a Code that does not carry this setting (``stack`` before it was read)
        after = desired.get(f.key)
        before = getattr(remote, f.code)
        if f.key == "max_concurrency" and before == -1 and after is None:
            before = None  # -1 is how the API spells "unlimited"
        if before != after:
            out.append(SettingChange(f.key, before, after, cleared=after is None))
    after_cfg = desired.get("config")
    if not _same_config(after_cfg, remote.config):
        cleared = not isinstance(after_cfg, Secret) and _config_value(after_cfg) is None
        out.append(SettingChange("config", None, None, sensitive=True, cleared=cleared))
    before_env, after_env = user_env(remote.env_vars), user_env(desired.get("env_vars"))
    for name in sorted(before_env.keys() | after_env.keys()):
        if name not in after_env:
            out.append(SettingChange(f"env.{name} removed", None, None, sensitive=True))
        elif name not in before_env:
            out.append(SettingChange(f"env.{name} added", None, None, sensitive=True))
        elif not _same_env(after_env[name], before_env[name]):
            out.append(SettingChange(f"env.{name}", None, None, sensitive=True))
    return tuple(out)


def diff_files(local: FileIndex, remote: FileIndex) -> FileChanges:
    """Names added, removed and changed (content or exec bit) between two file indexes."""
    added = tuple(sorted(local.keys() - remote.keys()))
    removed = tuple(sorted(remote.keys() - local.keys()))
    changed = tuple(sorted(p for p in local.keys() & remote.keys() if local[p] != remote[p]))
    return FileChanges(added, removed, changed)


def local_index(local: LocalWorker) -> dict[str, tuple[bool, str]]:
    return {f.path: (f.executable, f.sha256) for f in local.files}


def code_changed(local: LocalWorker, remote: Code, local_md5: str | None) -> bool:
    """Whether the server's package differs from the local files.

    The server's ``IRONSHIP_FILES`` stamp decides when ironship uploaded the package; for
    packages it did not, the reproducible zip's MD5 (``local_md5``) against
    ``latest_checksum``; without either, the code counts as changed.
    """
    stamp = remote.env_vars.get(FILES_KEY)
    if stamp is not None:
        return stamp != local.files_digest
    if local_md5 is not None and remote.latest_checksum:
        return local_md5 != remote.latest_checksum
    return True


def plan_worker(
    local: LocalWorker,
    remote: Code | None,
    *,
    local_md5: str | None = None,
    remote_files: FileIndex | None = None,
    remote_deps: Sequence[Vendored] = (),
    force: bool = False,
) -> WorkerPlan:
    """Decide one worker's action.

    ``remote_files`` (the server zip's index), when given, names the files that differ;
    ``remote_deps`` (the vendored trees in that zip) names the packages that differ.
    """
    if remote is None:
        reason = f"new worker ({_files(local.file_count)})"
        created = (reason, *new_worker_reasons(local.fileset.deps))
        return WorkerPlan(local.worker, "create", created, code_changed=True, local=local)
    settings = setting_changes(local.settings, remote)
    if local.smoke_digest is not None and remote.env_vars.get(SMOKE_KEY) != local.smoke_digest:
        settings += (SettingChange("smoke tests", None, None, sensitive=True),)
    changed = code_changed(local, remote, local_md5)
    unstamped = FILES_KEY not in remote.env_vars
    reasons: list[str] = []
    files: FileChanges | None = None
    if changed:
        files = FileChanges(known=False)
        if remote_files is not None:
            files = diff_files(local_index(local), remote_files)
        reasons.extend(_file_reasons(files, unstamped, local.fileset.deps, remote_deps))
    if force and not changed:
        changed = True
        reasons.append("--force: upload again")
    reasons.extend(s.describe() for s in settings)
    if not changed and not settings and unstamped:
        # Uploaded by something else, but the same zip and settings: nothing to do. Re-stamping
        # would only add a revision; the checksum comparison keeps working without a stamp.
        reasons.append("matches the server's checksum (package not uploaded by ironship)")
    action: Action = "update" if changed or settings else "unchanged"
    return WorkerPlan(
        local.worker,
        action,
        tuple(reasons),
        code_changed=changed,
        settings=settings,
        files=files,
        local=local,
        remote=remote,
    )


def _file_reasons(
    files: FileChanges,
    unstamped: bool,
    local_deps: Sequence[Vendored] = (),
    remote_deps: Sequence[Vendored] = (),
) -> list[str]:
    if not files.known:
        return ["code changed" + (" (package not uploaded by ironship)" if unstamped else "")]
    # Vendored files are summed up per package (deploy/depsdiff.py), never listed one by one.
    out = dependency_reasons(local_deps, remote_deps, files)
    vendored = vendored_prefixes(local_deps, remote_deps)
    out += [f"+ {p}" for p in files.added if not is_vendored(p, vendored)]
    out += [f"- {p}" for p in files.removed if not is_vendored(p, vendored)]
    out += [f"~ {p}" for p in files.changed if not is_vendored(p, vendored)]
    if not out:
        out.append("code changed (same files; package bytes differ)")
    return out


def plan(
    worker_plans: Sequence[WorkerPlan],
    remote: Sequence[Code],
    *,
    prune: bool = False,
    only: Sequence[str] = (),
    skipped: int = 0,
) -> Plan:
    """Assemble the whole plan: the workers' plans plus orphans (on the server, not in the file).

    With ``only``, codes outside the selection are not orphans: they are simply not planned,
    nothing is pruned, and a note says how many manifest workers (``skipped``) were left out.
    """
    named = {w.name for w in worker_plans}
    pruning = prune and not only
    extra = [
        WorkerPlan(
            c.name,
            "delete" if pruning else "orphan",
            ("not in the manifest" + ("; --prune deletes it" if pruning else "; left alone"),),
            remote=c,
        )
        for c in sorted(remote, key=lambda c: c.name)
        if c.name not in named and (not only or c.name in only)
    ]
    ordered = sorted([*worker_plans, *extra], key=lambda w: w.name)
    notes = (f"--only in effect: {skipped} worker(s) not planned",) if only and skipped else ()
    return Plan(tuple(ordered), pruning, notes)
