"""After ``kill -9`` of the engine, its tasks' processes do not run on: they die with it (the
sandbox's PID namespace, or the parent-death signal without one), and the restarted engine
kills any leftover before it marks the task "engine restarted".

The engine is a real ``ironship server`` process on 127.0.0.1 with its own data folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from engine_helpers import WAIT, Api, processes_with_arg, wait_for
from engine_proc import wait_started

from ironship.engine.local import project_credentials
from ironship.engine.run import sandbox

needs_bwrap = pytest.mark.skipif(
    not sandbox.probe().available, reason=f"no sandbox here: {sandbox.probe().reason}"
)
MODES = [pytest.param(True, marks=needs_bwrap, id="bwrap"), pytest.param(False, id="no-sandbox")]

# The worker starts a child in a new session (the task id among its arguments), then both
# write a heartbeat file in the task directory every 50 ms (at most 2 minutes).
HEARTBEAT = (
    "import sys, time\n"
    "for i in range(2400):\n"
    "    with open(sys.argv[1], 'w') as fh:\n"
    "        fh.write(str(i))\n"
    "    time.sleep(0.05)\n"
)
WORKER = f"""
import os, subprocess, sys
LOOP = {HEARTBEAT!r}
subprocess.Popen(
    [sys.executable, "-c", LOOP, "hb-child", os.environ["TASK_ID"]],
    start_new_session=True,
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
sys.argv = ["loop", "hb-self"]
exec(LOOP)
"""


@contextmanager
def engine(data: Path, sandboxed: bool) -> Iterator[tuple[subprocess.Popen[bytes], Api]]:
    """``ironship server --port 0`` on ``data``; SIGKILLed at the end if still running."""
    env = dict(os.environ)
    env.pop("IRONSHIP_SANDBOX", None)
    if not sandboxed:
        env["IRONSHIP_SANDBOX"] = "none"
    (data / "server.json").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "ironship", "server", "--port", "0", "--data", str(data)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        info = wait_started(proc, data)
        project_id, token = project_credentials(data)
        yield proc, Api(str(info["url"]), project_id, token)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)


def worker_pids(task_id: str) -> list[int]:
    """The task's own first process (python running w.py), not the child it started."""
    return [pid for pid in processes_with_arg(task_id) if pid in processes_with_arg("w.py")]


@pytest.mark.parametrize("sandboxed", MODES)
def test_tasks_die_with_the_engine_and_restart_checks(tmp_path: Path, sandboxed: bool) -> None:
    """kill -9 of the engine ends its task, child included; the restarted engine
    leaves no process of the task alive when it reports it "engine restarted"."""
    data = tmp_path / "data"
    data.mkdir()
    with engine(data, sandboxed) as (proc, api):
        api.upload("beat", {"w.py": WORKER}, "w.py")
        task_id = api.queue("beat", {})
        task_dir = data / "work" / task_id
        wait_for(lambda: (task_dir / "hb-self").exists(), "the worker's heartbeat")
        wait_for(lambda: (task_dir / "hb-child").exists(), "the child's heartbeat")
        assert worker_pids(task_id)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(WAIT)
        wait_for(lambda: not worker_pids(task_id), "the worker to die with the engine")
        # Its child too: the namespace ends, or without one the host kills what it left.
        wait_for(lambda: not processes_with_arg(task_id), "the task's child to die")
    with engine(data, sandboxed) as (_, api):
        # Recovery ran before the engine answered: nothing of the task may be left now.
        assert processes_with_arg(task_id) == []
        task = api.task(task_id)
        assert (task["status"], task["msg"]) == ("error", "engine restarted")
