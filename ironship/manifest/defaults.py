"""How defaults, a worker and its smoke tests combine into effective settings.

Shared by validation (which must check what will really be deployed) and by ``parse``.
The rules are deliberately small: a worker's value replaces the default, except ``env``,
which merges key by key (the worker wins); a smoke test's payload deep-merges over the
worker's payload (objects recursively, the test wins; anything else replaces).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from ironship.manifest.models import RUNTIMES
from ironship.manifest.yamlpos import JsonPath

WORKER_ONLY_KEYS = ("entry", "smoke")  # keys `defaults:` may not set
MERGED_MAPPINGS = ("env",)
RUNTIME_BY_SUFFIX = {
    ".py": "python",
    ".php": "php",
    ".js": "node",
    ".mjs": "node",
    ".cjs": "node",
    ".rb": "ruby",
    ".sh": "sh",
}
RUNTIMES_HINT = ", ".join(RUNTIMES)
MATCHERS = ("equals", "subset", "schema", "contains", "matches")
DEFAULT_SMOKE_TIMEOUT = 60.0
# Like the tutorial's split(SEPARATOR)[1]; smoke/expectations.py's DEFAULT_BLOCK agrees.
DEFAULT_BLOCK = "first"
# Payload and config are at most 64 KB each (docs/ironworker-api.md §1 (Transport), "Limits").
MAX_JSON_BYTES = 65536


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` over ``base``: objects merge recursively, anything else replaces. Copies."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = {key: copy.deepcopy(value) for key, value in base.items()}
        for key, value in override.items():
            merged[key] = deep_merge(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def worker_settings(defaults: Mapping[str, Any], worker: Mapping[str, Any]) -> dict[str, Any]:
    """The worker's effective keys: its own values over ``defaults`` (``env`` merged)."""
    settings = {k: v for k, v in defaults.items() if k not in WORKER_ONLY_KEYS}
    for key, value in worker.items():
        base = settings.get(key)
        if key in MERGED_MAPPINGS and isinstance(base, Mapping) and isinstance(value, Mapping):
            settings[key] = {**base, **value}
        else:
            settings[key] = value
    return settings


def setting_path(worker: Mapping[str, Any], name: str, key: str) -> JsonPath:
    """Where the effective ``key`` of worker ``name`` was written: the worker or ``defaults``."""
    return ("workers", name, key) if key in worker else ("defaults", key)


def infer_runtime(entry: str) -> str | None:
    """The runtime an entry's extension implies, or None when it implies none."""
    return RUNTIME_BY_SUFFIX.get(PurePosixPath(entry).suffix.lower())


def smoke_payload(worker_payload: Any, test: Mapping[str, Any]) -> Any:
    """A smoke test's effective payload: its own deep-merged over the worker's."""
    if "payload" not in test:
        return copy.deepcopy(worker_payload)
    return deep_merge(worker_payload, test["payload"])
