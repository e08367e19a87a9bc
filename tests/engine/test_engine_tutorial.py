"""The seed tutorial end to end over HTTP: upload Fibonacci, queue it, read and parse its log."""

from __future__ import annotations

import json
import shutil

import pytest
from engine_helpers import FIB_PHP, FIB_PY, Api, fib_upto

SEP = "MAGICALSTDOUTSEPARATOR"


def _run_fib(api: Api, name: str, runtime: str, file_name: str, source: str) -> None:
    api.upload(name, {file_name: source}, file_name=file_name, runtime=runtime)
    task_id = api.queue(name, {"max": 1000})
    task = api.wait(task_id)
    assert task["status"] == "complete", task
    parts = api.log(task_id).split(SEP)
    assert len(parts) == 3, parts
    assert json.loads(parts[1]) == fib_upto(1000)


def test_python_fibonacci(api: Api, name: str) -> None:
    """The Python 3 Fibonacci worker runs and its log carries the true sequence."""
    _run_fib(api, name, "python", "fib.py", FIB_PY)


def test_php_fibonacci(api: Api, name: str) -> None:
    """The tutorial's PHP worker (getPayload) runs unchanged when php is installed."""
    if shutil.which("php") is None:
        pytest.skip("php is not installed (CI installs php-cli)")
    _run_fib(api, name, "php", "fib.php", FIB_PHP)


def test_task_object_wire_types(api: Api, name: str) -> None:
    """A finished task has 24-hex ids, a string code_rev, integer numbers and RFC3339 times."""
    api.upload(name)
    task = api.wait(api.queue(name, {"print": "hi"}))
    for key in ("id", "project_id", "code_id", "code_history_id"):
        assert len(task[key]) == 24 and int(task[key], 16) >= 0
    assert task["code_rev"] == "1"
    for key in ("duration", "timeout", "priority", "delay", "retry_count", "log_size"):
        assert type(task[key]) is int, key
    for key in ("created_at", "updated_at", "start_time", "end_time"):
        assert task[key].endswith("Z") and task[key][10] == "T"
    assert not {"start_at", "end_at", "next_start", "last_run_time", "run_count"} & set(task)
