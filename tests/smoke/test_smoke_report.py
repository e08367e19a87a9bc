"""Smoke renderers: table rows, failure details, JSON, and JUnit read back by junitparser."""

from __future__ import annotations

import json
from pathlib import Path

from junitparser import Error, JUnitXml
from junitparser import Failure as JFailure

from ironship import FORMAT_VERSION
from ironship.smoke.expectations import Failure
from ironship.smoke.report import (
    failure_details,
    summary_line,
    summary_rows,
    to_json,
    to_junit,
)
from ironship.smoke.runner import SmokeResult

DIFF = '--- expected\n+++ received\n@@ -1 +1 @@\n-{"n": 5}\n+{"n": 6}'
PASSED = SmokeResult("fib", "to 100", True, "complete", 0.25, "t1", (), None, None)
WRONG = SmokeResult(
    "fib",
    "to 1000",
    False,
    "complete",
    1.5,
    "t2",
    (
        Failure("output", "output does not equal the expected value", '{"n": 5}', '{"n": 6}', DIFF),
        Failure("log", "log contains 'Traceback' (line 3: 'Traceback')", "no 'Traceback'", "x"),
    ),
    "line 1\n\x1b[31mred\x1b[0m\nTraceback",
    None,
)
NEVER = SmokeResult(
    "resize",
    "small image",
    False,
    "queued",
    3.0,
    "t3",
    (
        Failure(
            "status",
            "task never started: still queued after 3s (queue paused or max_concurrency full); "
            "cancelled it",
            "complete",
            "queued",
        ),
    ),
    None,
    "task never started: still queued after 3s (queue paused or max_concurrency full); "
    "cancelled it",
)
UNREACHABLE = SmokeResult(
    "resize",
    "big image",
    False,
    None,
    None,
    None,
    (),
    None,
    "could not queue the task: POST /tasks failed (503): busy",
)
RESULTS = [PASSED, WRONG, NEVER, UNREACHABLE]


def test_summary_rows_have_one_row_per_result() -> None:
    """Rows give worker, test, status, duration and result, with '-' for unknowns."""
    assert summary_rows(RESULTS) == [
        ("fib", "to 100", "complete", "0.25s", "pass"),
        ("fib", "to 1000", "complete", "1.50s", "FAIL"),
        ("resize", "small image", "never started", "3.00s", "FAIL"),
        ("resize", "big image", "-", "-", "FAIL"),
    ]
    assert summary_line(RESULTS) == "Smoke: 1 passed, 3 failed."


def test_failure_details_show_diff_task_id_and_log_tail() -> None:
    """Each failed test gets a block with its failures, task id and log tail."""
    text = failure_details(RESULTS)
    assert text.split("\n\n")[0] == "\n".join(
        [
            "FAIL fib / to 1000",
            "  task: t2 (status complete)",
            "  - [output] output does not equal the expected value",
            "    diff:",
            "      --- expected",
            "      +++ received",
            "      @@ -1 +1 @@",
            '      -{"n": 5}',
            '      +{"n": 6}',
            "  - [log] log contains 'Traceback' (line 3: 'Traceback')",
            "    expected: no 'Traceback'",
            "    received: x",
            "  log tail (last 3 lines):",
            "    | line 1",
            "    | \x1b[31mred\x1b[0m",
            "    | Traceback",
        ]
    )
    assert "FAIL resize / big image\n  reason: could not queue the task" in text
    # A timeout's reason is its failure message: it is shown once, not twice.
    assert text.count("task never started") == 1
    assert failure_details([PASSED]) == ""


def test_json_document_shape() -> None:
    """The JSON has a format_version, a summary and every result with its failures."""
    doc = to_json(RESULTS)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["format_version"] == FORMAT_VERSION == "1"
    assert doc["summary"] == {"total": 4, "passed": 1, "failed": 3}
    assert [r["test"] for r in doc["results"]] == ["to 100", "to 1000", "small image", "big image"]
    assert doc["results"][0] == {
        "worker": "fib",
        "test": "to 100",
        "passed": True,
        "status": "complete",
        "duration": 0.25,
        "task_id": "t1",
        "reason": None,
        "failures": [],
        "log_tail": None,
    }
    assert doc["results"][1]["failures"][0] == {
        "kind": "output",
        "message": "output does not equal the expected value",
        "expected": '{"n": 5}',
        "received": '{"n": 6}',
        "diff": DIFF,
        "hint": None,
    }


def test_junit_parses_with_junitparser(tmp_path: Path) -> None:
    """JUnit XML has a suite per worker, a case per test, failures and errors with messages."""
    path = tmp_path / "smoke.xml"
    path.write_text(to_junit(RESULTS), encoding="utf-8")
    xml = JUnitXml.fromfile(str(path))
    assert (xml.tests, xml.failures, xml.errors) == (4, 2, 1)
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["fib", "resize"]
    fib = suites["fib"]
    assert (fib.tests, fib.failures, fib.errors) == (2, 1, 0)
    cases = {case.name: case for case in fib}
    assert cases["to 100"].is_passed
    assert cases["to 100"].classname == "fib"
    assert cases["to 100"].time == 0.25
    [failure] = cases["to 1000"].result
    assert isinstance(failure, JFailure)
    assert failure.message == "output does not equal the expected value (and 1 more)"
    assert failure.type == "output"
    assert failure.text is not None
    assert "task: t2" in failure.text and '+{"n": 6}' in failure.text
    # ANSI escapes from the log are not valid XML characters: they are spelled out.
    assert "\\x1b[31mred" in failure.text
    resize = {case.name: case for case in suites["resize"]}
    [never] = resize["small image"].result
    assert isinstance(never, JFailure) and never.message is not None
    assert never.message.startswith("task never started: still queued after 3s")
    [error] = resize["big image"].result
    assert isinstance(error, Error)
    assert error.message == "could not queue the task: POST /tasks failed (503): busy"


def test_junit_of_no_results_is_an_empty_suite_list() -> None:
    """No tests still give a valid document with zero counts."""
    text = to_junit([])
    assert text.startswith("<?xml")
    assert 'tests="0"' in text and "<testsuite " not in text
