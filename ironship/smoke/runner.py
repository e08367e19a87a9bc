"""Run declared smoke tests against deployed workers: queue → wait → read log → check.

Every wait is bounded by the test's own timeout measured with the injected clock
(docs/architecture.md, Conventions 11), so a paused queue or a hanging worker becomes a
failure with a reason, never a hang. The waiting itself is ``ironship.iron.wait``'s, with the
task statuses of ``ironship.iron.types``. The core never prints: callers render results
(``ironship.smoke.report``) and may watch them arrive through ``on_result``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

from ironship.errors import IronshipError
from ironship.iron.types import NOT_STARTED, Task
from ironship.iron.wait import Clock, Sleep, wait_for_task
from ironship.manifest.models import SmokeTest, Worker
from ironship.smoke.expectations import Failure, check

LOG_TAIL_LINES = 20
# The log can 404 for a moment after the task ends (docs/ironworker-api.md §3 (Tasks), "Log").
LOG_ATTEMPTS = 10
SERVER_TIMEOUT_SLACK = 2  # seconds; see server_timeout()


class SmokeClient(Protocol):
    """The slice of ``ironship.iron.client.Client`` the runner needs (easy to stand in for)."""

    def queue_task(self, code_name: str, payload: str, **options: Any) -> str: ...
    def get_task(self, task_id: str) -> Task: ...
    def get_log(self, task_id: str) -> str | None: ...
    def cancel_task(self, task_id: str) -> None: ...


class _Watched:
    """Reads tasks through ``client`` and remembers the last status seen, for error reports."""

    def __init__(self, client: SmokeClient) -> None:
        self.client = client
        self.last_status: str | None = None

    def get_task(self, task_id: str) -> Task:
        task = self.client.get_task(task_id)
        self.last_status = task.status
        return task


@dataclass(frozen=True)
class SmokeResult:
    """The outcome of one smoke test.

    ``status`` is the last task status seen. ``reason`` says why the task did not finish on
    its own (timed out, never started, an API error). When ``passed`` is false, ``failures``
    is empty only if the test could not be run at all (an API error, see ``reason``).
    """

    worker: str
    test: str
    passed: bool
    status: str | None
    duration: float | None  # seconds: the task's run time, or the wait when it never finished
    task_id: str | None
    failures: tuple[Failure, ...]
    log_tail: str | None  # last LOG_TAIL_LINES lines of the task log, for failed tests only
    reason: str | None


def run_smoke(
    client: SmokeClient,
    cases: Sequence[tuple[Worker, SmokeTest]],
    *,
    parallelism: int = 4,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    poll_interval: float = 0.2,
    on_result: Callable[[SmokeResult], None] | None = None,
) -> list[SmokeResult]:
    """Run every (worker, test) case, ``parallelism`` at a time; results in input order.

    ``on_result`` is called in the calling thread as each result arrives (completion order).
    A test's timeout starts when its turn comes, not when ``run_smoke`` is called.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, not {parallelism}")
    if not cases:
        return []
    results: dict[int, SmokeResult] = {}
    stop = threading.Event()
    nap = _stoppable(sleep, stop)
    with ThreadPoolExecutor(
        max_workers=min(parallelism, len(cases)), thread_name_prefix="ironship-smoke"
    ) as pool:
        try:
            futures: dict[Future[SmokeResult], int] = {
                pool.submit(run_one, client, worker, test, clock, nap, poll_interval): index
                for index, (worker, test) in enumerate(cases)
            }
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                if on_result is not None:
                    on_result(result)
        except BaseException:
            # Ctrl-C (or a failing on_result): the tests waiting stop now, cancelling their
            # tasks, instead of each waiting out its timeout; those not started never start.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[index] for index in range(len(cases))]


class _Stopped(BaseException):
    """``run_smoke`` was interrupted: a test stops waiting (not an Exception: nothing on the
    way may take it for the test's own failure)."""


def _stoppable(sleep: Sleep, stop: threading.Event) -> Sleep:
    """``sleep`` that raises _Stopped once ``stop`` is set; the real one wakes at once."""

    def nap(seconds: float) -> None:
        if sleep is time.sleep:
            stop.wait(seconds)
        else:
            sleep(seconds)
        if stop.is_set():
            raise _Stopped

    return nap


def run_one(
    client: SmokeClient,
    worker: Worker,
    test: SmokeTest,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    poll_interval: float = 0.2,
) -> SmokeResult:
    """Queue one test's task, wait for it within ``test.timeout``, then check it."""
    queued_at = clock()
    deadline = queued_at + test.timeout
    try:
        task_id = client.queue_task(
            worker.name, json.dumps(test.payload), timeout=server_timeout(worker, test)
        )
    except IronshipError as exc:
        return _not_run(worker, test, None, None, f"could not queue the task: {exc}")
    watched = _Watched(client)
    try:
        task = wait_for_task(
            watched,
            task_id,
            timeout=deadline - clock(),
            poll=poll_interval,
            clock=clock,
            sleep=sleep,
        )
    except IronshipError as exc:
        note = _cancel(client, task_id)
        reason = f"could not read the task: {exc}{note}"
        return _not_run(worker, test, task_id, watched.last_status, reason)
    except _Stopped:
        _cancel(client, task_id)  # nobody waits for it any more
        raise
    if not task.finished:
        waited = clock() - queued_at
        return _timed_out(client, worker, test, task_id, task.status, waited)
    duration = task.duration / 1000 if task.duration is not None else clock() - queued_at
    log = _wait_for_log(client, task_id, sleep, poll_interval)
    failures = tuple(check(test, task.status, log, duration, msg=task.msg))
    return _checked(worker, test, task.status, duration, task_id, failures, log, None)


def server_timeout(worker: Worker, test: SmokeTest) -> int:
    """The task ``timeout`` to queue with, so the server kills the task even if ironship dies.

    It is a backstop: ``SERVER_TIMEOUT_SLACK`` seconds past the test's timeout, so the test's
    own deadline (which also counts time in the queue) decides first and says why. It never
    exceeds the worker's own timeout: a smoke task must not get longer than production does.
    """
    seconds = math.ceil(test.timeout) + SERVER_TIMEOUT_SLACK
    return min(seconds, worker.timeout) if worker.timeout else seconds


def _timed_out(
    client: SmokeClient,
    worker: Worker,
    test: SmokeTest,
    task_id: str,
    status: str,
    waited: float,
) -> SmokeResult:
    note = _cancel(client, task_id)
    if status in NOT_STARTED:
        reason = (
            f"task never started: still {status} after {test.timeout:g}s "
            f"(queue paused or max_concurrency full); cancelled it{note}"
        )
    else:
        reason = (
            f"timed out after {test.timeout:g}s: the task was still {status}; cancelled it{note}"
        )
    log = _read_log(client, task_id)
    if test.status == "timeout" and status not in NOT_STARTED:
        # The task ran past the test's timeout, which is what a `status: timeout` test asserts;
        # the other expectations still apply to what it printed so far.
        failures = tuple(check(test, "timeout", log, None))
    else:
        failures = (Failure("status", reason, expected=test.status, received=status),)
    return _checked(worker, test, status, waited, task_id, failures, log, reason)


def _checked(
    worker: Worker,
    test: SmokeTest,
    status: str,
    duration: float | None,
    task_id: str,
    failures: tuple[Failure, ...],
    log: str | None,
    reason: str | None,
) -> SmokeResult:
    """A result whose expectations were checked: it passes when nothing failed."""
    return SmokeResult(
        worker=worker.name,
        test=test.name,
        passed=not failures,
        status=status,
        duration=duration,
        task_id=task_id,
        failures=failures,
        log_tail=_tail(log) if failures else None,
        reason=reason,
    )


def _not_run(
    worker: Worker, test: SmokeTest, task_id: str | None, status: str | None, reason: str
) -> SmokeResult:
    return SmokeResult(
        worker=worker.name,
        test=test.name,
        passed=False,
        status=status,
        duration=None,
        task_id=task_id,
        failures=(),
        log_tail=None,
        reason=reason,
    )


def _cancel(client: SmokeClient, task_id: str) -> str:
    """Cancel the task; a failure (it may have just finished) is reported, never raised."""
    try:
        client.cancel_task(task_id)
    except IronshipError as exc:
        return f" (cancelling failed: {exc})"
    return ""


def _read_log(client: SmokeClient, task_id: str) -> str | None:
    try:
        return client.get_log(task_id)
    except IronshipError:
        return None


def _wait_for_log(
    client: SmokeClient, task_id: str, sleep: Sleep, poll_interval: float
) -> str | None:
    for attempt in range(LOG_ATTEMPTS):
        if attempt:
            sleep(poll_interval)
        log = _read_log(client, task_id)
        if log is not None:
            return log
    return None


def _tail(log: str | None) -> str | None:
    if not log:
        return None
    return "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
