"""`ironship log --follow` reads only what is new (Range), and falls back when it is ignored."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Project, Run, cli_for, run_cli, write_tree
from faultproxy import Faults, faulty_proxy

from ironship.engine.server import EngineServer

# Prints eight lines (with a 3-byte character) over about 2.4 s.
TALKER = (
    "import time\n"
    "for i in range(8):\n"
    "    print(f'line {i} \\u20ac ' + 'x' * 2000, flush=True)\n"
    "    time.sleep(0.3)\n"
)
EXPECTED = "".join(f"line {i} \u20ac " + "x" * 2000 + "\n" for i in range(8))
MANIFEST = "version: 1\nworkers:\n  talker:\n    root: t\n    entry: main.py\n"

Cli = Callable[..., Run]


@pytest.fixture
def cli(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """`ironship ARGS` in a deployed project of this test's own; ``via=URL`` uses a proxy."""
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "t/main.py": TALKER})

    def run(*args: str, via: str | None = None) -> Run:
        env = {**project.env, **({"IRON_WORKER_CLOUD": via} if via else {})}
        return run_cli(list(args), capsys, monkeypatch, env=env, cwd=tmp_path)

    assert run("apply", "-y").code == 0
    return run


def _log_reads(faults: Faults, task_id: str) -> list[tuple[str | None, int, int]]:
    return [
        (rng, status, size)
        for method, path, rng, status, size in faults.seen
        if method == "GET" and path.split("?")[0].endswith(f"/tasks/{task_id}/log")
    ]


def test_follow_asks_only_for_new_bytes(cli: Cli, engine: EngineServer) -> None:
    """Each read after the first asks for `Range: bytes=N-` from where the last ended, and the
    bytes received add up to the log once: the output is the log, exactly."""
    task_id = json.loads(cli("queue", "talker", "--json").out)["id"]
    faults = Faults()
    with faulty_proxy(engine.url, faults) as url:
        res = cli("log", task_id, "--follow", via=url)
    assert res.code == 0, res.err
    assert res.out == EXPECTED
    reads = _log_reads(faults, task_id)
    assert len(reads) >= 2
    received = 0
    for rng, status, size in reads:
        assert rng == (f"bytes={received}-" if received else None)
        if status in (200, 206):
            assert status == (206 if received else 200)
            received += size
        else:
            assert status == 416  # nothing new since the last read
    assert received == len(EXPECTED.encode())


def test_follow_falls_back_when_the_server_ignores_range(cli: Cli, engine: EngineServer) -> None:
    """A server that answers every read with the whole log (200): the output is still the log
    once, each read skipping what was already shown."""
    task_id = json.loads(cli("queue", "talker", "--json").out)["id"]
    faults = Faults(ignore_range=True)
    with faulty_proxy(engine.url, faults) as url:
        res = cli("log", task_id, "--follow", via=url)
    assert res.code == 0, res.err
    assert res.out == EXPECTED
    assert {status for _, status, _ in _log_reads(faults, task_id)} == {200}


def test_log_streams_a_finished_tasks_log(cli: Cli, project: Project) -> None:
    """`log` without --follow writes the whole log, multi-byte characters intact."""
    res = cli("queue", "talker", "--wait", "--json")
    task_id = json.loads(res.out)["id"]
    shown = cli("log", task_id)
    assert shown.code == 0, shown.err
    assert shown.out == EXPECTED


def test_stream_log_gives_the_bytes_from_any_offset(cli: Cli, project: Project) -> None:
    """Client.stream_log from any offset (inside a character, at the end) gives exactly the
    log's bytes after it and returns the end; at the end nothing is written."""
    task_id = json.loads(cli("queue", "talker", "--wait", "--json").out)["id"]
    full = EXPECTED.encode()
    with project.client() as client:
        for offset in (0, 8, 9, len(full) - 1, len(full)):
            got: list[bytes] = []
            assert client.stream_log(task_id, got.append, offset=offset) == len(full)
            assert b"".join(got) == full[offset:]


# Writes about 90 MB of log (below the engine's per-task log cap) as fast as it can.
FLOOD = (
    "import sys\n"
    "block = (('y' * 1023 + '\\n') * 1024).encode()\n"
    "for _ in range(90):\n"
    "    sys.stdout.buffer.write(block)\n"
)
# Runs `ironship log ID` with stdout to /dev/null and prints that child's peak RSS in KB.
MEASURE = (
    "import resource, subprocess, sys\n"
    "subprocess.run([sys.executable, '-m', 'ironship', 'log', sys.argv[1]],\n"
    "               stdout=subprocess.DEVNULL, check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


@pytest.mark.slow
def test_log_of_a_large_task_does_not_hold_it_in_memory(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ironship log` of a 90 MB log peaks within 30 MB of its peak on a tiny log: it streams."""
    files = {"f/main.py": FLOOD, "s/main.py": "print('small')\n"}
    manifest = (
        "version: 1\nworkers:\n  flood:\n    root: f\n    entry: main.py\n"
        "  small:\n    root: s\n    entry: main.py\n"
    )
    write_tree(tmp_path, {"ironship.yml": manifest, **files})

    run = cli_for(project, tmp_path, capsys, monkeypatch)
    assert run("apply", "-y").code == 0
    peaks = {}
    for name in ("small", "flood"):
        res = run("queue", name, "--wait", "--json")
        task_id = json.loads(res.out)["id"]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **project.env}
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, task_id],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        peaks[name] = int(done.stdout.strip()) // 1024
    assert peaks["flood"] - peaks["small"] < 30, peaks
