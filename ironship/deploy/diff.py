"""plan(desired, remote) -> Plan: pure comparison of the manifest with the server (issue 3 §4).

Plan and apply share this one code path (PEERS §2.20): apply executes exactly the Plan that
``plan`` renders. Nothing here talks to the network or prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ironship.deploy.models import Action, FileChanges, Plan, SettingChange, WorkerPlan
from ironship.deploy.stamps import FILES_KEY, SMOKE_KEY, STAMP_PREFIX
from ironship.iron.types import Code
from ironship.manifest.models import Worker
from ironship.packaging.fileset import FileSet

# Settings compared field by field: manifest upload key -> code object key.
SETTING_KEYS: tuple[tuple[str, str], ...] = (
    ("runtime", "runtime"),
    ("file_name", "file_name"),
    ("max_concurrency", "max_concurrency"),
    ("retries", "retries"),
    ("retries_delay", "retries_delay"),
    ("default_priority", "priority"),
)


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def stamp_of(code: Code, key: str) -> str | None:
    return code.env_vars.get(key)


def _config_value(raw: str | None) -> Any:
    """Config arrives as a string; compare its JSON meaning, not its formatting."""
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _user_env(env: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (env or {}).items() if not k.startswith(STAMP_PREFIX)}


def setting_changes(desired: Mapping[str, Any], remote: Code) -> tuple[SettingChange, ...]:
    """Field-by-field differences between the settings to upload and the code on the server."""
    out: list[SettingChange] = []
    for key, remote_key in SETTING_KEYS:
        after = desired.get(key)
        before = getattr(remote, remote_key)
        if key == "max_concurrency" and before == -1 and after is None:
            before = None  # -1 is how the API spells "unlimited"
        if before != after:
            out.append(SettingChange(key, before, after, cleared=after is None))
    before_cfg, after_cfg = _config_value(remote.config), _config_value(desired.get("config"))
    if before_cfg != after_cfg:
        out.append(SettingChange("config", None, None, sensitive=True, cleared=after_cfg is None))
    before_env, after_env = _user_env(remote.env_vars), _user_env(desired.get("env_vars"))
    for name in sorted(before_env.keys() | after_env.keys()):
        if name not in after_env:
            out.append(SettingChange(f"env.{name} removed", None, None, sensitive=True))
        elif name not in before_env:
            out.append(SettingChange(f"env.{name} added", None, None, sensitive=True))
        elif before_env[name] != after_env[name]:
            out.append(SettingChange(f"env.{name}", None, None, sensitive=True))
    return tuple(out)


def diff_files(
    local: Mapping[str, tuple[bool, str]], remote: Mapping[str, tuple[bool, str]]
) -> FileChanges:
    """Names added, removed and changed (content or exec bit) between two file indexes."""
    added = tuple(sorted(local.keys() - remote.keys()))
    removed = tuple(sorted(remote.keys() - local.keys()))
    changed = tuple(sorted(p for p in local.keys() & remote.keys() if local[p] != remote[p]))
    return FileChanges(added, removed, changed)


def local_index(fileset: FileSet) -> dict[str, tuple[bool, str]]:
    return {f.path: (f.executable, f.sha256) for f in fileset.files}


def files_digest_of(fileset: FileSet) -> str:
    from ironship.packaging.archive import content_digest

    return content_digest(fileset.files, {})


def plan_worker(
    fileset: FileSet,
    remote: Code | None,
    *,
    local_md5: str | None = None,
    remote_files: Mapping[str, tuple[bool, str]] | None = None,
    force: bool = False,
    smoke_digest: str | None = None,
) -> WorkerPlan:
    """Decide one worker's action.

    The code is unchanged when the server's stamp (written by ironship on upload) equals the
    local files digest; for packages ironship did not upload, when ``local_md5`` (the MD5 of the
    reproducible zip) equals ``latest_checksum``. ``remote_files`` (the server zip's index), when
    given, names the files that differ.
    """
    if remote is None:
        return WorkerPlan(
            fileset.worker,
            "create",
            (f"new worker ({_files(len(fileset.files))})",),
            code_changed=True,
            local=fileset,
            smoke_digest=smoke_digest,
        )
    settings = setting_changes(fileset.settings, remote)
    if smoke_digest is not None and stamp_of(remote, SMOKE_KEY) != smoke_digest:
        settings += (SettingChange("smoke tests", None, None, sensitive=True),)
    stamp = stamp_of(remote, FILES_KEY)
    if stamp is not None:
        code_changed = stamp != files_digest_of(fileset)
    elif local_md5 is not None and remote.latest_checksum:
        code_changed = local_md5 != remote.latest_checksum
    else:
        code_changed = True
    reasons: list[str] = []
    files: FileChanges | None = None
    if code_changed:
        if remote_files is not None:
            files = diff_files(local_index(fileset), remote_files)
        else:
            files = FileChanges(known=False)
        reasons.extend(_file_reasons(files, stamp is None))
    if force and not code_changed:
        code_changed = True
        reasons.append("--force: upload again")
    reasons.extend(s.describe() for s in settings)
    if not code_changed and not settings and stamp is None:
        # Uploaded by something else, but the same zip and settings: nothing to do. Re-stamping
        # would only add a revision; the checksum comparison keeps working without a stamp.
        reasons.append("matches the server's checksum (package not uploaded by ironship)")
    action: Action = "update" if code_changed or settings else "unchanged"
    return WorkerPlan(
        fileset.worker,
        action,
        tuple(reasons),
        code_changed=code_changed,
        settings=settings,
        files=files,
        local=fileset,
        remote=remote,
        smoke_digest=smoke_digest,
    )


def smoke_digest(worker: Worker) -> str | None:
    """Digest of a worker's smoke tests, or None when it declares none."""
    if not worker.smoke:
        return None
    tests = [
        {
            "name": t.name,
            "payload": t.payload,
            "timeout": t.timeout,
            "status": t.status,
            "separator": t.separator,
            "output": dict(t.output) if t.output else None,
            "log": dict(t.log) if t.log else None,
            "max_duration": t.max_duration,
        }
        for t in worker.smoke
    ]
    text = json.dumps(tests, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _file_reasons(files: FileChanges, unstamped: bool) -> list[str]:
    if not files.known:
        return ["code changed" + (" (package not uploaded by ironship)" if unstamped else "")]
    out = [f"+ {p}" for p in files.added]
    out += [f"- {p}" for p in files.removed]
    out += [f"~ {p}" for p in files.changed]
    if not out:
        out.append("code changed (same files; package bytes differ)")
    return out


def plan(
    worker_plans: Sequence[WorkerPlan], remote: Sequence[Code], *, prune: bool = False
) -> Plan:
    """Assemble the whole plan: the workers' plans plus orphans (on the server, not in the file)."""
    named = {w.name for w in worker_plans}
    extra = [
        WorkerPlan(
            c.name,
            "delete" if prune else "orphan",
            ("not in the manifest" + ("; --prune deletes it" if prune else "; left alone"),),
            remote=c,
        )
        for c in sorted(remote, key=lambda c: c.name)
        if c.name not in named
    ]
    ordered = sorted([*worker_plans, *extra], key=lambda w: w.name)
    return Plan(tuple(ordered), prune=prune)
