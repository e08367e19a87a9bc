"""queue, task, log and cancel against a real engine: units, numbers, bounds and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Cli, Project, write_tree

from ironship import FORMAT_VERSION
from ironship.cli.commands.tasks import WAIT_MARGIN, _wait_bound
from ironship.iron.types import Task

QUICK = "print('MAGICALSTDOUTSEPARATOR[1]MAGICALSTDOUTSEPARATOR')\n"
SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(30)\n"
MANIFEST = (
    "version: 1\nworkers:\n"
    "  quick:\n    root: q\n    entry: main.py\n    payload: {n: 1}\n"
    "  sleeper:\n    root: s\n    entry: main.py\n"
)


@pytest.fixture
def cli(project: Project, tmp_path: Path, project_cli: Cli) -> Cli:
    """`ironship ARGS` in a deployed copy of MANIFEST, on this test's own project."""
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "q/main.py": QUICK, "s/main.py": SLEEPER})

    run = project_cli

    assert run("apply", "-y").code == 0
    return run


def finished_task(cli: Cli) -> str:
    """Queue `quick`, wait for it, and return its id."""
    res = cli("queue", "quick", "--wait", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "complete"
    return str(doc["id"])


def test_json_numbers_and_duration_unit(cli: Cli) -> None:
    """queue/task JSON give code_rev as a number; `task` prints the duration with its unit."""
    res = cli("queue", "quick", "--wait", "--json")
    doc = json.loads(res.out)
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["code_rev"] == 1 and isinstance(doc["duration"], int)
    shown = cli("task", doc["id"], "--json")
    assert json.loads(shown.out)["code_rev"] == 1
    text = cli("task", doc["id"])
    assert f"   duration: {doc['duration']} ms" in text.out
    assert "   code_rev: 1" in text.out


def test_cancel_of_a_finished_task(cli: Cli) -> None:
    """Cancelling a finished task says how it finished, not the raw API error; exit 1."""
    task_id = finished_task(cli)
    res = cli("cancel", task_id)
    assert res.code == 1
    assert f"error: task {task_id} already finished (complete)" in res.err
    assert "failed (400)" not in res.err and "/cancel" not in res.err


def test_payload_over_64_kb_is_refused_before_queueing(cli: Cli, project: Project) -> None:
    """A --payload bigger than IronWorker's 64 KB is refused with the limit named; none queued."""
    big = json.dumps({"blob": "x" * 70_000})
    res = cli("queue", "quick", "--payload", big)
    assert res.code == 1
    assert "--payload:" in res.err and "at most 65536 bytes (64 KB)" in res.err
    assert "hint: pass large data by reference" in res.err
    with project.client() as client:
        assert client.list_tasks("quick") == []


def test_queue_wait_gives_up_at_its_bound(cli: Cli, project: Project) -> None:
    """`queue --wait` stops waiting at --wait-timeout, says the task is still going; exit 1."""
    res = cli("queue", "sleeper", "--wait", "--wait-timeout", "0.2")
    assert res.code == 1
    task_id = res.err.split("queued task ")[1].split()[0]
    assert f"error: task {task_id} is still " in res.err and "after 0.2 s" in res.err
    assert f"hint: ironship task {task_id}" in res.err
    with project.client() as client:
        assert not client.get_task(task_id).finished
        client.cancel_task(task_id)


def test_log_follow_gives_up_at_its_bound(cli: Cli, project: Project) -> None:
    """`log --follow` on a task that outlives --wait-timeout stops with an error, exit 1."""
    queued = cli("queue", "sleeper", "--json")
    task_id = json.loads(queued.out)["id"]
    res = cli("log", task_id, "--follow", "--wait-timeout", "0.2")
    assert res.code == 1
    assert f"error: task {task_id} is still " in res.err
    with project.client() as client:
        client.cancel_task(task_id)


def test_the_default_wait_bound_follows_the_task() -> None:
    """Without --wait-timeout, a wait lasts the task's delay and timeout plus a margin."""
    task = Task("t", "w", None, "1", "queued", timeout=30, delay=5)
    assert _wait_bound(task, None) == 35 + WAIT_MARGIN
    assert _wait_bound(Task("t", "w", None, "1", "queued"), None) == 3600 + WAIT_MARGIN
    assert _wait_bound(task, 2.5) == 2.5


def test_task_shows_its_payload_with_sensitive_values_filtered(cli: Cli, project: Project) -> None:
    """`task` shows the payload as JSON, with [FILTERED] under keys like password, in text
    and in --json; the task itself received the real value."""
    queued = cli(
        "queue", "quick", "--wait", "--json", "--payload", '{"db": {"password": "hunter2"}}'
    )
    assert queued.code == 0, queued.err
    task_id = json.loads(queued.out)["id"]
    text = cli("task", task_id)
    assert '"password": "[FILTERED]"' in text.out and '"n": 1' in text.out
    doc = json.loads(cli("task", task_id, "--json").out)
    assert doc["payload"] == {"n": 1, "db": {"password": "[FILTERED]"}}
    assert "hunter2" not in text.out + text.err + json.dumps(doc)
    with project.client() as client:
        assert "hunter2" in (client.get_task(task_id).payload or "")
