"""One worker run on this machine, exactly as the engine runs a task of the deployed worker.

What the engine would read from its database for such a task is built from the working tree
instead: the package (``packaging.contents.select_package``: the worker's files, vendored
dependencies and the generated ``__runner__.sh``, zipped by ``packaging.archive`` as for an
upload), the upload's settings and stamps (``deploy.settings.upload_data``: runtime,
file_name, stack, config, env_vars), the payload and a fresh task id. The engine's own runner
(``engine/run/runner.py`` ``start``) then runs it as the dispatcher does
(``engine/run/dispatch.py``): the same task directory, arguments (``-payload``, ``-config``,
``-id``, ``-d``), environment, sandbox and per-task caps. Nothing is uploaded and no server
runs. Everything lives in one scratch folder under ``.ironship/build/``
(``packaging.buildroot``), removed when the run ends, even after a ``kill -9``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ironship import paths
from ironship.deploy.pipeline import StampSource, stamp_source
from ironship.deploy.settings import local_worker, needs_key, upload_data
from ironship.deploy.stamps import DIGEST_KEY
from ironship.engine.run import runner
from ironship.engine.run.memory import DEFAULT_TASK_MEMORY_MB
from ironship.engine.run.spec import RunResult, RunSpec
from ironship.manifest.models import Manifest, Worker
from ironship.packaging.archive import write_zip
from ironship.packaging.buildroot import build_folder
from ironship.packaging.contents import select_package

# What the engine gives a task queued without a timeout (engine/http/parse.py MAX_TIMEOUT).
MAX_TIMEOUT = 3600
FOLLOW_POLL = 0.05  # seconds between two reads of a growing log
_BY_EXTENSION = {".py": "python", ".php": "php", ".js": "node", ".rb": "ruby", ".sh": "sh"}

Write = Callable[[bytes], object]


class Packages:
    """Each worker's zip and upload ``data``, built once (thread-safe) in a scratch folder."""

    def __init__(self, manifest: Manifest, folder: Path, stamps: StampSource | None = None):
        self._manifest = manifest
        self._folder = folder
        self._stamps = stamps or stamp_source(manifest.path)
        self._built: dict[str, tuple[Path, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self._folder

    def package(self, worker: Worker) -> tuple[Path, dict[str, Any]]:
        """The worker's zip and the ``data`` its upload would carry (secrets revealed)."""
        with self._lock:
            if worker.name not in self._built:
                self._built[worker.name] = self._build(worker)
            return self._built[worker.name]

    def _build(self, worker: Worker) -> tuple[Path, dict[str, Any]]:
        fileset = select_package(worker, self._manifest.directory)
        # A digest of secret settings is keyed by the target's token, which a local run has
        # not: it is computed with a throw-away key and left out of the environment.
        keyed = needs_key(worker)
        local = local_worker(worker, fileset, secrets.token_bytes(32) if keyed else None)
        data = upload_data(local, self._stamps(worker))
        if keyed:
            data["env_vars"].pop(DIGEST_KEY, None)
        dest = self._folder / "zips" / f"{secrets.token_hex(6)}.zip"
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_zip(fileset, dest)
        return dest, data

    def spec(
        self,
        worker: Worker,
        payload: str,
        *,
        config: str | None = None,
        timeout: float | None = None,
    ) -> RunSpec:
        """The RunSpec of one task of ``worker``: ``config`` replaces the upload's config
        when given; ``timeout`` defaults to what the engine gives a task queued without one."""
        zip_path, data = self.package(worker)
        task_id = secrets.token_hex(12)  # the engine's id shape (engine/state/model.py)
        file_name = str(data["file_name"])
        return RunSpec(
            task_id=task_id,
            zip_path=zip_path,
            runtime=str(data.get("runtime") or _runtime_by_extension(file_name)),
            file_name=file_name,
            payload=payload,
            config=config if config is not None else data.get("config"),
            env_vars={str(k): str(v) for k, v in (data.get("env_vars") or {}).items()},
            timeout=float(timeout if timeout and timeout > 0 else MAX_TIMEOUT),
            work_root=self._folder / "work",
            log_path=self._folder / "logs" / f"{task_id}.log",
            stack=data.get("stack") or None,
            memory_mb=DEFAULT_TASK_MEMORY_MB,
            # The task sees nothing of .ironship/ (the local engine's data, tokens included).
            hidden=(paths.state_dir(self._manifest.directory).absolute(),),
        )


def _runtime_by_extension(file_name: str) -> str:
    """As the engine runs a package uploaded without a runtime (engine/run/dispatch.py)."""
    return next((r for ext, r in _BY_EXTENSION.items() if file_name.endswith(ext)), "")


@contextmanager
def packages(manifest: Manifest, stamps: StampSource | None = None) -> Iterator[Packages]:
    """Packages built in a fresh scratch folder under ``.ironship/build/``, removed after."""
    with build_folder(manifest.directory, "run") as folder:
        yield Packages(manifest, folder, stamps)


def start(spec: RunSpec) -> runner.TaskProcess:
    """Start the task as the dispatcher does: its log exists before the process runs."""
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    spec.log_path.touch()
    return runner.start(spec)


def note_unstarted(spec: RunSpec, result: RunResult) -> None:
    """When no process ran (missing runtime, bad package), the log says why, as on the engine."""
    if result.status == "error" and result.exit_code is None and result.error_class is None:
        with spec.log_path.open("a", encoding="utf-8") as fh:
            fh.write((result.msg or "the task could not start") + "\n")


def follow(
    proc: runner.TaskProcess,
    spec: RunSpec,
    write: Write,
    poll: float = FOLLOW_POLL,
) -> RunResult:
    """Copy the task's log to ``write`` as it grows, until the task has ended."""
    shown = 0
    while True:
        result = proc.wait(poll)
        if result is not None:
            note_unstarted(spec, result)
            copy_new(spec.log_path, shown, write)
            return result
        shown = copy_new(spec.log_path, shown, write)


def copy_new(log_path: Path, offset: int, write: Write) -> int:
    """Write what ``log_path`` holds past ``offset``; return the new offset."""
    try:
        with log_path.open("rb") as fh:
            fh.seek(offset)
            while chunk := fh.read(65536):
                write(chunk)
                offset += len(chunk)
    except FileNotFoundError:
        pass
    return offset


def exit_code(result: RunResult) -> int:
    """The worker's own exit code; 1 when it failed without one (killed, timed out, never
    started) or exited 0 but was stopped by a cap."""
    if result.exit_code:
        return result.exit_code
    return 0 if result.status == "complete" else 1


def wait_ended(proc: runner.TaskProcess, grace: float = runner.KILL_GRACE + 3.0) -> None:
    """After a cancel: wait until the runner has killed the group and cleaned up."""
    deadline = time.monotonic() + grace
    while proc.poll() is None and time.monotonic() < deadline:
        proc.wait(0.1)
