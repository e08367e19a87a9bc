"""The one mapping between a manifest Worker and the ``data`` of an upload, and the digests.

Everything that turns a worker into what the server stores, or back, lives here:

- ``upload_settings``: Worker → the settings part of ``data`` (never a stamp);
- ``FIELDS``: each scalar setting's ``data`` key, Worker attribute and Code attribute, so the
  diff compares like with like (``default_priority`` is ``priority`` on the code object,
  docs/ironworker-api.md §2 (Code packages));
- ``code_settings``: Code → ``data``, to upload an earlier revision again (rollback);
- ``content_digest``, ``files_digest``, ``smoke_digest``: the values of the stamps;
- ``local_worker`` and ``upload_data``: the desired side of a worker, and the full ``data``
  of its upload (settings plus stamps).

Secrets (``${secret:…}`` values, ``ironship.secrets.Secret``) stay masked in the settings of a
LocalWorker: an env value that is a secret is a Secret, and a config holding one is sent as a
Secret holding its JSON. ``upload_data`` is the one place they are revealed, for the upload
itself. The content digest never sees a secret's text: it takes HMAC-SHA256 of it, keyed by
the target's token (``ironship.secrets.digest_key``), so the digest still changes when a
secret does, while whoever reads a plan or a stamp cannot test guesses against it. Workers
without secrets have exactly the digests they always had.

Pure: hashing and JSON only, no I/O (docs/architecture.md, Stamps).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ironship.deploy.models import LocalWorker
from ironship.deploy.stamps import DIGEST_KEY, FILES_KEY, SMOKE_KEY, STAMP_PREFIX
from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.secrets import Secret, has_secrets, revealed

if TYPE_CHECKING:
    from ironship.iron.types import Code
    from ironship.packaging.fileset import FileEntry, FileSet

RUNNER_RUNTIME = "sh"  # how IronWorker runs a generated __runner__.sh
# Bumped only if the canonical encoding below changes; every stamp on the server would then differ.
DIGEST_FORMAT = 1


@dataclass(frozen=True)
class Field:
    """One scalar setting: its key in the upload's ``data``, on the Worker, on the Code."""

    key: str
    worker: str
    code: str


# In the order the plan lists their changes. ``config`` and ``env_vars`` are not scalars: the
# diff compares config by its JSON meaning and env var by env var, never showing values.
FIELDS: tuple[Field, ...] = (
    Field("runtime", "runtime", "runtime"),
    Field("file_name", "entry", "file_name"),
    Field("max_concurrency", "max_concurrency", "max_concurrency"),
    Field("retries", "retries", "retries"),
    Field("retries_delay", "retries_delay", "retries_delay"),
    Field("default_priority", "priority", "priority"),
    Field("stack", "stack", "stack"),
)


def canonical_json(value: Any) -> str:
    """The one JSON spelling used for digests and the config string: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def file_name(worker: Worker) -> str:
    """The worker's entry as a path inside its package: POSIX, NFC-normalised.

    The spelling packaging selects the entry under, so the runtime finds the file it runs.
    """
    return unicodedata.normalize("NFC", PurePosixPath(worker.entry).as_posix())


def user_env(env: Mapping[str, Any] | None) -> dict[str, Any]:
    """``env`` without stamps: the env vars a user set (a value may be a Secret)."""
    return {k: v for k, v in (env or {}).items() if not k.startswith(STAMP_PREFIX)}


def upload_settings(worker: Worker, runner: str | None = None) -> dict[str, Any]:
    """The ``data`` fields of an upload, without stamps; ``None`` values are left out.

    ``env_vars`` is always present (possibly empty); ``IRONSHIP_*`` keys are dropped because
    they are stamps, never settings. Secrets stay Secrets (``upload_data`` reveals them).
    ``runner`` (``FileSet.runner``: a generated ``__runner__.sh``) is what the upload runs
    instead of the entry, with ``runtime: sh`` (README "Workers with dependencies").
    """
    settings: dict[str, Any] = {"name": worker.name}
    for f in FIELDS:
        settings[f.key] = file_name(worker) if f.key == "file_name" else getattr(worker, f.worker)
    if runner is not None:
        settings["runtime"], settings["file_name"] = RUNNER_RUNTIME, runner
    settings["config"] = config_text(worker.config)
    settings = {k: v for k, v in settings.items() if v is not None}
    settings["env_vars"] = dict(sorted(user_env(worker.env).items()))
    return settings


def config_text(config: Mapping[str, Any] | None) -> str | Secret | None:
    """The config string of an upload: canonical JSON, a Secret when a secret is inside."""
    if config is None:
        return None
    if has_secrets(config):
        return Secret(canonical_json(revealed(config)))
    return canonical_json(config)


def needs_key(worker: Worker) -> bool:
    """Whether the worker's settings hold a secret (its digest then needs the target's key)."""
    return has_secrets(worker.env) or has_secrets(worker.config)


def code_settings(code: Code) -> dict[str, Any]:
    """The ``data`` that uploads ``code``'s settings again, its stamps included."""
    data: dict[str, Any] = {"name": code.name}
    # getattr with a default: a Code from before ``stack`` was read has no such attribute.
    data.update({f.key: getattr(code, f.code, None) for f in FIELDS})
    data["config"] = code.config
    data["env_vars"] = dict(code.env_vars)
    return {k: v for k, v in data.items() if v is not None}


def content_digest(
    files: Iterable[FileEntry], settings: Mapping[str, Any], secret_key: bytes | None = None
) -> str:
    """sha256 of the sorted (path, exec bit, content sha256) triples and the settings.

    Stamp keys in ``settings["env_vars"]`` are ignored. Never the zip bytes, mtimes or a git
    SHA: the same files and settings give the same digest on every machine. A Secret counts
    as ``{"hmac-sha256": …}`` under ``secret_key``, which it then needs.
    """
    return _digest(_files_json(files), settings, secret_key)


def _files_json(files: Iterable[FileEntry]) -> str:
    """The ``files`` member of the digested document, encoded once for both digests."""
    kept = _ENCODED.get(id(files))
    if kept is not None and kept[0] is files:
        return kept[1]
    triples = sorted((f.path, f.executable, f.sha256) for f in files)
    return json.dumps(triples, separators=(",", ":"), ensure_ascii=False)


# File lists kept by the daemon (ironship/daemon/server.py), encoded once there rather than
# in every command it runs: id of the tuple -> (the tuple itself, its encoding).
_ENCODED: dict[int, tuple[tuple[FileEntry, ...], str]] = {}


def keep_encoded(files: tuple[FileEntry, ...], replaces: tuple[FileEntry, ...] | None) -> None:
    """Encode ``files`` now for the digests of later plans; forget ``replaces``."""
    if replaces is not None:
        _ENCODED.pop(id(replaces), None)
    _ENCODED[id(files)] = (files, _files_json(files))


def _digest(files_json: str, settings: Mapping[str, Any], secret_key: bytes | None) -> str:
    """sha256 of ``{"files": …, "format": …, "settings": …}`` as canonical JSON.

    Spelled out rather than one ``json.dumps`` of the whole document so the files' list, by
    far its largest part, is encoded once per worker; the bytes are the same as
    ``json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    (the keys in that order, each value encoded with those options).
    """
    clean = dict(settings)
    env = clean.get("env_vars")
    if isinstance(env, Mapping):
        clean["env_vars"] = user_env(env)
    if has_secrets(clean):
        clean = _keyed(clean, _key(settings, secret_key))
    rest = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    encoded = f'{{"files":{files_json},"format":{DIGEST_FORMAT},"settings":{rest}}}'
    return "sha256:" + hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _key(settings: Mapping[str, Any], secret_key: bytes | None) -> bytes:
    if not secret_key:
        name = settings.get("name", "a worker")
        raise IronshipError(
            f"{name}: its settings hold ${{secret:…}} values, and their digest is keyed by "
            "the target's token, which this command does not have",
            hint="plan, apply and status compute it; this command shows the files' digest",
        )
    return secret_key


def _keyed(value: Any, key: bytes) -> Any:
    """``value`` with each Secret replaced by its keyed hash (never by its text)."""
    if isinstance(value, Secret):
        return {"hmac-sha256": value.digest(key)}
    if isinstance(value, Mapping):
        return {k: _keyed(v, key) for k, v in value.items()}
    return value


def files_digest(files: Iterable[FileEntry]) -> str:
    """The digest of the files alone (``IRONSHIP_FILES``): ``content_digest`` with no settings."""
    return content_digest(files, {})


def smoke_digest(worker: Worker) -> str | None:
    """Digest of a worker's smoke tests (``IRONSHIP_SMOKE``), or None when it declares none."""
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


def local_worker(worker: Worker, fileset: FileSet, secret_key: bytes | None = None) -> LocalWorker:
    """The desired side of one worker: its files, its settings and the digests to stamp.

    ``secret_key`` (``Target.secret_key``) is needed when the worker has secrets.
    """
    settings = upload_settings(worker, fileset.runner)
    files = _files_json(fileset.files)
    return LocalWorker(
        fileset,
        settings,
        digest=_digest(files, settings, secret_key),
        files_digest=_digest(files, {}, None),
        smoke_digest=smoke_digest(worker),
    )


def upload_data(local: LocalWorker, stamps: Mapping[str, str]) -> dict[str, Any]:
    """The whole ``data`` of one upload: the settings plus ironship's stamps.

    ``stamps`` carries the metadata ones (the git SHA); the digests come from ``local``.
    The one place secrets are revealed: this is what is sent.
    """
    data: dict[str, Any] = revealed(dict(local.settings))
    env = dict(data.get("env_vars") or {})
    env.update(stamps)
    env[DIGEST_KEY] = local.digest
    env[FILES_KEY] = local.files_digest
    if local.smoke_digest:
        env[SMOKE_KEY] = local.smoke_digest
    data["env_vars"] = env
    return data
