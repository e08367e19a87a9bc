"""The deploy core's values: a worker's desired side, a Plan, and what apply did.

Frozen dataclasses (docs/architecture.md, Conventions 4 and 5: a plan is data): ``diff``
builds them, ``render`` shows them, the executor carries them out. Nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from ironship.iron.types import Code, Schedule

if TYPE_CHECKING:
    from ironship.packaging.fileset import FileEntry, FileSet
    from ironship.smoke.runner import SmokeResult

Action = Literal["create", "update", "unchanged", "orphan", "delete"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete", "unchanged", "orphan")


@dataclass(frozen=True)
class LocalWorker:
    """One worker as the manifest asks for it: its files, its upload settings and the digests
    stamped on its upload (built by ``deploy.settings.local_worker``)."""

    fileset: FileSet
    settings: Mapping[str, Any]  # the upload's ``data`` without stamps
    digest: str  # IRONSHIP_DIGEST: the files and the settings
    files_digest: str  # IRONSHIP_FILES: the files alone
    smoke_digest: str | None = None  # IRONSHIP_SMOKE, when the worker declares smoke tests

    @property
    def worker(self) -> str:
        return self.fileset.worker

    @property
    def files(self) -> tuple[FileEntry, ...]:
        return self.fileset.files

    @property
    def file_count(self) -> int:
        return self.fileset.file_count

    @property
    def total_size(self) -> int:
        return self.fileset.total_size


@dataclass(frozen=True)
class SettingChange:
    key: str
    before: Any
    after: Any
    sensitive: bool = False  # env and config values are never shown, only their keys
    # The manifest no longer sets it. An upload without a zip keeps unmentioned settings, so
    # clearing one needs the zip re-sent (a full upload replaces every setting).
    cleared: bool = False

    def describe(self) -> str:
        if self.sensitive:
            # "env.X added" / "env.X removed" already say what happened.
            done = self.key.endswith((" added", " removed"))
            return self.key if done else f"{self.key} changed"
        return f"{self.key}: {_show(self.before)} → {_show(self.after)}"


@dataclass(frozen=True)
class FileChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    known: bool = True  # False when the server's file list could not be read

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class DesiredSchedule:
    """A declared schedule as ironship creates it (built by ``deploy.schedules``): the fields
    of the API's create request, and the label that stamps it as ironship's."""

    worker: str
    name: str
    label: str  # "ironship:WORKER/NAME:DIGEST": how the next plan recognises it
    run_every: int | None = None
    start_at: str | None = None  # RFC3339, UTC
    end_at: str | None = None
    run_times: int | None = None
    payload: str = "{}"  # JSON text, as the API takes it
    priority: int | None = None
    timeout: int | None = None


@dataclass(frozen=True)
class SchedulePlan:
    """What apply does to one schedule of a worker.

    ``action`` uses the workers' words: ``create``; ``update`` (IronWorker has no portable
    schedule update: cancel ``cancel``, then create ``desired``); ``delete`` (cancel: gone from
    the manifest, or an orphan under --prune); ``unchanged``; ``orphan`` (not created by
    ironship: left alone). ``remote`` is the server's schedule it stands for, if any.
    """

    name: str  # the declared name; for one ironship did not create, its label or id
    action: Action
    changes: tuple[str, ...] = ()  # e.g. "every 1h → 30m", "payload changed"
    desired: DesiredSchedule | None = None
    remote: Schedule | None = None
    cancel: tuple[Schedule, ...] = ()  # cancelled first, in order
    create: bool = False  # then ``desired`` is created

    @property
    def changes_server(self) -> bool:
        return self.create or bool(self.cancel)


@dataclass(frozen=True)
class WorkerPlan:
    name: str
    action: Action
    reasons: tuple[str, ...] = ()
    code_changed: bool = False  # a new zip must be uploaded
    settings: tuple[SettingChange, ...] = ()
    files: FileChanges | None = None
    local: LocalWorker | None = None
    remote: Code | None = None
    schedules: tuple[SchedulePlan, ...] = ()  # deploy/schedules.py

    @property
    def changes(self) -> bool:
        """The code package changes (upload or delete); schedules are ``schedule_changes``."""
        return self.action in ("create", "update", "delete")

    @property
    def schedule_changes(self) -> bool:
        return any(s.changes_server for s in self.schedules)

    @property
    def needs_zip(self) -> bool:
        """Upload the package, not only settings: code changed, or a setting is cleared."""
        return self.code_changed or any(s.cleared for s in self.settings)


@dataclass(frozen=True)
class Plan:
    workers: tuple[WorkerPlan, ...]
    prune: bool = False
    notes: tuple[str, ...] = field(default=())
    # About the target, not the plan: e.g. a runtime the local engine cannot run. Never
    # change what apply does; the CLI prints them on stderr.
    warnings: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return any(w.changes or w.schedule_changes for w in self.workers)

    def count(self, action: Action) -> int:
        return sum(1 for w in self.workers if w.action == action)

    @property
    def summary(self) -> dict[str, int]:
        return {a: self.count(a) for a in ACTIONS}

    @property
    def schedule_summary(self) -> dict[str, int]:
        """How many schedules each action takes, over every worker (zeros included)."""
        counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for s in (s for w in self.workers for s in w.schedules):
            counts[s.action] += 1
        return counts


# "conflict": another deploy changed the worker on the server after this plan was made, so
# it was not uploaded (deploy/guard.py); "skipped": not started, because an earlier worker
# failed or conflicted and the apply was told to stop (``continue_on_error=False``).
# "unverified": uploaded (the server answered), but the read-back that checks it failed.
Outcome = Literal[
    "created",
    "updated",
    "deleted",
    "unchanged",
    "orphan",
    "failed",
    "conflict",
    "skipped",
    "unverified",
]


# "replaced": cancelled, then created again (a changed schedule); "skipped": not touched,
# because the worker's upload failed, conflicted or was skipped.
ScheduleOutcome = Literal[
    "created", "replaced", "cancelled", "unchanged", "orphan", "failed", "skipped"
]
# Both in the order results are counted and shown.
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
SCHEDULE_OUTCOMES: tuple[ScheduleOutcome, ...] = get_args(ScheduleOutcome)


@dataclass(frozen=True)
class ScheduleResult:
    """What apply did to one schedule: ``id`` is the schedule created (or, for a cancel, the
    one cancelled); ``cancelled`` every id cancelled on the way."""

    name: str
    action: Action
    outcome: ScheduleOutcome
    id: str | None = None
    cancelled: tuple[str, ...] = ()
    message: str | None = None


@dataclass(frozen=True)
class WorkerResult:
    """What apply did to one worker. ``rev`` is the server's revision afterwards (for a
    conflict: the one another deploy put there); ``previous_rev`` the one planned against."""

    name: str
    action: str
    outcome: Outcome
    rev: int | None = None
    previous_rev: int | None = None
    code_uploaded: bool = False
    message: str | None = None
    schedules: tuple[ScheduleResult, ...] = ()
    # The upload broke after it was sent (no answer came back): it may have landed, so the
    # read-back decides (deploy/executor.py).
    response_lost: bool = False


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    results: tuple[WorkerResult, ...]

    @property
    def failed(self) -> tuple[WorkerResult, ...]:
        return tuple(r for r in self.results if r.outcome == "failed")

    @property
    def changed(self) -> tuple[WorkerResult, ...]:
        return tuple(r for r in self.results if r.outcome in ("created", "updated"))

    @property
    def conflicts(self) -> tuple[WorkerResult, ...]:
        return tuple(r for r in self.results if r.outcome == "conflict")

    @property
    def skipped(self) -> tuple[WorkerResult, ...]:
        return tuple(r for r in self.results if r.outcome == "skipped")

    @property
    def unverified(self) -> tuple[WorkerResult, ...]:
        return tuple(r for r in self.results if r.outcome == "unverified")


def _show(value: Any) -> str:
    return "unset" if value is None else json.dumps(value)


@dataclass(frozen=True)
class SmokeOutcome:
    """Smoke tests that ran, the rollback they caused (worker -> what happened), the exit code,
    and the passes recorded on the server (worker -> what happened, ``deploy/smokepass.py``)."""

    results: tuple[SmokeResult, ...]
    exit_code: int
    rollback: Mapping[str, str] | None = field(default=None, hash=False)  # None: not rolled back
    recorded: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ApplyOutcome:
    """Everything ``apply`` did. ``applied`` is None when the confirmation was refused."""

    plan: Plan
    applied: ApplyResult | None
    exit_code: int
    smoke: SmokeOutcome | None = None  # None: not asked for, or skipped
    smoke_skipped: bool = False  # asked for, but some uploads failed

    @property
    def cancelled(self) -> bool:
        return self.applied is None
