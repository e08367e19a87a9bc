"""SIGKILL of ``ironship apply`` and of the engine at seeded random points, then recovery.

Each round changes every worker's files, starts ``python -m ironship apply -y`` as a real
subprocess against a real ``ironship server`` subprocess (with a task of a worker running,
one that starts a child of its own), and SIGKILLs the apply, the engine, or both, after a
seeded random delay. The engine is then restarted on the same data folder and judged: no
process of a task it no longer runs is alive, a clean apply converges and a plan shows no
changes, ``PRAGMA integrity_check`` says ok, every blob file belongs to a revision and every
revision's blob is there, and no revision belongs to a code that does not exist.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_support import write_tree
from engine_helpers import WAIT, Api, wait_for
from engine_proc import wait_started

from ironship.engine.local import project_credentials

SEED = 20261201
ROUNDS = 10
NAMES = ("w0", "w1", "w2", "w3")
MAX_DELAY = 1.0  # the longest random wait before a kill, in seconds (not a threshold)
UNFINISHED = ("queued", "preparing", "running")
VICTIMS = ("apply", "engine+apply", "apply+engine")

# Each worker starts a child (which inherits TASK_ID), then both sleep a moment; bounded.
WORKER = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3)'])\n"
    "time.sleep(2)\n"
    "print({tag!r})\n"
)

# What ironship's subprocesses must not inherit from the CI running the suite.
_DROP = ("IRON", "GITHUB_")
_DROP_EXACT = frozenset({"CI", "CI_JOB_URL", "BUILD_URL", "GITLAB_USER_LOGIN", "USER"})


@dataclass
class Engine:
    """The current ``ironship server`` process on the data folder, and its API."""

    data: Path
    proc: subprocess.Popen[bytes] | None = None
    api: Api | None = None

    def start(self) -> Api:
        (self.data / "server.json").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "ironship", "server", "--port", "0", "--data", str(self.data)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc = proc
        url = str(wait_started(proc, self.data)["url"])
        project_id, token = project_credentials(self.data)
        self.api = Api(url, project_id, token)
        return self.api

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(WAIT)

    def stop(self) -> None:
        """SIGTERM (the engine ends its tasks), SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    data = tmp_path / "data"
    data.mkdir()
    eng = Engine(data)
    try:
        yield eng
    finally:
        eng.stop()


def _env(api: Api, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP) and k not in _DROP_EXACT}
    env.update(
        IRON_WORKER_CLOUD=api.url,
        IRON_TOKEN=api.token,
        IRON_PROJECT_ID=api.project_id,
        HOME=str(home),
        NO_COLOR="1",
    )
    return env


def _ironship(project: Path, api: Api, *args: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "ironship", *args]
    return subprocess.Popen(
        cmd, cwd=project, env=_env(api, project), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _run(project: Path, api: Api, *args: str) -> tuple[int, str]:
    proc = _ironship(project, api, *args)
    out, err = proc.communicate(timeout=WAIT)
    return proc.returncode, (out + err).decode(errors="replace")


def _write_workers(project: Path, version: int) -> None:
    manifest = "version: 1\nworkers:\n" + "".join(
        f"  {n}:\n    root: {n}\n    entry: main.py\n" for n in NAMES
    )
    files = {f"{n}/main.py": WORKER.format(tag=f"{n} v{version}") for n in NAMES}
    write_tree(project, {"ironship.yml": manifest, **files})


@contextmanager
def _read_only(data: Path) -> Iterator[sqlite3.Connection]:
    """A separate read-only connection to the engine's database (running or not)."""
    with closing(sqlite3.connect(f"file:{data / 'engine.db'}?mode=ro", uri=True, timeout=30)) as db:
        yield db


def _task_pids(task_ids: set[str]) -> list[int]:
    """Live processes whose environment holds ``TASK_ID=`` one of ``task_ids``."""
    marks = {b"TASK_ID=" + t.encode() for t in task_ids}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if marks.intersection(environ.split(b"\0")):  # a zombie's environ reads empty
            found.append(int(entry.name))
    return found


def _finished_tasks(data: Path) -> set[str]:
    with _read_only(data) as db:
        marks = ", ".join("?" * len(UNFINISHED))
        sql = f"SELECT id FROM tasks WHERE status NOT IN ({marks})"
        return {str(r[0]) for r in db.execute(sql, UNFINISHED)}


def _check_store(data: Path, where: str) -> None:
    """integrity_check ok; blob files and revisions match; every revision's code exists."""
    with _read_only(data) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], where
        blobs = {str(r[0]) for r in db.execute("SELECT DISTINCT blob FROM revisions")}
        with_sum = {
            str(r[0]) for r in db.execute("SELECT blob FROM revisions WHERE checksum IS NOT NULL")
        }
        orphans = db.execute(
            "SELECT r.id FROM revisions r LEFT JOIN codes c ON c.id = r.code_id WHERE c.id IS NULL"
        ).fetchall()
        dangling = db.execute(
            "SELECT c.name FROM codes c LEFT JOIN revisions r ON r.id = c.latest_revision_id"
            " WHERE r.id IS NULL"
        ).fetchall()
    files = {p.stem for p in (data / "blobs").glob("*.zip")}
    assert files <= blobs, f"{where}: blobs no revision refers to: {sorted(files - blobs)}"
    assert with_sum <= files, f"{where}: revisions without their blob: {sorted(with_sum - files)}"
    assert orphans == [], f"{where}: revisions of codes that do not exist: {orphans}"
    assert dangling == [], f"{where}: codes whose latest revision is missing: {dangling}"


def _await_uploads(data: Path, apply: subprocess.Popen[bytes], count: int) -> None:
    """Until ``count`` new package files are in the blob store (or apply has ended)."""
    before = set((data / "blobs").glob("*.zip"))
    deadline = time.monotonic() + WAIT
    while apply.poll() is None and time.monotonic() < deadline:
        if len(set((data / "blobs").glob("*.zip")) - before) >= count:
            return
        time.sleep(0.005)


def _crash_round(rng: random.Random, engine: Engine, project: Path, version: int) -> str:
    """One apply (and task) cut by SIGKILL at a random point; returns what was killed."""
    api = engine.api
    assert api is not None
    _write_workers(project, version)
    apply = _ironship(project, api, "apply", "-y")
    if version > 1:  # the workers exist since the previous round's clean apply
        api.queue(rng.choice(NAMES), {}, timeout=30)
    victims = rng.choice(VICTIMS)
    if rng.random() < 0.5:
        time.sleep(rng.uniform(0.0, MAX_DELAY))
    else:
        _await_uploads(engine.data, apply, rng.randrange(len(NAMES)))
    for victim in victims.split("+"):
        if victim == "engine":
            engine.kill()
        elif apply.poll() is None:
            apply.kill()
        time.sleep(rng.uniform(0.0, 0.2))
    apply.communicate(timeout=WAIT)
    return victims


def _recover(engine: Engine, project: Path, where: str) -> None:
    """Restart (when killed), check the leftovers, converge, check again."""
    if engine.proc is None or engine.proc.poll() is not None:
        engine.start()
    api = engine.api
    assert api is not None
    # Recovery ran before the engine answered: no finished task may have a process left.
    pids = _task_pids(_finished_tasks(engine.data))
    assert pids == [], f"{where}: processes of ended tasks still alive: {pids}"
    code, out = _run(project, api, "apply", "-y")
    assert code == 0, f"{where}: {out}"
    code, out = _run(project, api, "plan", "--detailed-exitcode")
    assert code == 0, f"{where}: {out}"
    _check_store(engine.data, where)


@pytest.mark.slow
def test_apply_and_engine_killed_at_random_points_always_recover(
    engine: Engine, tmp_path: Path
) -> None:
    """After SIGKILLs of apply and engine at seeded random points, a restarted engine leaves
    no task process of an ended task, a clean apply converges, and the store is consistent."""
    rng = random.Random(SEED)
    project = tmp_path / "project"
    project.mkdir()
    engine.start()
    for version in range(1, ROUNDS + 1):
        victims = _crash_round(rng, engine, project, version)
        _recover(engine, project, f"seed {SEED} round {version} ({victims} killed)")
    engine.stop()
    _check_store(engine.data, "after the engine stopped")
    with _read_only(engine.data) as db:
        every_task = {str(r[0]) for r in db.execute("SELECT id FROM tasks")}
    assert every_task, "no task ever ran"
    wait_for(lambda: not _task_pids(every_task), "the tasks' processes to end with the engine")
