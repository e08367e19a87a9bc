"""``ironship dev`` as a real process in a copy of the example project: the first round, a
saved change deployed and smoke-tested, a broken edit and its fix, a broken manifest, Ctrl-C.

Output is awaited line by line with a generous deadline: a missing line fails the test, how
long it took never does (speed is measured in bench/dev_bench.py).
"""

from __future__ import annotations

import fcntl
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Project, new_project, run_cli

from ironship.engine.server import EngineServer

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # seconds: a fail-safe for a line that never comes, not a measured bound


class Dev:
    """A running ``ironship dev`` whose output (stdout and stderr merged) is read line by line."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None) -> None:
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("IRON", "GITHUB_")) and k not in ("CI", "USER")
        }
        environ.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "HOME": str(project)})
        environ.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ironship", "dev", *args],
            cwd=project,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, *texts: str) -> list[str]:
        """Read until every one of ``texts`` has appeared, in order, on lines read from now
        on; the lines read. Fails (with the whole output) at the deadline or at exit."""
        got: list[str] = []
        wanted = list(texts)
        while wanted:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:
                pytest.fail(f"no {wanted[0]!r} within {DEADLINE}s:\n" + "\n".join(self.seen))
            if line is None:
                pytest.fail(f"dev ended before {wanted[0]!r}:\n" + "\n".join(self.seen))
            self.seen.append(line)
            got.append(line)
            if wanted[0] in line:
                wanted.pop(0)
        return got

    def interrupt(self) -> int:
        """Ctrl-C; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=DEADLINE)
        while (line := self.lines.get(timeout=DEADLINE)) is not None:
            self.seen.append(line)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(DEADLINE)  # the pipe ends with the process
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def dev_project(tmp_path: Path) -> Path:
    """The example Python worker beside the dev test manifest (tests/cli/data/dev.yml)."""
    shutil.copytree(REPO / "examples/workers/fib-python", tmp_path / "workers/fib-python")
    shutil.copy(REPO / "tests/cli/data/dev.yml", tmp_path / "ironship.yml")
    return tmp_path


@pytest.fixture
def running(dev_project: Path) -> Iterator[Dev]:
    dev = Dev(dev_project)
    try:
        yield dev
    finally:
        dev.kill()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def engine_lock_free(data: Path) -> bool:
    """Whether no engine holds the data folder's lock (an engine holds it while it runs)."""
    with open(data / "engine.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def processes_naming(text: str) -> list[int]:
    """Live processes (not this one) whose command line holds ``text``: a task running an
    entry file, or anything started under a project folder."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
                state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if text.encode() in cmdline and state not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def test_dev_deploys_each_saved_change_and_keeps_watching(dev_project: Path, running: Dev) -> None:
    """The first round deploys; each save is uploaded and smoke-tested, a failing edit shows
    its failure and the session goes on, a broken manifest shows its error, Ctrl-C ends it
    with the engine stopped and exit 0."""
    dev = running
    first = dev.wait_for("fib: created rev 1", "smoke fib: 2 passed", "done in", "watching")
    assert any("start:" in line for line in first)
    worker = dev_project / "workers/fib-python/fib.py"

    with worker.open("a") as f:
        f.write("# a comment, saved\n")
    block = dev.wait_for("changed: workers/fib-python/fib.py", "fib: updated", "smoke fib:")
    assert "(fib.py)" in block[-2] and "rev" in block[-2]
    assert block[-1].strip() == "smoke fib: 2 passed"
    dev.wait_for("done in")

    edit(worker, "seq.append(b)", "seq.append(b + 1)")  # wrong numbers: the output test fails
    block = dev.wait_for("fib: updated", "smoke fib: 1 passed, 1 FAILED: first-hundred")
    failed = dev.wait_for("still watching")
    assert any("output does not equal" in line for line in failed)

    edit(worker, "seq.append(b + 1)", "seq.append(b)")
    dev.wait_for("fib: updated", "smoke fib: 2 passed", "done in")

    manifest = dev_project / "ironship.yml"
    edit(manifest, "payload: {max: 100}", "payload: {max: 100")
    broken = dev.wait_for("changed: ironship.yml", "still watching")
    assert any("error:" in line for line in broken)
    assert any("ironship.yml:" in line and "invalid YAML" in line for line in broken)
    edit(manifest, "payload: {max: 100", "payload: {max: 100}")
    dev.wait_for("changed: ironship.yml", "no changes: nothing uploaded", "done in")

    # swap files and ironship's own state never start a round; the next real save does
    (worker.parent / ".fib.py.swp").write_text("vim")
    (worker.parent / "4913").write_text("")
    with worker.open("a") as f:
        f.write("# another\n")
    block = dev.wait_for("changed:")
    assert block[-1].endswith("changed: workers/fib-python/fib.py")
    dev.wait_for("done in")

    assert dev.interrupt() == 0, "\n".join(dev.seen)
    assert dev.seen[-1] == "stopped"
    assert not any("Traceback" in line for line in dev.seen), "\n".join(dev.seen)
    data = dev_project / ".ironship/engine"
    assert engine_lock_free(data)
    assert not (data / "server.json").exists()
    assert processes_naming(str(dev_project)) == []


SLEEPER = "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"
SLEEPER_MANIFEST = """\
version: 1
workers:
  sleeper:
    root: w
    entry: dev_sleeper_task.py
    runtime: python
    timeout: 300
    smoke:
      - name: sleeps
        timeout: 240
"""


def test_ctrl_c_during_smoke_tests_gives_the_round_up_and_stops_its_tasks(tmp_path: Path) -> None:
    """Ctrl-C while a smoke test's task runs: the round is given up at once, the engine stops
    with the task killed, and dev exits 0."""
    (tmp_path / "w").mkdir()
    (tmp_path / "w/dev_sleeper_task.py").write_text(SLEEPER)
    (tmp_path / "ironship.yml").write_text(SLEEPER_MANIFEST)
    dev = Dev(tmp_path)
    try:
        for _ in range(int(DEADLINE / 0.05)):  # until the smoke test's task is running
            if processes_naming("dev_sleeper_task.py"):
                break
            time.sleep(0.05)
        assert processes_naming("dev_sleeper_task.py"), "\n".join(dev.seen)
        assert dev.interrupt() == 0, "\n".join(dev.seen)
    finally:
        dev.kill()
    assert any("given up" in line for line in dev.seen), "\n".join(dev.seen)
    assert dev.seen[-1] == "stopped"
    assert processes_naming("dev_sleeper_task.py") == []
    assert engine_lock_free(tmp_path / ".ironship/engine")


def test_dev_against_a_hosted_target_needs_yes(
    dev_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--target iron without --yes is refused before anything connects, with the way out."""
    res = run_cli(["dev", "--target", "iron"], capsys, monkeypatch, cwd=dev_project)
    assert res.code == 1
    assert "uploads every saved change to IronWorker" in res.err
    assert "--yes" in res.err and "Traceback" not in res.err
    assert not (dev_project / ".ironship").exists()


def test_dev_refuses_an_unknown_worker_before_it_starts(
    dev_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--only with a name the manifest lacks is an error with the names it has; no engine."""
    res = run_cli(["dev", "--only", "fibb"], capsys, monkeypatch, cwd=dev_project)
    assert res.code == 1
    assert "no worker named 'fibb'" in res.err and "workers in this manifest: fib" in res.err
    assert not (dev_project / ".ironship").exists()


def test_dev_with_target_iron_and_yes_deploys_there(
    dev_project: Path, engine: EngineServer
) -> None:
    """--target iron --yes deploys each round to the credentials' server, not a local engine;
    without --target, credentials in the environment are left alone (the local engine)."""
    project: Project = new_project(engine, "dev")
    dev = Dev(dev_project, "--target", "iron", "--yes", env=project.env)
    try:
        dev.wait_for("target: IronWorker", "fib: created rev 1", "smoke fib: 2 passed", "watching")
        assert dev.interrupt() == 0, "\n".join(dev.seen)
    finally:
        dev.kill()
    assert [c.name for c in project.client().list_codes()] == ["fib"]
    assert not (dev_project / ".ironship/engine").exists()

    local = Dev(dev_project, env=project.env)
    try:
        local.wait_for("target: local engine", "fib: created rev 1", "watching")
        assert local.interrupt() == 0, "\n".join(local.seen)
    finally:
        local.kill()
