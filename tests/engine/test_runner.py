"""The task runner: a real worker process per task, its end, its log, cancel and timeout.

Each test starts real processes in a temporary directory through ``runner.start`` and reads
the RunResult and the log, as the dispatcher does.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
from engine_helpers import WAIT, make_spec, run_task, wait_for_log

from ironship.engine.run import runner
from ironship.engine.run.spec import RunResult, RunSpec


def is_alive(pid: int) -> bool:
    """True when ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + WAIT
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not is_alive(pid)


GRANDCHILD_SH = """
sleep 30 &
echo "child $!"
echo "started" >&2
wait
"""


def unsandboxed(spec: RunSpec) -> RunSpec:
    """``spec`` run without the sandbox: ``$!`` is then a pid of this machine, not of the
    task's PID namespace (where the sandbox ends every process: see test_containment)."""
    return dataclasses.replace(spec, sandbox=False)


def child_pid(log: str) -> int:
    line = next(line for line in log.splitlines() if line.startswith("child "))
    return int(line.split()[1])


def test_nonzero_exit_is_error_with_stderr_tail(tmp_path: Path) -> None:
    """Exit 3 is an error whose msg is the end of stderr and whose class is 'Process Exit 3'."""
    worker = (
        "import sys\n"
        "print('to stdout')\n"
        "for i in range(500):\n"
        "    print(f'noise line {i}', file=sys.stderr)\n"
        "print('the real problem', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    result, log = run_task(make_spec(tmp_path, {"w.py": worker}, "w.py"))
    assert result.status == "error"
    assert result.exit_code == 3
    assert result.error_class == "Process Exit 3"
    assert result.msg is not None
    assert result.msg.endswith("the real problem")
    assert "noise line 0\n" not in result.msg  # only the tail is kept
    assert result.msg.split("\n")[0].startswith("noise line")  # and it starts on a whole line
    assert "to stdout" in log and "noise line 0" in log and "the real problem" in log


def test_error_without_stderr_names_the_status(tmp_path: Path) -> None:
    """A silent failure still gets a msg."""
    result, _ = run_task(make_spec(tmp_path, {"w.sh": "exit 7\n"}, "w.sh", "sh"))
    assert result.status == "error"
    assert result.msg == "process exited with status 7"
    assert result.error_class == "Process Exit 7"


def test_killed_by_signal_is_error(tmp_path: Path) -> None:
    """A worker killed by a signal it did not expect ends in error, naming the signal."""
    worker = "echo dying >&2\nkill -KILL $$\n"
    result, _ = run_task(make_spec(tmp_path, {"w.sh": worker}, "w.sh", "sh"))
    assert result.status == "error"
    assert result.exit_code is None
    assert result.msg is not None and "SIGKILL" in result.msg and "dying" in result.msg


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """Past its timeout a task is 'timeout' and its grandchild process is killed too."""
    spec = unsandboxed(make_spec(tmp_path, {"w.sh": GRANDCHILD_SH}, "w.sh", "sh", timeout=1.5))
    result, log = run_task(spec)
    assert result.status == "timeout"
    assert result.error_class is None
    assert wait_gone(child_pid(log))


def test_cancel_kills_the_group_and_reports_cancelled(tmp_path: Path) -> None:
    """cancel() stops a running task, grandchild included, and its status is 'cancelled'."""
    spec = unsandboxed(make_spec(tmp_path, {"w.sh": GRANDCHILD_SH}, "w.sh", "sh"))
    task = runner.start(spec)
    log = wait_for_log(spec, "started")
    assert task.poll() is None
    task.cancel()
    result = task.wait(WAIT)
    assert result is not None and result.status == "cancelled"
    assert wait_gone(child_pid(log))
    assert task.poll() == result


def test_cancel_escalates_to_sigkill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that ignores SIGTERM is killed with SIGKILL after the grace period."""
    monkeypatch.setattr(runner, "KILL_GRACE", 0.2)
    worker = "trap '' TERM\necho ready\nwhile :; do sleep 0.05; done\n"
    spec = make_spec(tmp_path, {"w.sh": worker}, "w.sh", "sh")
    task = runner.start(spec)
    wait_for_log(spec, "ready")
    task.cancel()
    result = task.wait(WAIT)
    assert result is not None and result.status == "cancelled"


def test_cancel_after_the_end_changes_nothing(tmp_path: Path) -> None:
    """Cancelling a finished task keeps its real result."""
    task = runner.start(make_spec(tmp_path, {"w.sh": "echo ok\n"}, "w.sh", "sh"))
    result = task.wait(WAIT)
    task.cancel()
    task.kill()
    assert result is not None and result.status == "complete"
    assert task.poll() == result


def test_kill_for_engine_shutdown(tmp_path: Path) -> None:
    """kill() ends the process group at once and cleans up the task directory."""
    spec = unsandboxed(make_spec(tmp_path, {"w.sh": GRANDCHILD_SH}, "w.sh", "sh"))
    task = runner.start(spec)
    log = wait_for_log(spec, "started")
    task.kill()
    assert wait_gone(child_pid(log))
    result = task.poll()
    assert result is not None and result.status == "error"
    assert not (tmp_path / "work" / spec.task_id).exists()


def test_background_children_do_not_outlive_a_finished_task(tmp_path: Path) -> None:
    """A worker that exits leaving a background process behind completes, and the process dies."""
    worker = 'sleep 30 &\necho "child $!"\n'
    result, log = run_task(unsandboxed(make_spec(tmp_path, {"w.sh": worker}, "w.sh", "sh")))
    assert result.status == "complete"
    assert wait_gone(child_pid(log))


def test_log_is_captured_while_the_task_runs(tmp_path: Path) -> None:
    """The first line is in the log while the task is still running; poll() does not block."""
    go = tmp_path / "go"
    worker = (
        "import os, sys, time\n"
        "print('first line')\n"
        "print('first error', file=sys.stderr)\n"
        f"while not os.path.exists({str(go)!r}):\n"
        "    time.sleep(0.01)\n"
        "print('last line')\n"
    )
    spec = make_spec(tmp_path, {"w.py": worker}, "w.py")
    task = runner.start(spec)
    wait_for_log(spec, "first line")
    text = wait_for_log(spec, "first error")
    assert "last line" not in text
    assert task.poll() is None
    go.touch()
    result = task.wait(WAIT)
    assert result is not None and result.status == "complete"
    assert spec.log_path.read_text().endswith("last line\n")


def test_log_is_appended_to(tmp_path: Path) -> None:
    """The runner appends to an existing log instead of replacing it."""
    spec = make_spec(tmp_path, {"w.sh": "echo second\n"}, "w.sh", "sh")
    spec.log_path.parent.mkdir(parents=True)
    spec.log_path.write_text("first\n")
    result, log = run_task(spec)
    assert result.status == "complete"
    assert log == "first\nsecond\n"


def test_task_dir_is_fresh_and_removed_afterwards(tmp_path: Path) -> None:
    """Leftovers of an earlier run are gone before the task starts, and its dir after it ends."""
    spec = make_spec(
        tmp_path, {"pkg/data.txt": "data", "w.sh": "ls -A; cat pkg/data.txt\n"}, "w.sh", "sh"
    )
    stale = tmp_path / "work" / spec.task_id
    stale.mkdir(parents=True)
    (stale / "stale.txt").write_text("old")
    result, log = run_task(spec)
    assert result.status == "complete"
    assert "stale.txt" not in log and "data" in log
    assert not stale.exists()


def test_read_only_folders_are_still_removed(tmp_path: Path) -> None:
    """A worker that removes write permission from its folders does not leave them behind."""
    worker = "mkdir -p locked/inner && touch locked/inner/f && chmod 500 locked/inner locked\n"
    spec = make_spec(tmp_path, {"w.sh": worker}, "w.sh", "sh")
    result, _ = run_task(spec)
    assert result.status == "complete"
    assert not (tmp_path / "work" / spec.task_id).exists()


def test_bad_env_var_or_payload_never_raises(tmp_path: Path) -> None:
    """An env var with a NUL byte fails the task; a lone surrogate in the payload is replaced."""
    bad_env = make_spec(tmp_path, {"w.sh": "true\n"}, "w.sh", "sh", env_vars={"X": "a\0b"})
    result, _ = run_task(bad_env)
    assert result.status == "error" and result.msg is not None
    odd = make_spec(tmp_path, {"w.sh": "cat $PAYLOAD_FILE\n"}, "w.sh", "sh", payload="a\ud800b")
    result, log = run_task(odd)
    assert result.status == "complete"
    assert log == "a?b"


def test_many_tasks_polled_while_another_thread_cancels(tmp_path: Path) -> None:
    """A polling loop over several tasks sees each end, while cancels come from other threads."""
    worker = "echo started\nsleep 30\n"
    for i in range(8):
        (tmp_path / str(i)).mkdir()
    specs = [
        make_spec(tmp_path / str(i), {"w.sh": worker if i % 2 else "echo quick\n"}, "w.sh", "sh")
        for i in range(8)
    ]
    tasks = [runner.start(spec) for spec in specs]
    slow = [task for i, task in enumerate(tasks) if i % 2]
    for spec in specs[1::2]:
        wait_for_log(spec, "started")
    cancellers = [threading.Thread(target=task.cancel) for task in slow]
    for thread in cancellers:
        thread.start()
    results: dict[int, RunResult] = {}
    deadline = time.monotonic() + WAIT
    while len(results) < len(tasks) and time.monotonic() < deadline:
        for i, task in enumerate(tasks):
            result = task.poll()
            if result is not None:
                results[i] = result
        time.sleep(0.01)
    for thread in cancellers:
        thread.join()
    assert [results[i].status for i in range(8)] == ["complete", "cancelled"] * 4


def test_a_task_folder_is_gone_when_its_result_is_in(tmp_path: Path) -> None:
    """Started in-process (``ironship run``), a task's folder is removed before its result is
    published: a process that exits right after leaves nothing in the work folder. Started
    by the task host (``inherit_limits``), the folder is renamed aside first and removed
    after the result; ``kill`` waits for that too."""
    work = tmp_path / "work"
    spec = unsandboxed(
        make_spec(tmp_path, {"w.py": "open('big', 'wb').write(b'x' * 4096)"}, "w.py")
    )
    result = runner.start(spec).wait(WAIT)
    assert result is not None and result.status == "complete", result
    assert [p.name for p in work.iterdir() if spec.task_id in p.name] == []
    prepared = runner.prepare_task(dataclasses.replace(spec, task_id="0123456789abcdef0000aaaa"))
    assert isinstance(prepared, runner.PreparedTask)
    task = prepared.spawn(inherit_limits=True)
    task.kill()
    assert [p.name for p in work.iterdir() if "0000aaaa" in p.name] == []
