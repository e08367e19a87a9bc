"""Domain values shared by the manifest, the packager, the planner and the smoke runner.

Frozen dataclasses with no behaviour beyond small derived properties (docs/architecture.md,
Conventions 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ironship.secrets import Secret

DEFAULT_SEPARATOR = "MAGICALSTDOUTSEPARATOR"
RUNTIMES = ("python", "php", "node", "ruby", "sh", "binary")


@dataclass(frozen=True)
class Location:
    """Where a value sits in the manifest, for messages like ``ironship.yml:14:5``."""

    file: Path
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SmokeTest:
    """One declared smoke test of a worker (README "Smoke tests"). Expectation blocks stay raw
    JSON values."""

    name: str
    payload: Any  # already deep-merged over the worker's default payload
    timeout: float  # seconds the whole test may take (queue + run)
    status: Literal["complete", "error", "timeout"] = "complete"
    separator: str = DEFAULT_SEPARATOR
    # {"equals"|"subset"|"schema"|"contains"|"matches": value, "block": "first"|"last"|"all"}
    output: Mapping[str, Any] | None = None
    # {"contains"|"not_contains"|"matches": str or list of str}
    log: Mapping[str, Any] | None = None
    max_duration: float | None = None
    location: Location | None = None


@dataclass(frozen=True)
class WorkerSchedule:
    """One declared schedule of a worker (README "Schedules"); times are RFC3339 in UTC."""

    name: str
    every: int | None = None  # seconds between runs (the API's run_every); None: runs once
    start_at: str | None = None  # e.g. "2025-01-01T03:00:00Z"; None: from its creation
    end_at: str | None = None
    run_times: int | None = None
    payload: Any = None  # already deep-merged over the worker's default payload
    priority: int | None = None
    timeout: int | None = None
    location: Location | None = None


@dataclass(frozen=True)
class Worker:
    """One code package as ironship.yml declares it (defaults already applied)."""

    name: str
    root: Path  # absolute, resolved
    entry: str  # posix path relative to root; the package's file_name
    runtime: str
    include: tuple[str, ...] = ()  # gitignore-style; empty means everything under root
    exclude: tuple[str, ...] = ()
    payload: Any = None  # default payload (a JSON value, usually an object)
    config: Mapping[str, Any] | None = None  # may hold Secret values (``${secret:…}``)
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    max_concurrency: int | None = None
    retries: int | None = None
    retries_delay: int | None = None
    priority: int | None = None
    timeout: int | None = None
    separator: str = DEFAULT_SEPARATOR
    smoke: tuple[SmokeTest, ...] = ()
    # Dependencies vendored into the package and the stack (README "Workers with
    # dependencies"; manifest/dependencies.py): a requirements file relative to root, or
    # requirement strings; the target Python pip installs for (from ``python:`` or a
    # python-X.Y stack; None: the running one); extra pip arguments.
    requirements: str | tuple[str, ...] | None = None
    python: str | None = None
    build_from_source: bool = False
    pip_args: tuple[str, ...] = ()
    stack: str | None = None
    schedules: tuple[WorkerSchedule, ...] = ()  # README "Schedules"
    location: Location | None = None


@dataclass(frozen=True)
class EnvironmentTarget:
    """Where an environment deploys (its ``target:``); unset keys come from elsewhere
    (flags, IRON_* variables, iron.json: README "Environments, variables and secrets")."""

    project_id: str | None = None
    host: str | None = None
    port: int | None = None
    scheme: str | None = None
    token: Secret | None = None  # always ``${env:…}`` or ``${secret:…}``, never literal

    def values(self) -> dict[str, Any]:
        """The keys this target sets, as credential keys (token, project_id, host, …)."""
        fields = {
            "token": self.token,
            "project_id": self.project_id,
            "host": self.host,
            "port": self.port,
            "scheme": self.scheme,
        }
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class Environment:
    """The environment a command runs in (``--env NAME``), as the manifest declares it."""

    name: str
    target: EnvironmentTarget = field(default_factory=EnvironmentTarget)
    secrets_file: Path | None = None  # the file ``${secret:…}`` read, when there was one
    location: Location | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path  # absolute path of ironship.yml
    version: int
    workers: tuple[Worker, ...]  # sorted by name
    environment: Environment | None = None  # the one selected, its overlay already applied
    environments: tuple[str, ...] = ()  # every environment declared, in file order

    @property
    def directory(self) -> Path:
        return self.path.parent

    def worker(self, name: str) -> Worker | None:
        return next((w for w in self.workers if w.name == name), None)
