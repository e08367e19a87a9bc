"""The task runner: real worker processes in temporary directories (issue 2 §2)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from ironship.engine.run import runner
from ironship.engine.run.runner import RunResult, RunSpec, TaskProcess

WAIT = 60.0  # generous upper bound for a task to end; never a measured threshold

FIB_PHP = """<?php
$payload = getPayload(true);
$max = $payload['max']; $a=0; $b=1; $r=[];
while ($a <= $max) { $r[] = $a; [$a, $b] = [$b, $a+$b]; }
echo "MAGICALSTDOUTSEPARATOR" . json_encode($r) . "MAGICALSTDOUTSEPARATOR";
"""


def make_zip(tmp_path: Path, files: Mapping[str, str], executable: tuple[str, ...] = ()) -> Path:
    path = tmp_path / "code.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            archive.writestr(info, text)
    return path


def make_spec(
    tmp_path: Path,
    files: Mapping[str, str],
    file_name: str,
    runtime: str = "python",
    *,
    payload: str = "{}",
    config: str | None = None,
    env_vars: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    schedule_id: str | None = None,
    task_id: str = "0123456789abcdef01234567",
    executable: tuple[str, ...] = (),
) -> RunSpec:
    return RunSpec(
        task_id=task_id,
        zip_path=make_zip(tmp_path, files, executable),
        runtime=runtime,
        file_name=file_name,
        payload=payload,
        config=config,
        env_vars=env_vars or {},
        timeout=timeout,
        work_root=tmp_path / "work",
        log_path=tmp_path / "logs" / f"{task_id}.log",
        schedule_id=schedule_id,
    )


def run(spec: RunSpec) -> tuple[RunResult, str]:
    result = runner.start(spec).wait(WAIT)
    assert result is not None, "task did not end"
    log = spec.log_path.read_text() if spec.log_path.exists() else ""
    return result, log


def wait_for_log(spec: RunSpec, needle: str) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        text = spec.log_path.read_text() if spec.log_path.exists() else ""
        if needle in text:
            return text
        time.sleep(0.01)
    raise AssertionError(f"{needle!r} never appeared in the log")


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


ARGS_PY = """
import sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print(open(args["-payload"]).read())
"""


def test_python_worker_reads_payload_from_argv(tmp_path: Path) -> None:
    """A python worker finds the payload file through -payload and completes with exit 0."""
    spec = make_spec(tmp_path, {"w.py": ARGS_PY}, "w.py", payload='{"max": 10}')
    result, log = run(spec)
    assert result.status == "complete"
    assert result.exit_code == 0 and result.msg is None and result.error_class is None
    assert '{"max": 10}' in log


def test_python_worker_reads_payload_from_env(tmp_path: Path) -> None:
    """PAYLOAD_FILE names the same payload file, for Docker-era helpers."""
    worker = "import os\nprint('got', open(os.environ['PAYLOAD_FILE']).read())\n"
    result, log = run(make_spec(tmp_path, {"w.py": worker}, "w.py", payload="plain text"))
    assert result.status == "complete"
    assert "got plain text" in log


def test_arguments_follow_the_platform_contract(tmp_path: Path) -> None:
    """The worker gets -payload, -config, -id, -d and -schedule_id with the task's values."""
    worker = "import sys, json\nprint(json.dumps(sys.argv[1:]))\n"
    spec = make_spec(tmp_path, {"w.py": worker}, "w.py", config='{"k": 1}', schedule_id="5" * 24)
    result, log = run(spec)
    assert result.status == "complete"
    argv = json.loads(log)
    args = dict(zip(argv[0::2], argv[1::2], strict=True))
    task_dir = str((tmp_path / "work" / spec.task_id).absolute())
    assert args["-id"] == spec.task_id
    assert args["-d"] == task_dir
    assert args["-schedule_id"] == "5" * 24
    assert args["-payload"].startswith(task_dir + os.sep)
    assert args["-config"].startswith(task_dir + os.sep)


def test_config_file_is_passed_when_config_is_set(tmp_path: Path) -> None:
    """-config and CONFIG_FILE both name a file holding the code's config."""
    worker = (
        "import os, sys\n"
        "args = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
        "assert args['-config'] == os.environ['CONFIG_FILE']\n"
        "print('config=' + open(args['-config']).read())\n"
    )
    result, log = run(make_spec(tmp_path, {"w.py": worker}, "w.py", config='{"db": "x"}'))
    assert result.status == "complete", result.msg
    assert 'config={"db": "x"}' in log


def test_no_config_file_without_config(tmp_path: Path) -> None:
    """Without a config there is neither a -config argument nor CONFIG_FILE."""
    worker = "import os, sys\nprint('-config' in sys.argv, 'CONFIG_FILE' in os.environ)\n"
    result, log = run(make_spec(tmp_path, {"w.py": worker}, "w.py", config=None))
    assert result.status == "complete"
    assert "False False" in log


def test_environment_is_minimal_and_never_the_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker sees the task variables and env_vars, but not the engine's own variables."""
    monkeypatch.setenv("IRON_TOKEN", "engine-secret-token-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "engine-secret-aws-value")
    worker = "import os, json\nprint(json.dumps(dict(os.environ)))\n"
    spec = make_spec(tmp_path, {"w.py": worker}, "w.py", env_vars={"GREETING": "hi"})
    result, log = run(spec)
    assert result.status == "complete"
    env = json.loads(log)
    task_dir = str((tmp_path / "work" / spec.task_id).absolute())
    assert env["TASK_ID"] == spec.task_id
    assert env["TASK_DIR"] == task_dir
    assert env["HOME"] == task_dir
    assert env["PAYLOAD_FILE"].startswith(task_dir + os.sep)
    assert env["GREETING"] == "hi"
    assert {"PATH", "LANG"} <= env.keys()
    assert "IRON_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "engine-secret" not in log
    allowed = {"PATH", "HOME", "LANG", "LC_CTYPE", "PAYLOAD_FILE", "TASK_ID", "TASK_DIR"}
    assert env.keys() - allowed == {"GREETING"}


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
    result, log = run(make_spec(tmp_path, {"w.py": worker}, "w.py"))
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
    result, _ = run(make_spec(tmp_path, {"w.sh": "exit 7\n"}, "w.sh", "sh"))
    assert result.status == "error"
    assert result.msg == "process exited with status 7"
    assert result.error_class == "Process Exit 7"


def test_killed_by_signal_is_error(tmp_path: Path) -> None:
    """A worker killed by a signal it did not expect ends in error, naming the signal."""
    worker = "echo dying >&2\nkill -KILL $$\n"
    result, _ = run(make_spec(tmp_path, {"w.sh": worker}, "w.sh", "sh"))
    assert result.status == "error"
    assert result.exit_code is None
    assert result.msg is not None and "SIGKILL" in result.msg and "dying" in result.msg


GRANDCHILD_SH = """
sleep 30 &
echo "child $!"
echo "started" >&2
wait
"""


def child_pid(log: str) -> int:
    line = next(line for line in log.splitlines() if line.startswith("child "))
    return int(line.split()[1])


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """Past its timeout a task is 'timeout' and its grandchild process is killed too."""
    spec = make_spec(tmp_path, {"w.sh": GRANDCHILD_SH}, "w.sh", "sh", timeout=1.5)
    result, log = run(spec)
    assert result.status == "timeout"
    assert result.error_class is None
    assert wait_gone(child_pid(log))


def test_cancel_kills_the_group_and_reports_cancelled(tmp_path: Path) -> None:
    """cancel() stops a running task, grandchild included, and its status is 'cancelled'."""
    spec = make_spec(tmp_path, {"w.sh": GRANDCHILD_SH}, "w.sh", "sh")
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
    spec = make_spec(tmp_path, {"w.sh": GRANDCHILD_SH}, "w.sh", "sh")
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
    result, log = run(make_spec(tmp_path, {"w.sh": worker}, "w.sh", "sh"))
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
    result, log = run(spec)
    assert result.status == "complete"
    assert log == "first\nsecond\n"


def test_missing_runtime_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime whose program is not on PATH fails the task with a msg naming it."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    spec = make_spec(tmp_path, {"w.php": "<?php echo 1;"}, "w.php", "php")
    task: TaskProcess = runner.start(spec)
    result = task.poll()
    assert result is not None and result.status == "error"
    assert result.msg == (
        "runtime 'php' is not installed on this engine (looked for 'php' on PATH)"
    )
    assert task.pid is None
    assert runner.available_runtimes(str(empty))["php"] is None
    assert not (tmp_path / "work" / spec.task_id).exists()


def test_unknown_runtime_is_a_clear_error(tmp_path: Path) -> None:
    """A runtime this engine does not support fails the task and lists the supported ones."""
    result, _ = run(make_spec(tmp_path, {"W.java": ""}, "W.java", "java"))
    assert result.status == "error"
    assert result.msg is not None
    assert "'java' is not supported" in result.msg and "python, php" in result.msg


def test_missing_file_name_is_a_clear_error(tmp_path: Path) -> None:
    """A file_name that is not in the package fails the task before anything runs."""
    result, _ = run(make_spec(tmp_path, {"w.py": ""}, "other.py"))
    assert result.status == "error"
    assert result.msg == "file_name 'other.py' is not in the code package"


def test_zip_entries_escaping_the_task_dir_are_refused(tmp_path: Path) -> None:
    """An entry with '..' is refused even though the engine checked the zip already."""
    spec = make_spec(tmp_path, {"w.py": "", "../escape.txt": "x"}, "w.py")
    result, _ = run(spec)
    assert result.status == "error"
    assert result.msg is not None and "escapes" in result.msg
    assert not (tmp_path / "work" / "escape.txt").exists()


def test_task_dir_is_fresh_and_removed_afterwards(tmp_path: Path) -> None:
    """Leftovers of an earlier run are gone before the task starts, and its dir after it ends."""
    spec = make_spec(
        tmp_path, {"pkg/data.txt": "data", "w.sh": "ls -A; cat pkg/data.txt\n"}, "w.sh", "sh"
    )
    stale = tmp_path / "work" / spec.task_id
    stale.mkdir(parents=True)
    (stale / "stale.txt").write_text("old")
    result, log = run(spec)
    assert result.status == "complete"
    assert "stale.txt" not in log and "data" in log
    assert not stale.exists()


def test_read_only_folders_are_still_removed(tmp_path: Path) -> None:
    """A worker that removes write permission from its folders does not leave them behind."""
    worker = "mkdir -p locked/inner && touch locked/inner/f && chmod 500 locked/inner locked\n"
    spec = make_spec(tmp_path, {"w.sh": worker}, "w.sh", "sh")
    result, _ = run(spec)
    assert result.status == "complete"
    assert not (tmp_path / "work" / spec.task_id).exists()


def test_binary_runtime_executes_the_file(tmp_path: Path) -> None:
    """The binary runtime marks file_name executable and runs it directly."""
    script = '#!/bin/sh\necho "binary ran with $# args"\n'
    result, log = run(make_spec(tmp_path, {"bin/worker": script}, "bin/worker", "binary"))
    assert result.status == "complete", result.msg
    assert "binary ran with 6 args" in log


def test_executable_bits_in_the_zip_are_kept(tmp_path: Path) -> None:
    """Helper programs shipped executable in the package can be run by the worker."""
    files = {"w.sh": "./tool\n", "tool": "#!/bin/sh\necho tool ok\n"}
    result, log = run(make_spec(tmp_path, files, "w.sh", "sh", executable=("tool",)))
    assert result.status == "complete", result.msg
    assert "tool ok" in log


def test_available_runtimes_always_has_python_and_binary() -> None:
    """python falls back to the engine's interpreter; binary needs nothing installed."""
    found = runner.available_runtimes("/nonexistent")
    assert set(found) == {"python", "php", "node", "ruby", "sh", "binary"}
    assert found["python"] and found["binary"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_worker(tmp_path: Path) -> None:
    """A node worker reads its payload through PAYLOAD_FILE."""
    worker = "console.log(require('fs').readFileSync(process.env.PAYLOAD_FILE, 'utf8'));\n"
    result, log = run(make_spec(tmp_path, {"w.js": worker}, "w.js", "node", payload="from node"))
    assert result.status == "complete", result.msg
    assert "from node" in log


def require_php() -> None:
    if shutil.which("php") is None:
        pytest.skip("php is not installed (CI installs php-cli)")


def test_php_fibonacci_runs_unchanged(tmp_path: Path) -> None:
    """The seed tutorial's PHP worker gets getPayload() and prints the Fibonacci sequence."""
    require_php()
    spec = make_spec(tmp_path, {"fib.php": FIB_PHP}, "fib.php", "php", payload='{"max": 1000}')
    result, log = run(spec)
    assert result.status == "complete", result.msg
    numbers = json.loads(log.split("MAGICALSTDOUTSEPARATOR")[1])
    expected = [0, 1]
    while expected[-1] + expected[-2] <= 1000:
        expected.append(expected[-1] + expected[-2])
    assert numbers == expected


def test_php_helpers_match_ironworker(tmp_path: Path) -> None:
    """getArgs(), getConfig() and getPayload()'s object default behave like IronWorker's."""
    require_php()
    worker = """<?php
$args = getArgs();
echo json_encode(array(
    'task_id' => $args['task_id'],
    'dir' => $args['dir'],
    'payload' => $args['payload'],
    'config' => getConfig(),
    'object' => is_object(getPayload()),
    'assoc' => is_array(getPayload(true)),
));
"""
    spec = make_spec(
        tmp_path, {"w.php": worker}, "w.php", "php", payload='{"n": 1}', config='{"c": 2}'
    )
    result, log = run(spec)
    assert result.status == "complete", result.msg
    assert json.loads(log) == {
        "task_id": spec.task_id,
        "dir": str((tmp_path / "work" / spec.task_id).absolute()),
        "payload": {"n": 1},
        "config": {"c": 2},
        "object": True,
        "assoc": True,
    }


def test_php_fatal_error_lands_in_msg(tmp_path: Path) -> None:
    """An uncaught PHP exception fails the task with the exception text in msg."""
    require_php()
    worker = "<?php\nthrow new Exception('php went wrong');\n"
    result, _ = run(make_spec(tmp_path, {"w.php": worker}, "w.php", "php"))
    assert result.status == "error"
    assert result.msg is not None and "php went wrong" in result.msg


def test_python_runs_without_python3_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no python3 on PATH a python worker runs on the engine's own interpreter."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result, log = run(make_spec(tmp_path, {"w.py": "print('still runs')\n"}, "w.py"))
    assert result.status == "complete", result.msg
    assert "still runs" in log


def test_bad_env_var_or_payload_never_raises(tmp_path: Path) -> None:
    """An env var with a NUL byte fails the task; a lone surrogate in the payload is replaced."""
    bad_env = make_spec(tmp_path, {"w.sh": "true\n"}, "w.sh", "sh", env_vars={"X": "a\0b"})
    result, _ = run(bad_env)
    assert result.status == "error" and result.msg is not None
    odd = make_spec(tmp_path, {"w.sh": "cat $PAYLOAD_FILE\n"}, "w.sh", "sh", payload="a\ud800b")
    result, log = run(odd)
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


@pytest.mark.parametrize(
    ("runtime", "program", "file_name"),
    [
        ("python", "python3", "w.py"),
        ("php", "php", "w.php"),
        ("node", "node", "w.js"),
        ("ruby", "ruby", "w.rb"),
        ("sh", "sh", "w.sh"),
    ],
)
def test_each_runtime_runs_the_program_found_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: str, program: str, file_name: str
) -> None:
    """Each runtime runs its program as found on PATH (installed or not here: a stub stands in)
    with the worker file and the platform arguments."""
    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    stub = fake_bin / program
    stub.write_text('#!/bin/sh\necho "stub=${0##*/}" "$@"\n')  # builtins only: PATH is fakebin
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    result, log = run(make_spec(tmp_path, {file_name: "worker source"}, file_name, runtime))
    assert result.status == "complete", result.msg
    words = log.split()
    assert words[0] == f"stub={program}" and file_name in words
    assert words[words.index(file_name) + 1 :][:1] == ["-payload"]
    assert "-id" in words and "-d" in words


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed")
def test_ruby_worker(tmp_path: Path) -> None:
    """A ruby worker reads its payload through -payload."""
    worker = 'puts File.read(ARGV[ARGV.index("-payload") + 1])\n'
    result, log = run(make_spec(tmp_path, {"w.rb": worker}, "w.rb", "ruby", payload="from ruby"))
    assert result.status == "complete", result.msg
    assert "from ruby" in log
