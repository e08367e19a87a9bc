"""Tasks are contained: they cannot reach the engine's secrets or data folder, nothing they
start outlives them, and their log and directory are capped (docs/architecture.md, the engine).

Runner-level tests start real processes through ``runner.start`` with and without the
sandbox; the engine-level ones run a real engine over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from engine_helpers import WAIT, Api, make_spec, processes_with_arg, run_task, wait_for

from ironship.engine.run import limits, runner, sandbox
from ironship.engine.run.spec import DEFAULT_LOG_LIMIT_MB, RunSpec
from ironship.engine.server import EngineServer

HAS_BWRAP = sandbox.probe().available
needs_bwrap = pytest.mark.skipif(
    not HAS_BWRAP, reason=f"no sandbox on this machine: {sandbox.probe().reason}"
)
MODES = [pytest.param(True, marks=needs_bwrap, id="bwrap"), pytest.param(False, id="no-sandbox")]


def spec_for(tmp_path: Path, files: dict[str, str], file_name: str, **kw: object) -> RunSpec:
    """A spec with a task id of its own (leftover searches never mix two tests' tasks)."""
    runtime = str(kw.pop("runtime", "python"))
    timeout = float(str(kw.pop("timeout", 60.0)))
    base = make_spec(
        tmp_path, files, file_name, runtime, timeout=timeout, task_id=uuid.uuid4().hex[:24]
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def wait_until(predicate: object, what: str) -> None:
    """Poll ``predicate()`` until true (fail-safe bound WAIT)."""
    wait_for(predicate, what)


# A task that starts a child in a new session (out of its process group), waits until that
# child runs, then waits for a "go" file in its directory and exits 0.
ESCAPER_SH = """
setsid sh -c 'exec sleep "$0"' "$1" < /dev/null > /dev/null 2>&1 &
i=0
while [ ! -e go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
echo finished
"""


@pytest.mark.parametrize("sandboxed", MODES)
@pytest.mark.parametrize("end", ["exit", "cancel", "timeout"])
def test_setsid_child_ends_with_its_task(tmp_path: Path, sandboxed: bool, end: str) -> None:
    """A child that left its task's session with setsid is gone once the task has ended,
    whether the task exits, is cancelled or times out."""
    mark = f"{600 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    spec = spec_for(
        tmp_path,
        {"run.sh": ESCAPER_SH.replace('"$1"', mark)},
        "run.sh",
        runtime="sh",
        sandbox=sandboxed,
        timeout=3.0 if end == "timeout" else 60.0,
    )
    task = runner.start(spec)
    wait_until(lambda: processes_with_arg(mark), "the escaped child to start")
    if end == "exit":
        (spec.work_root / spec.task_id / "go").touch()
    elif end == "cancel":
        task.cancel()
    result = task.wait(WAIT)
    assert result is not None
    expected = {"exit": "complete", "cancel": "cancelled", "timeout": "timeout"}[end]
    assert result.status == expected, result
    wait_until(lambda: not processes_with_arg(mark), "the escaped child to be gone")


@pytest.mark.parametrize("sandboxed", MODES)
def test_task_environment_holds_nothing_of_the_engines(
    tmp_path: Path, sandboxed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IRON_TOKEN (or any variable) in the engine's environment is absent from the task's."""
    secret = "engine-secret-" + uuid.uuid4().hex
    monkeypatch.setenv("IRON_TOKEN", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    worker = "import os\nfor k, v in sorted(os.environ.items()):\n    print(k, v)\n"
    result, log = run_task(spec_for(tmp_path, {"w.py": worker}, "w.py", sandbox=sandboxed))
    assert result.status == "complete", result
    assert secret not in log
    assert "IRON_TOKEN" not in log and "TASK_ID" in log


PROBE_WORKER = """
import json, os
p = json.load(open(os.environ["PAYLOAD_FILE"]))

def attempt(label, action):
    try:
        seen = action()
        print(label, "SAW", repr(seen[:2000]))
    except Exception as exc:
        print(label, "REFUSED", type(exc).__name__)

attempt("engine-environ", lambda: open(f"/proc/{p['pid']}/environ", "rb").read())
attempt("db-relative", lambda: open("../../engine.db", "rb").read())
attempt("db-absolute", lambda: open(p["db"], "rb").read())
attempt("data-listing", lambda: repr(os.listdir(p["data"])))
attempt("write-data", lambda: str(open(p["evil"], "w").write("x")))
attempt("write-own", lambda: str(open("mine.txt", "w").write("own file")))
print("own file:", open("mine.txt").read())
"""


@needs_bwrap
def test_sandboxed_task_cannot_reach_engine_secrets_or_data(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under bwrap a task cannot read the engine's environ or database nor write into the
    data folder, while it still runs and writes its own files."""
    secret = "engine-secret-" + uuid.uuid4().hex
    monkeypatch.setenv("IRON_TOKEN", secret)
    with EngineServer(data_dir, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        api.upload("probe", {"w.py": PROBE_WORKER}, "w.py")
        evil = data_dir / "evil.txt"
        payload = {
            "pid": os.getpid(),
            "db": str((data_dir / "engine.db").absolute()),
            "data": str(data_dir.absolute()),
            "evil": str(evil.absolute()),
        }
        task = api.wait(api.queue("probe", payload))
        log = api.log(task["id"])
        assert task["status"] == "complete", (task, log)
        assert "own file: own file" in log
        for label in ("engine-environ", "db-relative", "db-absolute", "write-data"):
            assert f"{label} REFUSED" in log, log
        # An empty read-only tmpfs stands for the data folder: only the way to the task's own.
        assert "data-listing SAW \"['work']\"" in log
        assert secret not in log and eng.token not in log and "SQLite format" not in log
        assert not evil.exists()


@needs_bwrap
def test_sandboxed_runtimes_still_run(tmp_path: Path) -> None:
    """php, node and ruby workers (each installed one) read their payload in the sandbox."""
    workers = {
        "php": ("w.php", "<?php echo 'php ok ', json_encode(getPayload()), \"\\n\";"),
        "node": ("w.js", "console.log('node ok', JSON.stringify(require('node_helper').params))"),
        "ruby": ("w.rb", 'puts "ruby ok #{payload}"'),
    }
    ran = 0
    for runtime, (name, source) in workers.items():
        program = {"php": "php", "node": "node", "ruby": "ruby"}[runtime]
        if shutil.which(program) is None:
            continue
        (tmp_path / runtime).mkdir()
        spec = spec_for(tmp_path / runtime, {name: source}, name, runtime=runtime)
        result, log = run_task(dataclasses.replace(spec, payload='{"n": 7}'))
        assert result.status == "complete", (runtime, result, log)
        assert f"{runtime} ok" in log and "7" in log
        ran += 1
    assert ran >= 1


FLOOD = """
import sys
chunk = b"x" * 65536 + b"\\n"
for _ in range(40000):
    sys.stdout.buffer.write(chunk)
"""


@pytest.mark.parametrize("sandboxed", MODES)
def test_log_flood_is_cut_at_the_cap(tmp_path: Path, sandboxed: bool) -> None:
    """A task writing its log at full speed is stopped at the log cap; its log ends with a
    note and its msg says why."""
    spec = spec_for(tmp_path, {"w.py": FLOOD}, "w.py", sandbox=sandboxed, log_limit_mb=2)
    result = runner.start(spec).wait(WAIT)
    assert result is not None
    assert (result.status, result.error_class) == ("error", "LogLimit")
    assert result.msg == "[ironship: log truncated at 2 MB; task stopped]"
    data = spec.log_path.read_bytes()
    assert data.endswith(b"\n[ironship: log truncated at 2 MB; task stopped]\n")
    assert len(data) <= 2 * limits.MB + 100


MANY_FILES = """
import time
for i in range(400):
    with open(f"f{i}.bin", "wb") as fh:
        fh.write(b"y" * 524288)
    time.sleep(0.01)
print("wrote everything")
"""

BIG_FILE = """
with open("big.bin", "wb") as fh:
    for _ in range(400):
        fh.write(b"z" * 1048576)
print("wrote everything")
"""


@pytest.mark.parametrize("sandboxed", MODES)
@pytest.mark.parametrize("worker", [MANY_FILES, BIG_FILE], ids=["many-files", "one-file"])
def test_disk_filling_task_is_stopped(tmp_path: Path, sandboxed: bool, worker: str) -> None:
    """A task whose directory grows past the disk cap (many files, or one file) is stopped
    with a msg naming the cap."""
    spec = spec_for(
        tmp_path, {"w.py": worker}, "w.py", sandbox=sandboxed, disk_limit_mb=3, log_limit_mb=1
    )
    result, log = run_task(spec)
    assert (result.status, result.error_class) == ("error", "DiskLimit"), (result, log)
    assert result.msg == limits.disk_limit_msg(3)
    assert "wrote everything" not in log
    assert limits.disk_limit_msg(3) in log


def test_engine_answers_while_a_task_floods_its_log(data_dir: Path) -> None:
    """Status requests sent while a task floods its log at full speed are answered, and the
    task ends at the engine's default log cap."""
    gated = (
        "import os, sys, time\n"
        "for _ in range(1200):\n"
        "    if os.path.exists('go'):\n"
        "        break\n"
        "    time.sleep(0.05)\n" + FLOOD.replace("40000", "100000")
    )
    with EngineServer(data_dir, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        api.upload("flood", {"w.py": gated}, "w.py")
        task_id = api.queue("flood", {})
        api.wait_status(task_id, ["running"])
        task_dir = data_dir / "work" / task_id
        wait_until(task_dir.is_dir, "the task directory")
        answers: list[str] = []
        poller = threading.Thread(target=lambda: answers.append(api.task(task_id)["status"]))
        (task_dir / "go").touch()
        poller.start()
        poller.join(WAIT)
        assert answers, "the status request was not answered"
        task = api.wait(task_id)
        assert (task["status"], task["msg"]) == (
            "error",
            limits.log_limit_note(DEFAULT_LOG_LIMIT_MB),
        )
        assert task["log_size"] <= DEFAULT_LOG_LIMIT_MB * limits.MB + 100


def test_sandbox_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """IRONSHIP_SANDBOX=none makes the probe report no sandbox, and says why."""
    monkeypatch.setenv(sandbox.ENV_SWITCH, "none")
    sandbox.probe.cache_clear()
    try:
        box = sandbox.probe()
        assert not box.available and "IRONSHIP_SANDBOX=none" in box.describe()
    finally:
        monkeypatch.delenv(sandbox.ENV_SWITCH)
        sandbox.probe.cache_clear()
