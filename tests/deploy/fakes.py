"""An in-memory IronWorker for unit tests of the deploy core (not a network mock).

``FakeIron`` satisfies ``ironship.deploy.ports.DeployClient`` structurally, as the real
``Client`` does, and keeps the API's rules that matter to deploys
(docs/ironworker-api.md §2 (Code packages)): every upload adds a revision, ``rev`` only goes
up, the server's ``latest_checksum`` is the zip's MD5; an upload with a zip replaces every
setting, one without keeps the previous zip and every setting it leaves out. Codes,
revisions and zip bytes live in dicts. ``fail_uploads`` names workers whose uploads fail as a
server would refuse them.

Tasks finish as soon as they are queued, with status ``complete``: the "log" of a task is the
text of its package's ``file_name``, so a test worker "prints" whatever its entry file holds.

Schedules (docs/ironworker-api.md §4 (Schedules)) are kept as the API shows them: creating one
needs its code, ``run_every`` under 60 is refused, ``label`` is kept, cancelling sets status
``cancelled``; they never fire. ``fail_schedules`` names schedules (by the name in their
ironship label) whose creation fails; ``drop_labels`` makes the server forget labels.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ironship.errors import ApiError
from ironship.iron.types import Code, Schedule, Task


class FakeIron:
    """Codes (latest and every revision), zips and tasks of one project, in memory."""

    def __init__(self, stacks: tuple[str, ...] = ("binary", "python", "sh")) -> None:
        self.stacks = list(stacks)
        self.fail_uploads: set[str] = set()
        self.fail_stacks = False
        self.revisions: dict[str, list[Code]] = {}  # code id -> every revision, oldest first
        self.zips: dict[tuple[str, int], bytes] = {}  # (code id, rev) -> the zip in force
        self.data: dict[str, dict[str, Any]] = {}  # code id -> the settings in force
        self.tasks: dict[str, Task] = {}
        self.logs: dict[str, str] = {}
        self.queued: list[tuple[str, str]] = []  # (code name, payload) in queue order
        self.schedules: dict[str, Schedule] = {}  # id -> schedule, in creation order
        self.schedule_calls: list[str] = []  # "create NAME" / "cancel ID", in order
        self.fail_schedules: set[str] = set()
        self.drop_labels = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- CodeSource -------------------------------------------------------------------------

    def list_codes(self) -> list[Code]:
        with self._lock:
            return sorted((revs[-1] for revs in self.revisions.values()), key=lambda c: c.name)

    def get_code(self, code_id: str) -> Code:
        with self._lock:
            if code_id not in self.revisions:
                raise ApiError("GET", f"/codes/{code_id}", 404, "Code not found")
            return self.revisions[code_id][-1]

    def download_code(self, code_id: str, dest: Path, revision: int | None = None) -> Path:
        with self._lock:
            revs = self.revisions.get(code_id, [])
            rev = revision if revision is not None else (revs[-1].rev if revs else 0)
            blob = self.zips.get((code_id, rev))
        if blob is None:
            raise ApiError("GET", f"/codes/{code_id}/download", 404, "no zip for this revision")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(blob)
        return dest

    # -- CodeSink ---------------------------------------------------------------------------

    def upload_code(self, data: Mapping[str, Any], zip_path: Path | None) -> str:
        name = str(data["name"])
        if name in self.fail_uploads:
            raise ApiError("POST", "/codes", 400, f"injected failure for {name}")
        blob = zip_path.read_bytes() if zip_path is not None else None
        with self._lock:
            previous = next((r[-1] for r in self.revisions.values() if r[-1].name == name), None)
            code_id = previous.id if previous else f"{next(self._ids):024x}"
            rev = previous.rev + 1 if previous else 1
            settings = dict(data) if blob is not None else {**self.data.get(code_id, {}), **data}
            if blob is None and previous is not None:
                blob = self.zips.get((code_id, previous.rev))
            if blob is not None:
                self.zips[(code_id, rev)] = blob
            checksum = hashlib.md5(blob, usedforsecurity=False).hexdigest() if blob else None
            code = Code.from_json(
                {**settings, "id": code_id, "rev": rev, "latest_checksum": checksum}
            )
            self.data[code_id] = settings
            self.revisions.setdefault(code_id, []).append(code)
        return code_id

    def delete_code(self, code_id: str) -> None:
        with self._lock:
            if self.revisions.pop(code_id, None) is None:
                raise ApiError("DELETE", f"/codes/{code_id}", 404, "Code not found")
            self.data.pop(code_id, None)

    # -- StackLister ------------------------------------------------------------------------

    def list_stacks(self) -> list[str]:
        if self.fail_stacks:
            raise ApiError("GET", "/2/stacks", 404, "Not found: no endpoint /2/stacks")
        return list(self.stacks)

    # -- SmokeClient ------------------------------------------------------------------------

    def queue_task(self, code_name: str, payload: str, **options: Any) -> str:
        code = next((c for c in self.list_codes() if c.name == code_name), None)
        if code is None:
            raise ApiError("POST", "/tasks", 404, f"Code not found: {code_name}")
        task_id = f"t{next(self._ids):023x}"
        log = self._entry_text(code)
        with self._lock:
            self.queued.append((code_name, payload))
            self.tasks[task_id] = Task(
                task_id, code_name, code.id, str(code.rev), "complete", duration=10
            )
            self.logs[task_id] = log
        return task_id

    def get_task(self, task_id: str) -> Task:
        with self._lock:
            return self.tasks[task_id]

    def get_log(self, task_id: str) -> str | None:
        with self._lock:
            return self.logs.get(task_id)

    def cancel_task(self, task_id: str) -> None:
        """Every fake task has finished already: nothing to cancel."""

    # -- schedules ---------------------------------------------------------------------------

    def list_schedules(self) -> list[Schedule]:
        with self._lock:
            return list(self.schedules.values())

    def get_schedule(self, schedule_id: str) -> Schedule:
        with self._lock:
            if schedule_id not in self.schedules:
                raise ApiError("GET", f"/schedules/{schedule_id}", 404, "Schedule not found")
            return self.schedules[schedule_id]

    def create_schedule(self, schedule: Mapping[str, Any]) -> str:
        label = str(schedule.get("label") or "")
        name = label.rpartition("/")[2].partition(":")[0] if label else ""
        if name in self.fail_schedules:
            raise ApiError("POST", "/schedules", 400, f"injected failure for {name}")
        if schedule.get("run_every") is not None and int(schedule["run_every"]) < 60:
            raise ApiError("POST", "/schedules", 400, "run_every must be at least 60 seconds")
        if not any(c.name == schedule["code_name"] for c in self.list_codes()):
            raise ApiError("POST", "/schedules", 404, "code package not found")
        return self.add_schedule(**{**schedule, "label": None if self.drop_labels else label})

    def cancel_schedule(self, schedule_id: str) -> None:
        with self._lock:
            self.schedule_calls.append(f"cancel {schedule_id}")
            old = self.schedules.get(schedule_id)
            if old is None:
                raise ApiError("POST", f"/schedules/{schedule_id}/cancel", 404, "not found")
            if old.status == "scheduled":
                self.schedules[schedule_id] = Schedule.from_json(
                    {**self._schedule_json(old), "status": "cancelled"}
                )

    def add_schedule(self, **fields: Any) -> str:
        """A schedule as the server would show it, created now (also by other tools)."""
        with self._lock:
            n = next(self._ids)
            sid = f"s{n:023x}"
            created = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
            doc = {"status": "scheduled", **fields, "id": sid, "created_at": created.isoformat()}
            self.schedules[sid] = Schedule.from_json(doc)
            self.schedule_calls.append(f"create {fields.get('label') or fields['code_name']}")
            return sid

    def set_schedule_status(self, schedule_id: str, status: str) -> None:
        with self._lock:
            old = self.schedules[schedule_id]
            doc = {**self._schedule_json(old), "status": status}
            self.schedules[schedule_id] = Schedule.from_json(doc)

    @staticmethod
    def _schedule_json(s: Schedule) -> dict[str, Any]:
        return {k: v for k, v in vars(s).items() if v is not None}

    # -- helpers for tests ------------------------------------------------------------------

    def revs(self, name: str) -> list[int]:
        """Every revision number of the code called ``name``, oldest first."""
        with self._lock:
            return [c.rev for r in self.revisions.values() if r[-1].name == name for c in r]

    def _entry_text(self, code: Code) -> str:
        with self._lock:
            blob = self.zips.get((code.id, code.rev))
        if blob is None or not code.file_name:
            return ""
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            return archive.read(code.file_name).decode("utf-8", "replace")
