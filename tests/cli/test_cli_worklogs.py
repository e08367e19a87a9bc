"""ironship logs and ironship tasks: a worker's recent tasks against a real engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_support import Cli, Project, write_tree
from engine_helpers import Api
from faultproxy import Faults, faulty_proxy

from ironship.cli.commands.worklogs import since_seconds
from ironship.errors import IronshipError

WORKER = """\
import json, sys
payload = json.load(open(sys.argv[sys.argv.index("-payload") + 1]))
print("said", payload["word"], flush=True)
if payload.get("wait"):
    import os, time
    while not os.path.exists(payload["wait"]):
        time.sleep(0.05)
    print("after the wait", flush=True)
sys.exit(1 if payload.get("fail") else 0)
"""
MANIFEST = "version: 1\nworkers:\n  echo:\n    root: w\n    entry: main.py\n"
WAIT = 60.0  # a bound on waiting for the subprocess, never a speed check


@pytest.fixture
def cli(project: Project, tmp_path: Path, project_cli: Cli) -> Cli:
    """`ironship ARGS` in a deployed copy of MANIFEST, on this test's own project."""
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "w/main.py": WORKER})

    run = project_cli

    assert run("apply", "-y").code == 0
    return run


def api_of(project: Project) -> Api:
    return Api(project.url, project.project_id, project.token)


def ran(api: Api, payload: dict[str, object]) -> str:
    """Queue a task of echo, wait for its end, return its id."""
    task_id = api.queue("echo", payload)
    api.wait(task_id)
    return task_id


def test_tasks_lists_newest_last_and_filters_by_status(cli: Cli, project: Project) -> None:
    """tasks shows every task with status, duration and revision; --status error keeps only
    the failed one; --json carries the same."""
    api = api_of(project)
    good = ran(api, {"word": "one"})
    bad = ran(api, {"word": "two", "fail": True})
    table = cli("tasks", "echo")
    assert table.code == 0, table.err
    assert good in table.out, table.out
    assert table.out.index(good) < table.out.index(bad)
    assert "complete" in table.out and "error" in table.out and "rev 1" in table.out
    only = cli("tasks", "echo", "--status", "error", "--json")
    doc = json.loads(only.out)
    assert [t["id"] for t in doc["tasks"]] == [bad]
    assert doc["tasks"][0]["status"] == "error" and doc["tasks"][0]["revision"]["rev"] == 1
    done = json.loads(cli("tasks", "echo", "--status", "complete", "--json").out)
    assert [t["id"] for t in done["tasks"]] == [good]
    last = json.loads(cli("tasks", "echo", "--limit", "1", "--json").out)
    assert [t["id"] for t in last["tasks"]] == [bad]


def test_logs_prints_each_task_headed(cli: Cli, project: Project) -> None:
    """logs prints the recent tasks' output, newest last, each under a header naming its
    task id, status and revision; --status narrows it."""
    api = api_of(project)
    first = ran(api, {"word": "alpha"})
    second = ran(api, {"word": "beta", "fail": True})
    res = cli("logs", "echo", "--since", "10m")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].startswith(f"==> task {first} · complete · rev 1")
    assert lines[1] == "said alpha"
    assert lines[2].startswith(f"==> task {second} · error · rev 1")
    assert lines[3] == "said beta"
    errors = cli("logs", "echo", "--status", "error")
    assert "said beta" in errors.out and "said alpha" not in errors.out


def test_bad_filters_are_refused(cli: Cli) -> None:
    """An unknown status or an unreadable --since: exit 1 with the fix, nothing listed."""
    res = cli("logs", "echo", "--status", "broken")
    assert res.code == 1 and "--status broken: not a task status" in res.err
    res = cli("tasks", "echo", "--since", "soon")
    assert res.code == 1 and "--since soon: not a duration" in res.err
    assert "hint: give seconds, or a number with s, m, h or d" in res.err


def test_since_reads_seconds_and_units() -> None:
    """--since takes seconds or a number with s, m, h or d."""
    assert since_seconds("90") == 90 and since_seconds("10m") == 600
    assert since_seconds("1d") == 86400 and since_seconds(None) is None
    with pytest.raises(IronshipError):
        since_seconds("0")


class Reader:
    """The lines a subprocess prints, collected by a thread as they come."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def join(self) -> None:
        self._thread.join(WAIT)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + WAIT
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"never printed {text!r}: {self.lines}"
            time.sleep(0.05)


@pytest.mark.parametrize("ignore_range", [False, True], ids=["engine", "no-range"])
def test_logs_follow_shows_a_task_queued_after_it_started(
    ignore_range: bool, cli: Cli, project: Project, tmp_path: Path
) -> None:
    """logs --follow, a real process: a task queued after it started appears with its
    header, its output as it is written (each line once, also from a server that ignores
    Range, as the hosted API does) and its final status; SIGINT ends it cleanly."""
    api = api_of(project)
    old = ran(api, {"word": "before"})
    with faulty_proxy(project.url, Faults(ignore_range=ignore_range)) as url:
        out = follow_until_done(api, {**project.env, "IRON_WORKER_CLOUD": url}, tmp_path)
    text = "\n".join(out)
    assert text.index(f"==> task {old}") < text.index("said later")
    assert out.count("said later") == 1 and out.count("after the wait") == 1


def follow_until_done(api: Api, iron_env: dict[str, str], folder: Path) -> list[str]:
    """Run `logs echo --follow`, queue a task that waits for a file, check its output comes
    while it runs, let it end, stop the command with SIGINT; the lines it printed."""
    env = {**os.environ, **iron_env, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("IRONSHIP_TARGET", None)
    with subprocess.Popen(
        [sys.executable, "-m", "ironship", "logs", "echo", "--follow"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        out, err = Reader(proc.stdout), Reader(proc.stderr)
        try:
            err.wait_for("following echo")
            out.wait_for("said before")
            gate = folder / "gate"
            new = api.queue("echo", {"word": "later", "wait": str(gate)})
            out.wait_for("said later")  # printed while the task still runs
            assert api.task(new)["status"] == "running"
            gate.touch()
            out.wait_for("after the wait")
            out.wait_for(f"==> task {new} · complete")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(WAIT) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            out.join()
            err.join()
    assert "Traceback" not in "\n".join(err.lines)
    return out.lines
