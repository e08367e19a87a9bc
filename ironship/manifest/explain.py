"""Where each effective value of a manifest came from, for ``ironship config``.

For a worker's key the first layer that sets it wins (README "Environments, variables and
secrets"): ``environment E`` (its ``workers.W``), ``worker``, ``environment E defaults``,
``defaults``, then the built-in default. A value written with ``${…}`` also names the
references it used. Values are returned as the manifest holds them (Secrets included): the
caller masks and filters what it shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ironship.errors import ManifestError
from ironship.manifest.load import HINT, manifest_from
from ironship.manifest.models import Manifest, Worker
from ironship.manifest.resolve import Options, Resolution, resolve_file
from ironship.manifest.yamlpos import JsonPath

BUILT_IN = "built-in"
# The worker keys shown, in this order; env, config, payload and smoke are shown apart.
SCALARS = (
    "root",
    "entry",
    "runtime",
    "include",
    "exclude",
    "max_concurrency",
    "retries",
    "retries_delay",
    "priority",
    "timeout",
    "requirements",
    "python",
    "build_from_source",
    "pip_args",
    "stack",
    "separator",
)
TARGET_KEYS = ("project_id", "host", "port", "scheme", "token")


@dataclass(frozen=True)
class Origin:
    """The layer a value came from, and the ``${…}`` references it used."""

    layer: str  # defaults | worker | environment E | environment E defaults | built-in
    variables: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.layer + (f" via {', '.join(self.variables)}" if self.variables else "")


@dataclass(frozen=True)
class Setting:
    key: str  # "timeout", "env.API_KEY", "config", "smoke.totals.payload"
    value: Any  # None: not set (the server's default applies)
    origin: Origin


@dataclass(frozen=True)
class Explained:
    manifest: Manifest
    workers: Mapping[str, tuple[Setting, ...]]  # by worker name, in manifest order
    target: tuple[Setting, ...]  # the environment's target keys that are set


def explain_manifest(
    path: Path,
    env: str | None = None,
    *,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Explained:
    """Load ``path`` like ``load_manifest`` and say where each effective value came from."""
    resolution = resolve_file(path, Options(env, secrets_file, environ))
    if resolution.problems:
        raise ManifestError(resolution.problems, HINT if resolution.from_schema else None)
    manifest = manifest_from(resolution, path)
    tracer = _Tracer(resolution)
    workers = {w.name: tracer.worker(w, manifest.directory) for w in manifest.workers}
    return Explained(manifest, workers, tracer.target(manifest))


class _Tracer:
    def __init__(self, resolution: Resolution) -> None:
        self.resolution = resolution
        data = resolution.data if isinstance(resolution.data, Mapping) else {}
        self.defaults = _mapping(data.get("defaults"))
        self.raw_workers = _mapping(data.get("workers"))

    def origin(self, path: JsonPath | None) -> Origin:
        """The origin of the value at ``path`` of the overlaid data (None: built in)."""
        if path is None:
            return Origin(BUILT_IN)
        source = self.resolution.source(path)
        used = [
            ref
            for where, refs in self.resolution.references.items()
            if where[: len(source)] == source
            for ref in refs
        ]
        return Origin(_layer(source), tuple(dict.fromkeys(used)))

    def where(self, name: str, key: str) -> JsonPath | None:
        """The path of a worker's effective ``key``: its own, the defaults', or none."""
        if key in _mapping(self.raw_workers.get(name)):
            return ("workers", name, key)
        return ("defaults", key) if key in self.defaults else None

    def worker(self, worker: Worker, directory: Path) -> tuple[Setting, ...]:
        out = [self.scalar(worker, key, directory) for key in SCALARS]
        for key in ("payload", "config"):
            out.append(
                Setting(key, getattr(worker, key), self.origin(self.where(worker.name, key)))
            )
        own_env = _mapping(_mapping(self.raw_workers.get(worker.name)).get("env"))
        for var, value in worker.env.items():
            owner: JsonPath = ("workers", worker.name) if var in own_env else ("defaults",)
            out.append(Setting(f"env.{var}", value, self.origin((*owner, "env", var))))
        smoke = self.where(worker.name, "smoke")
        for index, test in enumerate(worker.smoke):
            test_at = (*smoke, index) if smoke else None
            out.append(Setting(f"smoke.{test.name}.payload", test.payload, self.origin(test_at)))
        return tuple(out)

    def scalar(self, worker: Worker, key: str, directory: Path) -> Setting:
        at = self.where(worker.name, key)
        value: Any = getattr(worker, key)
        if key == "root":
            relative = worker.root.relative_to(directory) if worker.root != directory else "."
            value = Path(relative).as_posix()
        if isinstance(value, tuple):
            value = list(value)
        origin = self.origin(at)
        if at is None and key == "runtime":
            origin = Origin(f"{BUILT_IN} (from the entry's extension)")
        return Setting(key, value, origin)

    def target(self, manifest: Manifest) -> tuple[Setting, ...]:
        environment = manifest.environment
        if environment is None:
            return ()
        values = environment.target.values()
        base: JsonPath = ("environments", environment.name, "target")
        return tuple(
            Setting(key, values[key], self.origin((*base, key)))
            for key in TARGET_KEYS
            if key in values
        )


def _layer(source: JsonPath) -> str:
    if source[:1] == ("environments",) and len(source) > 2:
        name = source[1]
        return f"environment {name} defaults" if source[2] == "defaults" else f"environment {name}"
    return "defaults" if source[:1] == ("defaults",) else "worker"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
