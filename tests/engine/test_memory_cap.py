"""The task memory cap: each task process gets at most ``memory_mb`` (IronWorker's 512 MB by
default); a worker that runs out ends ``error`` with IronWorker's RAM-limit msg, and ordinary
workers of every runtime still start and finish under the default.

Allocations use ``bytearray(n)``-style requests that the kernel refuses at once under the cap
(and, without one, grants as untouched zero pages), so no test really fills the machine's RAM.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import WAIT, Api, make_spec, run_task

from ironship.engine.run.memory import DEFAULT_TASK_MEMORY_MB, OomWatch, ram_limit_msg
from ironship.engine.server import EngineServer

SMALL = 128  # MB: every runtime starts under it, and the workers below ask for more

PY_GREEDY = "print('allocating', flush=True)\nblock = bytearray(600 * 1024 * 1024)\n"
PY_ORDINARY = (
    "import json, decimal, sqlite3, email.parser\n"
    "data = [str(i) * 10 for i in range(500_000)]\n"  # some 60 MB of real objects
    "print('ordinary python done', len(data))\n"
)

needs = {
    "node": pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    "ruby": pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed"),
    "php": pytest.mark.skipif(shutil.which("php") is None, reason="php is not installed"),
}


def test_python_worker_past_the_cap_ends_with_the_ram_limit_msg(tmp_path: Path) -> None:
    """A python worker asking for 600 MB under a 128 MB cap ends error, its msg (and the end
    of its log) saying the RAM limit was exceeded, with the runtime's own words below."""
    spec = make_spec(tmp_path, {"w.py": PY_GREEDY}, "w.py", memory_mb=SMALL)
    result, log = run_task(spec)
    assert result.status == "error"
    assert result.msg is not None
    assert result.msg.startswith("ERROR: WORKER RAM LIMIT EXCEEDED (128 MB)\n")
    assert "MemoryError" in result.msg
    assert result.error_class == "Process Exit 1"
    assert log.startswith("allocating\n")
    assert log.rstrip().endswith("ERROR: WORKER RAM LIMIT EXCEEDED (128 MB)")


def test_without_a_cap_the_same_request_is_granted(tmp_path: Path) -> None:
    """memory_mb 0 means no cap: the 600 MB request succeeds (as untouched pages)."""
    result, _ = run_task(make_spec(tmp_path, {"w.py": PY_GREEDY}, "w.py", memory_mb=0))
    assert result.status == "complete", result.msg


def test_the_default_cap_refuses_a_request_past_512_mb(tmp_path: Path) -> None:
    """Under the default cap (512 MB) the 600 MB request fails with the RAM-limit msg."""
    assert DEFAULT_TASK_MEMORY_MB == 512
    spec = make_spec(tmp_path, {"w.py": PY_GREEDY}, "w.py", memory_mb=DEFAULT_TASK_MEMORY_MB)
    result, _ = run_task(spec)
    assert result.status == "error"
    assert result.msg is not None
    assert result.msg.startswith(ram_limit_msg(512))


def test_another_failure_under_the_cap_keeps_its_own_msg(tmp_path: Path) -> None:
    """A worker failing for another reason is not reported as out of memory."""
    worker = "import sys\nprint('bad input', file=sys.stderr)\nsys.exit(3)\n"
    result, _ = run_task(make_spec(tmp_path, {"w.py": worker}, "w.py", memory_mb=SMALL))
    assert result.status == "error"
    assert result.msg == "bad input"


@pytest.mark.parametrize(
    ("runtime", "file_name", "greedy"),
    [
        pytest.param(
            "node",
            "w.js",
            "const a = []; for (;;) { a.push(new Array(1e6).fill(1.5)); }\n",
            marks=needs["node"],
        ),
        pytest.param("ruby", "w.rb", "s = 'x' * (600 * 1024 * 1024)\n", marks=needs["ruby"]),
        pytest.param(
            "php", "w.php", "<?php\n$s = str_repeat('x', 600 * 1024 * 1024);\n", marks=needs["php"]
        ),
    ],
)
def test_other_runtimes_past_the_cap_end_with_the_ram_limit_msg(
    tmp_path: Path, runtime: str, file_name: str, greedy: str
) -> None:
    """Node, Ruby and PHP workers running out of a 128 MB cap report the RAM limit too."""
    spec = make_spec(tmp_path, {file_name: greedy}, file_name, runtime, memory_mb=SMALL)
    result, _ = run_task(spec)
    assert result.status == "error"
    assert result.msg is not None
    assert result.msg.startswith(ram_limit_msg(SMALL)), result.msg


@pytest.mark.parametrize(
    ("runtime", "file_name", "worker"),
    [
        ("python", "w.py", PY_ORDINARY),
        pytest.param(
            "node",
            "w.js",
            "const a = Array.from({length: 2e6}, (_, i) => 'v' + i);\n"
            "console.log('ordinary node done', a.length);\n",
            marks=needs["node"],
        ),
        pytest.param(
            "ruby",
            "w.rb",
            'a = (1..1_000_000).map(&:to_s)\nputs "ordinary ruby done #{a.size}"\n',
            marks=needs["ruby"],
        ),
        pytest.param(
            "php",
            "w.php",
            "<?php\n$a = range(1, 1000000);\necho 'ordinary php done ' . count($a);\n",
            marks=needs["php"],
        ),
    ],
)
def test_ordinary_workers_complete_under_the_default_cap(
    tmp_path: Path, runtime: str, file_name: str, worker: str
) -> None:
    """A worker of each runtime using tens of MB starts and completes under 512 MB (Node
    included, which reserves far more address space than that)."""
    spec = make_spec(
        tmp_path, {file_name: worker}, file_name, runtime, memory_mb=DEFAULT_TASK_MEMORY_MB
    )
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert f"ordinary {runtime} done" in log


def test_oom_words_split_across_two_reads_are_still_seen() -> None:
    """The stderr watch finds a runtime's out-of-memory words even when a read cuts them."""
    watch = OomWatch()
    watch.feed(b"Traceback ...\nMemo")
    assert not watch.seen
    watch.feed(b"ryError\n")
    assert watch.seen


@pytest.fixture(scope="module")
def small_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    """An engine whose tasks get 128 MB each."""
    with EngineServer(
        tmp_path_factory.mktemp("capped"), poll_interval=0.02, task_memory=SMALL
    ) as eng:
        yield eng


def test_engine_task_memory_caps_its_tasks(small_engine: EngineServer) -> None:
    """EngineServer(task_memory=128): a task asking for 600 MB ends error with the msg,
    which the task object and its log both show."""
    api = Api(small_engine.url, small_engine.project_id, small_engine.token)
    api.upload("greedy", {"w.py": PY_GREEDY}, "w.py")
    task = api.wait(api.queue("greedy", {}))
    assert task["status"] == "error"
    assert task["msg"].startswith("ERROR: WORKER RAM LIMIT EXCEEDED (128 MB)")
    assert "ERROR: WORKER RAM LIMIT EXCEEDED (128 MB)" in api.log(task["id"])


def test_engine_default_cap_is_512_mb(tmp_path: Path) -> None:
    """An engine started without task_memory caps tasks at IronWorker's 512 MB."""
    assert EngineServer(tmp_path).task_memory == 512


def test_ironship_server_task_memory_option(tmp_path: Path) -> None:
    """``ironship server --task-memory 128`` prints the cap and its tasks are held to it."""
    cmd = [sys.executable, "-m", "ironship", "server", "--port", "0", "--data", str(tmp_path)]
    with subprocess.Popen(
        [*cmd, "--task-memory", str(SMALL)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(4)]
            assert lines[0].startswith("ironship engine listening on http://127.0.0.1:")
            assert lines[1].strip() == "task memory cap: 128 MB per process"
            url = lines[0].split()[4]
            project_id = lines[2].split(":", 1)[1].strip()
            token = lines[3].split(":", 1)[1].strip()
            api = Api(url, project_id, token)
            api.upload("greedy", {"w.py": PY_GREEDY}, "w.py")
            task = api.wait(api.queue("greedy", {}))
            assert task["status"] == "error"
            assert task["msg"].startswith(ram_limit_msg(SMALL))
        finally:
            proc.terminate()
            proc.wait(WAIT)
