"""Without a sandbox no secret is reachable from a task: tasks are started by the task host
(a fresh interpreter with an almost empty environment, holding no credential), the engine is
non-dumpable, and the database holds no plaintext token. A killed task host fails its tasks
with a clear msg and the next task gets a new host."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from engine_helpers import Api, processes_with_arg, wait_for
from engine_proc import engine_process

from ironship.engine.run import limits
from ironship.engine.run.host import HOST_GONE
from ironship.engine.run.memory import DEFAULT_TASK_MEMORY_MB
from ironship.engine.run.spec import DEFAULT_DISK_LIMIT_MB, DEFAULT_LOG_LIMIT_MB
from ironship.engine.server import EngineServer

# Walks its ancestors through /proc and reports, for each, whether its environ could be read
# and what it holds; then tries the engine's environ and memory by the pid it was given.
ANCESTORS = r"""
import json, os
p = json.load(open(os.environ["PAYLOAD_FILE"]))
seen, pid = [], os.getppid()
while pid > 1:
    entry = {"pid": pid, "cmd": open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:6]}
    try:
        entry["environ"] = open(f"/proc/{pid}/environ", "rb").read().decode("latin-1")
    except OSError as exc:
        entry["refused"] = type(exc).__name__
    seen.append(entry)
    stat = open(f"/proc/{pid}/stat").read()
    pid = int(stat.rsplit(")", 1)[1].split()[1])
for what in ("environ", "mem"):
    try:
        with open(f"/proc/{p['engine']}/{what}", "rb") as fh:
            print("engine", what, "SAW", len(fh.read(4096)))
    except OSError as exc:
        print("engine", what, "REFUSED", type(exc).__name__)
for e in seen:
    e["cmd"] = [c.decode("latin-1") for c in e["cmd"]]
print("ANCESTORS" + json.dumps(seen))
"""


def test_unsandboxed_task_reaches_no_engine_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With IRONSHIP_SANDBOX=none and an IRON_TOKEN in the engine's environment: the task's
    ancestors (task host, engine, ...) show no engine variable; the engine's environ and mem
    are refused; engine.db and its WAL hold no plaintext token."""
    fake = "fake-iron-token-" + uuid.uuid4().hex
    monkeypatch.setenv("IRON_TOKEN", fake)
    monkeypatch.setenv("IRONSHIP_SANDBOX", "none")
    with engine_process(tmp_path) as eng:
        eng.api.upload("ancestors", {"w.py": ANCESTORS}, "w.py")
        task = eng.api.wait(eng.api.queue("ancestors", {"engine": eng.pid}))
        log = eng.api.log(task["id"])
        assert task["status"] == "complete", (task, log)
        assert "engine environ REFUSED PermissionError" in log, log
        assert "engine mem REFUSED PermissionError" in log, log
        ancestors = json.loads(log.split("ANCESTORS", 1)[1])
        pids = [a["pid"] for a in ancestors]
        assert eng.pid in pids, ancestors
        host = ancestors[0]
        assert host["pid"] != eng.pid and "ironship.engine.run.host" in " ".join(host["cmd"])
        # The host is non-dumpable too (it holds other tasks' payloads); were it readable,
        # it would show PATH and LANG only.
        assert "refused" in host, host
        for entry in ancestors:
            if entry["pid"] == eng.pid:
                assert "refused" in entry, entry
            assert fake not in entry.get("environ", ""), entry["pid"]
            assert eng.api.token not in entry.get("environ", ""), entry["pid"]
        assert fake not in log and eng.api.token not in log
        stored = b"".join(p.read_bytes() for p in eng.data_dir.glob("engine.db*"))
        assert eng.api.token.encode() not in stored


WAITER = """
import os, time
print("host", os.getppid(), flush=True)
while not os.path.exists("go"):
    time.sleep(0.02)
"""


def test_killed_task_host_fails_its_tasks_and_is_replaced(data_dir: Path) -> None:
    """SIGKILL of the task host (a same-user task could send it): the running task ends as an
    error saying so, its process is gone, and the next task runs on a new host."""
    with EngineServer(data_dir, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        api.upload("waiter", {"w.py": WAITER}, "w.py")
        first = eng.task_host_pid
        assert first is not None
        task_id = api.queue("waiter", {})
        api.wait_status(task_id, ["running"])
        wait_for(lambda: "host" in api.log(task_id), "the task to start")
        assert processes_with_arg(task_id)  # the worker runs with "-id TASK_ID"
        os.kill(first, signal.SIGKILL)
        task = api.wait(task_id)
        assert (task["status"], task["msg"]) == ("error", HOST_GONE), task
        wait_for(lambda: not processes_with_arg(task_id), "the task's process to be gone")
        api.upload("quick", {"q.py": "print('again')"}, "q.py")
        again = api.wait(api.queue("quick", {}))
        assert again["status"] == "complete", again
        assert eng.task_host_pid not in (None, first)


def test_task_waiting_in_the_host_stays_queued_and_cancels_without_running(
    data_dir: Path, tmp_path: Path
) -> None:
    """--workers 1: the next task is handed to the host early but stays 'queued' (no
    start_time) while the first runs; cancelled then, it never runs; one left waiting starts
    as soon as the first ends."""
    with EngineServer(data_dir, workers=1, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        api.upload("tool", {"w.py": TOOL_WAIT}, "w.py")
        release = tmp_path / "release"
        first = api.queue("tool", {"print": "first", "wait_for": str(release)})
        api.wait_status(first, ["running"])
        second = api.queue("tool", {"print": "second ran"})
        third = api.queue("tool", {"print": "third ran"})
        for _ in range(10):
            assert api.task(second)["status"] == "queued"
            assert api.task(second).get("start_time") is None
            time.sleep(0.02)
        api.ok("POST", f"/tasks/{second}/cancel")
        release.touch()
        assert api.wait(first)["status"] == "complete"
        done = api.wait(third)
        assert done["status"] == "complete", done
        assert "third ran" in api.log(third)
        cancelled = api.wait(second)
        assert cancelled["status"] == "cancelled" and cancelled.get("start_time") is None
        assert not (data_dir / "work" / second).exists()


TOOL_WAIT = """
import json, os, sys, time
p = json.load(open(os.environ["PAYLOAD_FILE"]))
print(p["print"], flush=True)
while "wait_for" in p and not os.path.exists(p["wait_for"]):
    time.sleep(0.01)
"""


SIGINT_WAITER = """
import os, signal, time
print("host", os.getppid(), "sigint", signal.getsignal(signal.SIGINT), flush=True)
while not os.path.exists("go"):
    time.sleep(0.02)
print("done", flush=True)
"""


def test_task_host_ignores_sigint_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A terminal's Ctrl-C reaches the engine's whole process group, the task host included:
    SIGINT sent to the host leaves it and its running task alone, nothing is printed on the
    engine's stderr, the engine still ends the task, and the task itself has SIGINT's default
    action (not the host's ignore)."""
    monkeypatch.setenv("IRONSHIP_SANDBOX", "none")  # the task's folder is the one in DATA/work
    with engine_process(tmp_path) as eng:
        eng.api.upload("sigint", {"w.py": SIGINT_WAITER}, "w.py")
        task_id = eng.api.queue("sigint", {})
        eng.api.wait_status(task_id, ["running"])
        wait_for(lambda: "host" in eng.api.log(task_id), "the task to start")
        words = eng.api.log(task_id).split()
        host_pid = int(words[words.index("host") + 1])
        assert "default_int_handler" in words[words.index("sigint") + 3], words
        for _ in range(3):
            os.kill(host_pid, signal.SIGINT)
            time.sleep(0.05)
        assert Path(f"/proc/{host_pid}").exists()
        assert eng.api.task(task_id)["status"] == "running"
        (eng.data_dir / "work" / task_id / "go").touch()
        task = eng.api.wait(task_id)
        assert task["status"] == "complete", (task, eng.api.log(task_id))
    err = eng.log_file.read_text(errors="replace")
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


LIMITS = r"""
import os
limits = {}
for line in open("/proc/self/limits").read().splitlines()[1:]:
    name, soft, hard = line[:26].strip(), *line[26:].split()[:2]
    limits[name] = (soft, hard)
caps = dict(line.split(":\t") for line in open("/proc/self/status").read().splitlines()
            if line.startswith("Cap"))
print("data", *limits["Max data size"], "fsize", *limits["Max file size"])
print("capeff", caps["CapEff"].strip(), "capbnd", caps["CapBnd"].strip())
print("sigint", __import__("signal").getsignal(2) is __import__("signal").default_int_handler)
"""


@pytest.mark.parametrize("sandbox_env", ["auto", "none"])
def test_tasks_get_their_caps_however_the_host_starts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: str
) -> None:
    """Whether the host starts a task without a preexec_fn (bubblewrap: the host holds the
    caps as its own and the task inherits them) or with one (no sandbox), the task's memory
    and file-size caps are exactly the engine's, soft and hard, it has no capability even
    when the engine runs as root (``bwrap --cap-drop ALL``; without a sandbox the host drops
    them), and SIGINT has its default action."""
    monkeypatch.setenv("IRONSHIP_SANDBOX", sandbox_env)  # the engine runs in a subprocess
    with engine_process(tmp_path) as eng:
        eng.api.upload("limits", {"w.py": LIMITS}, "w.py")
        task_id = eng.api.queue("limits", {})
        task = eng.api.wait(task_id)
        log = eng.api.log(task_id)
    assert task["status"] == "complete", (task, log)
    fsize = str(limits.file_limit(DEFAULT_DISK_LIMIT_MB, DEFAULT_LOG_LIMIT_MB))
    data = str(DEFAULT_TASK_MEMORY_MB * limits.MB)
    assert f"data {data} {data} fsize {fsize} {fsize}" in log, log
    assert "capeff 0000000000000000" in log, log
    if os.geteuid() == 0 and sandbox_env == "none":  # none to gain back by an exec either
        assert "capbnd 0000000000000000" in log, log
    assert "sigint True" in log, log


# Reports its parent-death signal (PR_GET_PDEATHSIG: set only by a preexec_fn) and its host,
# starts a child in a new session, then both wait for the task folder's "go".
UNARMED = r"""
import ctypes, os, subprocess, sys, time
sig = ctypes.c_int(-1)
ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)
subprocess.Popen([sys.executable, "-c", "import os, time\nwhile not os.path.exists('go'): "
                  "time.sleep(0.02)", "child-of", os.environ["TASK_ID"]], start_new_session=True)
print("pdeathsig", sig.value, "host", os.getppid(), flush=True)
while not os.path.exists("go"):
    time.sleep(0.02)
"""


def test_unsandboxed_task_starts_without_preexec_fn_and_still_dies_with_its_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a sandbox the host starts a task without a preexec_fn (no parent-death signal
    of its own: the vfork path), yet nothing of it outlives the host: SIGKILL of the host
    ends the task with the host-gone error and its first process and the child it started
    in a new session are killed (the engine's sweep of the task's mark); the next task runs
    on a new host. (Dying with the engine: ``test_engine_crash``.)"""
    monkeypatch.setenv("IRONSHIP_SANDBOX", "none")
    with engine_process(tmp_path) as eng:
        eng.api.upload("unarmed", {"w.py": UNARMED}, "w.py")
        task_id = eng.api.queue("unarmed", {})
        wait_for(lambda: "host" in eng.api.log(task_id), "the task to start")
        wait_for(lambda: len(processes_with_arg(task_id)) == 2, "the task's child")
        words = eng.api.log(task_id).split()
        assert words[words.index("pdeathsig") + 1] == "0", words
        os.kill(int(words[words.index("host") + 1]), signal.SIGKILL)
        task = eng.api.wait(task_id)
        assert (task["status"], task["msg"]) == ("error", HOST_GONE), task
        wait_for(lambda: not processes_with_arg(task_id), "the task's processes to be gone")
        eng.api.upload("quick", {"q.py": "print('again')"}, "q.py")
        again = eng.api.wait(eng.api.queue("quick", {}))
        assert again["status"] == "complete", again


# Starts a child in a new session (its mark among the arguments), then waits for the task
# folder's "go" when the payload asks it to.
LEAVER = r"""
import json, os, subprocess, sys, time
p = json.load(open(os.environ["PAYLOAD_FILE"]))
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", p["mark"]],
                 start_new_session=True)
print("started", flush=True)
while p["wait"] and not os.path.exists("go"):
    time.sleep(0.02)
"""


def test_leftovers_of_an_ended_task_die_while_another_task_and_its_child_run_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a sandbox the host looks for an ended task's leftovers among its own other
    children only (not below the tasks still running): a child the ended task started in a
    new session is killed, the running task's own such child is left alone until its task
    ends too."""
    monkeypatch.setenv("IRONSHIP_SANDBOX", "none")
    stays, goes = f"stays-{uuid.uuid4().hex}", f"goes-{uuid.uuid4().hex}"
    with engine_process(tmp_path) as eng:
        eng.api.upload("leaver", {"w.py": LEAVER}, "w.py")
        running = eng.api.queue("leaver", {"mark": stays, "wait": True})
        wait_for(lambda: "started" in eng.api.log(running), "the first task to start")
        wait_for(lambda: processes_with_arg(stays), "the first task's child")
        ended = eng.api.wait(eng.api.queue("leaver", {"mark": goes, "wait": False}))
        assert ended["status"] == "complete", ended
        wait_for(lambda: not processes_with_arg(goes), "the ended task's child to be gone")
        assert processes_with_arg(stays)
        assert eng.api.task(running)["status"] == "running"
        (eng.data_dir / "work" / running / "go").touch()
        assert eng.api.wait(running)["status"] == "complete"
        wait_for(lambda: not processes_with_arg(stays), "the second child to be gone")
