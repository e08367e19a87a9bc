"""run_smoke against the real local engine over HTTP: passing, failing, hanging, never started."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ironship.engine.server import EngineServer
from ironship.iron.client import Client
from ironship.iron.types import Task
from ironship.iron.wait import wait_for_task
from ironship.manifest.models import SmokeTest, Worker
from ironship.smoke.runner import SmokeResult, run_smoke

# One worker script steered by its payload: which blocks to print, whether to fail or hang.
WORKER = """\
import json, os, sys, time

payload = json.load(open(os.environ["PAYLOAD_FILE"]))
print("starting", flush=True)
if payload.get("fail"):
    print("Traceback (most recent call last): boom", flush=True)
    sys.exit(3)
for block in payload.get("blocks", [payload]):
    print("MAGICALSTDOUTSEPARATOR")
    print(json.dumps(block))
    print("MAGICALSTDOUTSEPARATOR", flush=True)
time.sleep(payload.get("sleep", 0))
print("done")
"""
POLL = 0.05  # seconds between status polls: short so the tests stay fast


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    with EngineServer(tmp_path_factory.mktemp("engine"), workers=4) as server:
        yield server


@pytest.fixture(scope="module")
def client(engine: EngineServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    zip_path = tmp_path_factory.mktemp("pkg") / "worker.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("worker.py", WORKER)
    api = Client(engine.url, engine.project_id, engine.token, timeout=10)
    for name in ("echo", "stuck"):
        data = {"name": name, "runtime": "python", "file_name": "worker.py"}
        code_id = api.upload_code(data, zip_path)
        if name == "stuck":
            # A paused queue never starts its tasks: the "never started" case.
            api.pause_queue(code_id)
    yield api
    api.close()


def worker(name: str = "echo") -> Worker:
    return Worker(name=name, root=Path("/unused"), entry="worker.py", runtime="python")


def smoke(name: str, payload: Any, timeout: float = 30, **fields: Any) -> SmokeTest:
    return SmokeTest(name=name, payload=payload, timeout=timeout, **fields)


def run(client: Client, *tests: SmokeTest, name: str = "echo") -> list[SmokeResult]:
    return run_smoke(client, [(worker(name), t) for t in tests], poll_interval=POLL)


def final_status(client: Client, task_id: str) -> str:
    """The task's status once the engine has settled it (bounded wait)."""
    return wait_for_task(client, task_id, timeout=10, poll=POLL).status


def test_a_passing_worker_passes(client: Client) -> None:
    """The payload reaches the worker and its separator block equals the expectation."""
    seen: list[SmokeResult] = []
    test = smoke(
        "echo",
        {"n": 5},
        output={"equals": {"n": 5}},
        log={"contains": "starting", "not_contains": "Traceback"},
    )
    [result] = run_smoke(client, [(worker(), test)], poll_interval=POLL, on_result=seen.append)
    assert result.passed, result
    assert (result.worker, result.test, result.status) == ("echo", "echo", "complete")
    assert result.failures == () and result.reason is None and result.log_tail is None
    assert result.task_id is not None and result.duration is not None
    assert seen == [result]


def test_a_failing_matcher_reports_the_message_and_log_tail(client: Client) -> None:
    """A subset mismatch fails with the user-facing message and keeps the log's tail."""
    [result] = run(client, smoke("wrong", {"n": 5}, output={"subset": {"n": 6}}))
    assert not result.passed and result.status == "complete"
    assert [f.message for f in result.failures] == [
        "output does not contain the expected subset: $.n: expected 6, got 5"
    ]
    assert result.log_tail is not None
    assert result.log_tail.splitlines()[0] == "starting"
    assert result.log_tail.splitlines()[-1] == "done"


def test_a_worker_printing_no_separator_fails(client: Client) -> None:
    """No separator block in the log is a failure saying so."""
    [result] = run(client, smoke("silent", {"blocks": []}, output={"equals": {}}))
    assert [f.message for f in result.failures] == ["no MAGICALSTDOUTSEPARATOR block in the log"]
    assert result.failures[0].hint is not None


def test_a_worker_printing_two_blocks_is_checked_per_block_choice(client: Client) -> None:
    """first, last and all address the two blocks; results come back in input order."""
    payload = {"blocks": [{"step": 1}, {"step": 2}]}
    results = run(
        client,
        smoke("first", payload, output={"equals": {"step": 1}}),
        smoke("last", payload, output={"equals": {"step": 2}, "block": "last"}),
        smoke("all", payload, output={"subset": {"step": 1}, "block": "all"}),
    )
    assert [r.test for r in results] == ["first", "last", "all"]
    assert [r.passed for r in results] == [True, True, False]
    assert [f.message for f in results[2].failures] == [
        "output block 2 of 2 does not contain the expected subset: $.step: expected 1, got 2"
    ]


def test_an_expected_error_passes_and_an_unexpected_one_fails(client: Client) -> None:
    """`status: error` passes on a failing worker; the default `complete` fails naming both."""
    passing, failing = run(
        client,
        smoke("expects error", {"fail": True}, status="error"),
        smoke("expects complete", {"fail": True}),
    )
    assert passing.passed and passing.status == "error"
    assert not failing.passed
    [failure] = failing.failures
    assert failure.kind == "status"
    assert failure.message.startswith("expected status 'complete', got 'error'")
    assert failing.log_tail is not None and "Traceback" in failing.log_tail


def test_a_hanging_worker_times_out_and_is_cancelled(client: Client) -> None:
    """A task still running at the test's timeout fails with that reason and gets cancelled."""
    [result] = run(client, smoke("hangs", {"sleep": 600}, timeout=3))
    assert not result.passed
    assert result.reason == "timed out after 3s: the task was still running; cancelled it"
    assert [f.kind for f in result.failures] == ["status"]
    assert result.task_id is not None
    assert final_status(client, result.task_id) == "cancelled"


def test_a_test_expecting_timeout_passes_on_a_hanging_worker(client: Client) -> None:
    """`status: timeout` is met by a task that runs past the test's timeout."""
    [result] = run(client, smoke("slow", {"sleep": 600}, timeout=2, status="timeout"))
    assert result.passed, result


def test_a_task_that_never_starts_fails_with_that_reason(client: Client) -> None:
    """A task left queued (paused queue) fails as never started and is cancelled."""
    [result] = run(client, smoke("paused", {"n": 1}, timeout=1.5), name="stuck")
    assert not result.passed and result.status == "queued"
    assert result.reason == (
        "task never started: still queued after 1.5s "
        "(queue paused or max_concurrency full); cancelled it"
    )
    assert result.task_id is not None
    assert final_status(client, result.task_id) == "cancelled"


def test_an_unknown_worker_is_reported_not_raised(client: Client) -> None:
    """Queueing for a code that does not exist gives a result with the API error as reason."""
    [result] = run(client, smoke("ghost", {}), name="no-such-worker")
    assert not result.passed and result.failures == () and result.task_id is None
    assert result.reason is not None and result.reason.startswith("could not queue the task: ")


# -- the waiting logic with an injected clock (docs/architecture.md, Conventions 11) -----------
# No engine and no real sleeping: a scripted client answers and a fake clock moves.


class ScriptedClient:
    """Answers with scripted statuses and logs; records cancels. Not a network mock."""

    def __init__(self, statuses: list[str], logs: list[str | None]) -> None:
        self.statuses = statuses
        self.logs = logs
        self.queued: list[tuple[str, str, dict[str, Any]]] = []
        self.cancelled: list[str] = []

    def queue_task(self, code_name: str, payload: str, **options: Any) -> str:
        self.queued.append((code_name, payload, options))
        return "task-1"

    def get_task(self, task_id: str) -> Task:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        duration = 1500 if status == "complete" else None
        return Task(task_id, "echo", None, None, status, duration=duration)

    def get_log(self, task_id: str) -> str | None:
        return self.logs.pop(0) if len(self.logs) > 1 else self.logs[0]

    def cancel_task(self, task_id: str) -> None:
        self.cancelled.append(task_id)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def test_a_never_started_task_gives_up_exactly_at_the_timeout() -> None:
    """With a fake clock, a forever-queued task stops waiting at its timeout and is cancelled."""
    api = ScriptedClient(["queued"], [None])
    clock = FakeClock()
    test = smoke("q", {"a": 1}, timeout=7.5)
    [result] = run_smoke(api, [(worker(), test)], clock=clock, sleep=clock.sleep, poll_interval=1)
    assert clock.slept == 7.5
    assert api.cancelled == ["task-1"]
    assert api.queued == [("echo", '{"a": 1}', {"timeout": 10})]
    assert result.reason is not None and result.reason.startswith("task never started")
    assert result.duration == 7.5


def test_the_log_is_retried_while_the_server_has_none_yet() -> None:
    """A log that 404s briefly after completion is polled again before checking."""
    api = ScriptedClient(
        ["running", "complete"], [None, None, "MAGICALSTDOUTSEPARATOR 1 MAGICALSTDOUTSEPARATOR"]
    )
    clock = FakeClock()
    test = smoke("t", {}, output={"equals": 1})
    [result] = run_smoke(api, [(worker(), test)], clock=clock, sleep=clock.sleep, poll_interval=1)
    assert result.passed, result
    assert result.duration == 1.5  # the server's run time, not the wait
    assert api.cancelled == []


def test_the_server_timeout_never_exceeds_the_workers_own() -> None:
    """The task is queued with the worker's timeout when it is below the test's backstop."""
    api = ScriptedClient(["complete"], [""])
    short = Worker(name="w", root=Path("/unused"), entry="w.py", runtime="python", timeout=5)
    run_smoke(api, [(short, smoke("t", None, timeout=60))], sleep=lambda s: None)
    assert api.queued == [("w", "null", {"timeout": 5})]


def test_parallelism_must_be_positive() -> None:
    """parallelism 0 is a caller bug, refused up front."""
    with pytest.raises(ValueError, match="at least 1"):
        run_smoke(ScriptedClient(["complete"], [""]), [], parallelism=0)
