"""Saved plans read back: the values of a plan file (``SavedPlan``) and a Plan to show.

The format is written by ``deploy/planfile.py``. Every field is checked as it is read: a
file that is not a plan file, is damaged, or was edited into something else is refused with
the file and the key named (``plan.json: workers[1].action: expected one of …``), never a
traceback. The Plan rebuilt here is for display (``show``): it has no local side, so it is
never applied; ``planfile.fresh_plan`` makes the one apply executes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, cast

from ironship.deploy.guard import history_id
from ironship.deploy.models import Action, FileChanges, Plan, SettingChange, WorkerPlan
from ironship.errors import IronshipError
from ironship.iron.types import Code

PLAN_FILE_VERSION = 1  # of the plan_file section and what apply relies on; bumped on a change
ACTIONS: tuple[Action, ...] = ("create", "update", "unchanged", "orphan", "delete")
REMAKE = "make a new plan with: ironship plan --out FILE"


@dataclass(frozen=True)
class PlanTarget:
    """Where a plan was made for: the target kind, the project and (hosted) the API host.

    Never the token. The local engine's host is left out (None): an engine started for one
    command listens on a new port each time; its project id says which engine it is.
    """

    kind: str
    project_id: str
    host: str | None = None

    @classmethod
    def of(cls, kind: str, project_id: str, host: str | None) -> PlanTarget:
        """The target of a plan; a local engine's host is dropped (it changes per command)."""
        return cls(kind, project_id, None if kind == "local" else host)

    def describe(self) -> str:
        at = f" at {self.host}" if self.host else ""
        return f"{self.kind} project {self.project_id}{at}"

    def same_as(self, other: PlanTarget) -> bool:
        if (self.kind, self.project_id) != (other.kind, other.project_id):
            return False
        return self.host is None or other.host is None or self.host == other.host


@dataclass(frozen=True)
class PlanContext:
    """What a plan was made from, besides the plan: recorded in the plan file."""

    manifest_path: Path
    target: PlanTarget
    environment: str | None = None
    only: tuple[str, ...] = ()
    prune: bool = False
    force: bool = False


@dataclass(frozen=True)
class SeenCode:
    """A code as the plan saw it on the server."""

    id: str
    rev: int
    latest_history_id: str | None = None
    checksum: str | None = None

    def matches(self, code: Code) -> bool:
        """Whether ``code`` is still this revision (id and rev; the history id when known)."""
        if (self.id, self.rev) != (code.id, code.rev):
            return False
        now = history_id(code)
        return self.latest_history_id is None or now is None or now == self.latest_history_id


@dataclass(frozen=True)
class SavedWorker:
    """One worker of a saved plan: its action, its digests, and the revision it was planned
    against (None: not on the server)."""

    name: str
    action: Action
    code_changed: bool
    digest: str | None = None
    files_digest: str | None = None
    smoke_digest: str | None = None
    remote: SeenCode | None = None


@dataclass(frozen=True)
class SavedPlan:
    """A plan file, read and checked."""

    path: Path  # the plan file
    manifest_path: Path  # absolute
    manifest_sha256: str
    target: PlanTarget
    environment: str | None
    only: tuple[str, ...]
    prune: bool
    force: bool
    git_sha: str | None
    git_dirty: bool
    created_at: str
    workers: tuple[SavedWorker, ...]
    display: Plan  # for show: the plan as saved, without the local side
    document: Mapping[str, Any] = field(hash=False, compare=False, repr=False)

    @property
    def has_changes(self) -> bool:
        return self.display.has_changes


class _Reader:
    """Typed access to a JSON document; a wrong value names the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, expected: str) -> NoReturn:
        raise IronshipError(
            f"{self.path}: {where}: expected {expected}",
            hint=f"the plan file was edited or is damaged; {REMAKE}",
        )

    def _get(self, obj: Mapping[str, Any], key: str, where: str, kinds: Any, what: str) -> Any:
        value = obj.get(key)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.fail(f"{where}{key}", what)
        return value

    def obj(self, obj: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
        return cast("Mapping[str, Any]", self._get(obj, key, where, (dict,), "an object"))

    def items(self, obj: Mapping[str, Any], key: str, where: str = "") -> list[Any]:
        return cast("list[Any]", self._get(obj, key, where, (list,), "a list"))

    def text(self, obj: Mapping[str, Any], key: str, where: str = "") -> str:
        return cast(str, self._get(obj, key, where, (str,), "a string"))

    def opt_text(self, obj: Mapping[str, Any], key: str, where: str = "") -> str | None:
        return None if obj.get(key) is None else self.text(obj, key, where)

    def number(self, obj: Mapping[str, Any], key: str, where: str = "") -> int:
        return cast(int, self._get(obj, key, where, (int,), "a whole number"))

    def flag(self, obj: Mapping[str, Any], key: str, where: str = "") -> bool:
        return cast(bool, self._get(obj, key, where, (bool,), "true or false"))

    def texts(self, obj: Mapping[str, Any], key: str, where: str = "") -> tuple[str, ...]:
        values = self.items(obj, key, where)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                self.fail(f"{where}{key}[{i}]", "a string")
        return tuple(values)


def _setting(r: _Reader, doc: Any, where: str) -> SettingChange:
    if not isinstance(doc, dict):
        r.fail(where, "an object")
    key = r.text(doc, "key", f"{where}.")
    if "before" not in doc and "after" not in doc:
        return SettingChange(key, None, None, sensitive=True)
    return SettingChange(key, doc.get("before"), doc.get("after"))


def _files(r: _Reader, doc: Mapping[str, Any], where: str) -> FileChanges | None:
    if doc.get("files") is None:
        return None
    files = r.obj(doc, "files", where)
    inner = f"{where}files."
    return FileChanges(
        r.texts(files, "added", inner),
        r.texts(files, "removed", inner),
        r.texts(files, "changed", inner),
    )


def _seen(r: _Reader, doc: Mapping[str, Any], where: str) -> SeenCode | None:
    if doc.get("before") is None:
        return None
    before = r.obj(doc, "before", where)
    inner = f"{where}before."
    return SeenCode(
        r.text(before, "id", inner),
        r.number(before, "rev", inner),
        r.opt_text(before, "latest_history_id", inner),
        r.opt_text(before, "checksum", inner),
    )


def _worker(r: _Reader, doc: Any, where: str) -> tuple[SavedWorker, WorkerPlan]:
    if not isinstance(doc, dict):
        r.fail(where, "an object")
    at = f"{where}."
    name, action = r.text(doc, "name", at), r.text(doc, "action", at)
    if action not in ACTIONS:
        r.fail(f"{at}action", "one of " + ", ".join(ACTIONS))
    code_changed = r.flag(doc, "code_changed", at)
    after = r.obj(doc, "after", at) if doc.get("after") is not None else {}
    seen = _seen(r, doc, at)
    saved = SavedWorker(
        name,
        action,
        code_changed,
        r.opt_text(after, "digest", f"{at}after."),
        r.opt_text(after, "files_digest", f"{at}after."),
        r.opt_text(after, "smoke_digest", f"{at}after."),
        seen,
    )
    settings = r.items(doc, "settings", at)
    shown = WorkerPlan(
        name,
        action,
        r.texts(doc, "reasons", at),
        code_changed=code_changed,
        settings=tuple(_setting(r, s, f"{at}settings[{i}]") for i, s in enumerate(settings)),
        files=_files(r, doc, at),
        remote=Code(seen.id, name, seen.rev, seen.checksum) if seen else None,
    )
    return saved, shown


def _version(r: _Reader, meta: Mapping[str, Any]) -> None:
    version = meta.get("version")
    if version == PLAN_FILE_VERSION:
        return
    if isinstance(version, int) and not isinstance(version, bool) and version > PLAN_FILE_VERSION:
        raise IronshipError(
            f"{r.path}: plan file version {version} is newer than this ironship reads "
            f"({PLAN_FILE_VERSION})",
            hint="apply it with the ironship version that made it, or make a new plan",
        )
    r.fail("plan_file.version", str(PLAN_FILE_VERSION))


def read_plan(doc: Any, path: Path) -> SavedPlan:
    """Check a plan file's document and read it into a SavedPlan."""
    if not isinstance(doc, dict) or not isinstance(doc.get("plan_file"), dict):
        raise IronshipError(
            f"{path}: not an ironship plan file (it has no plan_file section)",
            hint=f"plan --json prints a plan to read, not one to apply; {REMAKE}",
        )
    r = _Reader(path)
    meta = doc["plan_file"]
    _version(r, meta)
    manifest, target = r.obj(meta, "manifest", "plan_file."), r.obj(meta, "target", "plan_file.")
    git, options = r.obj(meta, "git", "plan_file."), r.obj(meta, "options", "plan_file.")
    pairs = [_worker(r, w, f"workers[{i}]") for i, w in enumerate(r.items(doc, "workers"))]
    display = Plan(
        tuple(p[1] for p in pairs),
        prune=r.flag(options, "prune", "plan_file.options."),
        notes=r.texts(doc, "notes"),
    )
    return SavedPlan(
        path=path,
        manifest_path=(path.parent / r.text(manifest, "path", "plan_file.manifest.")).resolve(),
        manifest_sha256=r.text(manifest, "sha256", "plan_file.manifest."),
        target=PlanTarget(
            r.text(target, "kind", "plan_file.target."),
            r.text(target, "project_id", "plan_file.target."),
            r.opt_text(target, "host", "plan_file.target."),
        ),
        environment=r.opt_text(meta, "environment", "plan_file."),
        only=r.texts(options, "only", "plan_file.options."),
        prune=display.prune,
        force=r.flag(options, "force", "plan_file.options."),
        git_sha=r.opt_text(git, "sha", "plan_file.git."),
        git_dirty=r.flag(git, "dirty", "plan_file.git."),
        created_at=r.text(meta, "created_at", "plan_file."),
        workers=tuple(p[0] for p in pairs),
        display=display,
        document=doc,
    )


def load_plan_file(path: Path) -> SavedPlan:
    """Read a plan file written by ``plan --out``; any problem is an ``IronshipError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IronshipError(f"{path}: no such plan file", hint=REMAKE) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise IronshipError(
            f"{path}: cannot read the plan file: {why or exc}", hint=REMAKE
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IronshipError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}", hint=REMAKE
        ) from None
    return read_plan(doc, path)
