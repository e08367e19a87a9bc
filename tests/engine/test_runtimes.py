"""The worker runtime contract: what each runtime's worker is started with.

Arguments, files, environment and runtimes as docs/ironworker-api.md §6 (Worker runtime
contract) describes them, checked by running real workers.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from engine_helpers import make_spec, run_task

from ironship.engine.run import runner, runtimes
from ironship.engine.run.runner import TaskProcess
from ironship.engine.run.runtimes import available_runtimes

FIB_PHP = """<?php
$payload = getPayload(true);
$max = $payload['max']; $a=0; $b=1; $r=[];
while ($a <= $max) { $r[] = $a; [$a, $b] = [$b, $a+$b]; }
echo "MAGICALSTDOUTSEPARATOR" . json_encode($r) . "MAGICALSTDOUTSEPARATOR";
"""


ARGS_PY = """
import sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print(open(args["-payload"]).read())
"""


def test_python_worker_reads_payload_from_argv(tmp_path: Path) -> None:
    """A python worker finds the payload file through -payload and completes with exit 0."""
    spec = make_spec(tmp_path, {"w.py": ARGS_PY}, "w.py", payload='{"max": 10}')
    result, log = run_task(spec)
    assert result.status == "complete"
    assert result.exit_code == 0 and result.msg is None and result.error_class is None
    assert '{"max": 10}' in log


def test_python_worker_reads_payload_from_env(tmp_path: Path) -> None:
    """PAYLOAD_FILE names the same payload file, for Docker-era helpers."""
    worker = "import os\nprint('got', open(os.environ['PAYLOAD_FILE']).read())\n"
    result, log = run_task(make_spec(tmp_path, {"w.py": worker}, "w.py", payload="plain text"))
    assert result.status == "complete"
    assert "got plain text" in log


def test_arguments_follow_the_platform_contract(tmp_path: Path) -> None:
    """The worker gets -payload, -config, -id, -d and -schedule_id with the task's values."""
    worker = "import sys, json\nprint(json.dumps(sys.argv[1:]))\n"
    spec = make_spec(tmp_path, {"w.py": worker}, "w.py", config='{"k": 1}', schedule_id="5" * 24)
    result, log = run_task(spec)
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
    result, log = run_task(make_spec(tmp_path, {"w.py": worker}, "w.py", config='{"db": "x"}'))
    assert result.status == "complete", result.msg
    assert 'config={"db": "x"}' in log


def test_no_config_file_without_config(tmp_path: Path) -> None:
    """Without a config there is neither a -config argument nor CONFIG_FILE."""
    worker = "import os, sys\nprint('-config' in sys.argv, 'CONFIG_FILE' in os.environ)\n"
    result, log = run_task(make_spec(tmp_path, {"w.py": worker}, "w.py", config=None))
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
    result, log = run_task(spec)
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
    # Under the sandbox: TMPDIR is the task directory (its only writable folder) and bwrap
    # sets PWD (the task directory too).
    allowed |= {"TMPDIR", "PWD"}
    assert env.keys() - allowed == {"GREETING"}


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
    assert available_runtimes(str(empty))["php"] is None
    assert not (tmp_path / "work" / spec.task_id).exists()


def test_unknown_runtime_is_a_clear_error(tmp_path: Path) -> None:
    """A runtime this engine does not support fails the task and lists the supported ones."""
    result, _ = run_task(make_spec(tmp_path, {"W.java": ""}, "W.java", "java"))
    assert result.status == "error"
    assert result.msg is not None
    assert "'java' is not supported" in result.msg and "python, php" in result.msg


def test_missing_file_name_is_a_clear_error(tmp_path: Path) -> None:
    """A file_name that is not in the package fails the task before anything runs."""
    result, _ = run_task(make_spec(tmp_path, {"w.py": ""}, "other.py"))
    assert result.status == "error"
    assert result.msg == "file_name 'other.py' is not in the code package"


def test_zip_entries_escaping_the_task_dir_are_refused(tmp_path: Path) -> None:
    """An entry with '..' is refused even though the engine checked the zip already."""
    spec = make_spec(tmp_path, {"w.py": "", "../escape.txt": "x"}, "w.py")
    result, _ = run_task(spec)
    assert result.status == "error"
    assert result.msg is not None and "escapes" in result.msg
    assert not (tmp_path / "work" / "escape.txt").exists()


def test_binary_runtime_executes_the_file(tmp_path: Path) -> None:
    """The binary runtime marks file_name executable and runs it directly."""
    script = '#!/bin/sh\necho "binary ran with $# args"\n'
    result, log = run_task(make_spec(tmp_path, {"bin/worker": script}, "bin/worker", "binary"))
    assert result.status == "complete", result.msg
    assert "binary ran with 6 args" in log


def test_executable_bits_in_the_zip_are_kept(tmp_path: Path) -> None:
    """Helper programs shipped executable in the package can be run by the worker."""
    files = {"w.sh": "./tool\n", "tool": "#!/bin/sh\necho tool ok\n"}
    result, log = run_task(make_spec(tmp_path, files, "w.sh", "sh", executable=("tool",)))
    assert result.status == "complete", result.msg
    assert "tool ok" in log


def test_available_runtimes_always_has_python_and_binary() -> None:
    """python falls back to the engine's interpreter; binary needs nothing installed."""
    found = available_runtimes("/nonexistent")
    assert set(found) == {"python", "php", "node", "ruby", "sh", "binary"}
    assert found["python"] and found["binary"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_worker(tmp_path: Path) -> None:
    """A node worker reads its payload through PAYLOAD_FILE."""
    worker = "console.log(require('fs').readFileSync(process.env.PAYLOAD_FILE, 'utf8'));\n"
    result, log = run_task(
        make_spec(tmp_path, {"w.js": worker}, "w.js", "node", payload="from node")
    )
    assert result.status == "complete", result.msg
    assert "from node" in log


def require_php() -> None:
    if shutil.which("php") is None:
        pytest.skip("php is not installed (CI installs php-cli)")


def test_php_fibonacci_runs_unchanged(tmp_path: Path) -> None:
    """The seed tutorial's PHP worker gets getPayload() and prints the Fibonacci sequence."""
    require_php()
    spec = make_spec(tmp_path, {"fib.php": FIB_PHP}, "fib.php", "php", payload='{"max": 1000}')
    result, log = run_task(spec)
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
    result, log = run_task(spec)
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
    result, _ = run_task(make_spec(tmp_path, {"w.php": worker}, "w.php", "php"))
    assert result.status == "error"
    assert result.msg is not None and "php went wrong" in result.msg


def test_python_runs_without_python3_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no python3 on PATH a python worker runs on the engine's own interpreter."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result, log = run_task(make_spec(tmp_path, {"w.py": "print('still runs')\n"}, "w.py"))
    assert result.status == "complete", result.msg
    assert "still runs" in log


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
    result, log = run_task(make_spec(tmp_path, {file_name: "worker source"}, file_name, runtime))
    assert result.status == "complete", result.msg
    words = log.split()
    assert words[0] == f"stub={program}" and file_name in words
    assert words[words.index(file_name) + 1 :][:1] == ["-payload"]
    assert "-id" in words and "-d" in words


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed")
def test_ruby_worker(tmp_path: Path) -> None:
    """A ruby worker reads its payload through -payload."""
    worker = 'puts File.read(ARGV[ARGV.index("-payload") + 1])\n'
    result, log = run_task(
        make_spec(tmp_path, {"w.rb": worker}, "w.rb", "ruby", payload="from ruby")
    )
    assert result.status == "complete", result.msg
    assert "from ruby" in log


MUTATING_PY = """
import os
print("data:", open("lib/data.txt").read())
open("lib/data.txt", "a").write(" changed")
os.remove("bin/tool")
"""


def _tree(root: Path) -> dict[str, tuple[bytes | None, bool]]:
    """Each path under ``root``: its bytes (None for a folder) and whether it is executable."""
    return {
        str(p.relative_to(root)): (
            p.read_bytes() if p.is_file() else None,
            p.is_file() and os.access(p, os.X_OK),
        )
        for p in sorted(root.rglob("*"))
    }


def test_a_kept_package_unpacks_as_the_zip_does_and_each_task_gets_a_fresh_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small package is read once and kept in memory: the folders written from there hold
    exactly what unpacking the zip gives (folders, contents, executable bits, a backslash in
    a name), and a task changing its files leaves the next task's copy untouched."""
    files = {
        "w.py": MUTATING_PY,
        "lib/": "",
        "lib/data.txt": "pristine",
        "bin/tool": "#!/bin/sh\necho tool\n",
        "odd\\name.txt": "x",
    }
    kept = make_spec(tmp_path, files, "w.py", executable=("bin/tool",))
    streamed = tmp_path / "streamed.zip"
    shutil.copy(kept.zip_path, streamed)
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    for folder in (first, second, third):
        folder.mkdir()
    runtimes.unpack(kept.zip_path, first)  # read and kept
    runtimes.unpack(kept.zip_path, second)  # from memory
    monkeypatch.setattr(runtimes, "SMALL_PACKAGE", 0)  # too large to keep: the zip itself
    runtimes.unpack(streamed, third)
    assert _tree(first) == _tree(second) == _tree(third)
    assert _tree(first)["bin/tool"] == (b"#!/bin/sh\necho tool\n", True)
    assert "odd\\name.txt" in _tree(first)
    for task_id in ("0123456789abcdef0000000a", "0123456789abcdef0000000b"):
        log_path = tmp_path / "logs" / f"{task_id}.log"
        result, log = run_task(replace(kept, task_id=task_id, log_path=log_path))
        assert result.status == "complete", result.msg
        assert log == "data: pristine\n", log
