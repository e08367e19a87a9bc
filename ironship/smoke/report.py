"""Renderers for smoke results: table rows, failure details, JUnit XML and JSON.

Pure: they return strings, tuples and dicts; the CLI decides where they go and how to colour
them (docs/architecture.md, Conventions 12). Only the task log's tail is ever shown. A test's
payload, when the caller passes it (``payloads_of``), is shown as the IronWorker dashboard
shows one: values under keys such as ``password`` or ``token`` read ``[FILTERED]``
(``ironship.secrets.filter_sensitive``); the task itself got them unchanged.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from ironship import FORMAT_VERSION
from ironship.manifest.models import SmokeTest, Worker
from ironship.secrets import filter_sensitive
from ironship.smoke.expectations import Failure
from ironship.smoke.runner import SmokeResult

PAYLOAD_CHARS = 500  # of a payload shown in failure details; JSON reports carry all of it
# (worker, test) -> the payload the test queued
Payloads = Mapping[tuple[str, str], Any]

SUMMARY_COLUMNS = ("worker", "test", "status", "duration", "result")
JUNIT_SUITES_NAME = "ironship smoke"
# XML 1.0 forbids most control characters (ANSI colour codes in logs); ElementTree would write
# them anyway and produce a file no JUnit parser reads.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def payloads_of(cases: Sequence[tuple[Worker, SmokeTest]]) -> dict[tuple[str, str], Any]:
    """The payload each (worker, test) queues, for the reports to show (filtered)."""
    return {(w.name, t.name): t.payload for w, t in cases}


def shown_payload(payloads: Payloads | None, r: SmokeResult) -> Any:
    """The result's payload as reports show it: [FILTERED] under sensitive keys."""
    key = (r.worker, r.test)
    return filter_sensitive(payloads[key]) if payloads and key in payloads else None


def summary_rows(results: Sequence[SmokeResult]) -> list[tuple[str, str, str, str, str]]:
    """One (worker, test, status, duration, result) row per result, in result order."""
    return [
        (
            r.worker,
            r.test,
            _shown_status(r),
            _seconds(r.duration),
            "pass" if r.passed else "FAIL",
        )
        for r in results
    ]


def _shown_status(r: SmokeResult) -> str:
    """The task's status, except that a test which gave up waiting says why."""
    if r.reason and r.reason.startswith("task never started"):
        return "never started"
    if r.reason and r.reason.startswith("timed out"):
        return "timeout"
    return r.status or "-"


def summary_line(results: Sequence[SmokeResult]) -> str:
    """``Smoke: 3 passed, 1 failed.``"""
    failed = sum(1 for r in results if not r.passed)
    return f"Smoke: {len(results) - failed} passed, {failed} failed."


def failure_details(results: Sequence[SmokeResult], payloads: Payloads | None = None) -> str:
    """A plain-text block per failed result: the task id and payload, each failure's message,
    expected, received and diff, then the tail of its log. Empty when everything passed."""
    return "\n\n".join(_result_text(r, payloads) for r in results if not r.passed)


def to_json(results: Sequence[SmokeResult], payloads: Payloads | None = None) -> dict[str, Any]:
    """The ``--json`` document: ``format_version``, a summary and every result (with its
    ``payload``, filtered, when ``payloads`` are given)."""
    failed = sum(1 for r in results if not r.passed)
    return {
        "format_version": FORMAT_VERSION,
        "summary": {"total": len(results), "passed": len(results) - failed, "failed": failed},
        "results": [_result_json(r, payloads) for r in results],
    }


def _result_json(r: SmokeResult, payloads: Payloads | None) -> dict[str, Any]:
    doc = {
        "worker": r.worker,
        "test": r.test,
        "passed": r.passed,
        "status": r.status,
        "duration": r.duration,
        "task_id": r.task_id,
        "reason": r.reason,
        "failures": [asdict(f) for f in r.failures],
        "log_tail": r.log_tail,
    }
    if payloads is not None:
        doc["payload"] = shown_payload(payloads, r)
    return doc


def to_junit(results: Sequence[SmokeResult], payloads: Payloads | None = None) -> str:
    """JUnit XML: one testsuite per worker (in first-seen order), one testcase per test.

    A failed expectation (timeouts included) is a ``<failure>``; a test that could not be run
    at all (an API error, no failures recorded) is an ``<error>``, as CI systems expect.
    """
    by_worker: dict[str, list[SmokeResult]] = {}
    for r in results:
        by_worker.setdefault(r.worker, []).append(r)
    root = ET.Element("testsuites", _counts(JUNIT_SUITES_NAME, results))
    for worker, cases in by_worker.items():
        suite = ET.SubElement(root, "testsuite", _counts(worker, cases))
        for r in cases:
            case = ET.SubElement(
                suite,
                "testcase",
                {"name": _xml_safe(r.test), "classname": r.worker, "time": _time(r)},
            )
            if r.passed:
                continue
            if r.failures:
                first = r.failures[0]
                more = len(r.failures) - 1
                message = first.message + (f" (and {more} more)" if more else "")
                element = ET.SubElement(
                    case, "failure", {"message": _xml_safe(message), "type": first.kind}
                )
            else:
                element = ET.SubElement(
                    case, "error", {"message": _xml_safe(r.reason or "not run"), "type": "error"}
                )
            element.text = _xml_safe(_result_text(r, payloads))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# -- helpers ---------------------------------------------------------------------------------------


def _counts(name: str, results: Sequence[SmokeResult]) -> dict[str, str]:
    failures = sum(1 for r in results if not r.passed and r.failures)
    errors = sum(1 for r in results if not r.passed and not r.failures)
    total_time = sum(r.duration or 0.0 for r in results)
    return {
        "name": name,
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": f"{total_time:.3f}",
    }


def _xml_safe(text: str) -> str:
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _time(r: SmokeResult) -> str:
    return f"{r.duration or 0.0:.3f}"


def _seconds(duration: float | None) -> str:
    return "-" if duration is None else f"{duration:.2f}s"


def _result_text(r: SmokeResult, payloads: Payloads | None = None) -> str:
    lines = [f"FAIL {r.worker} / {r.test}"]
    if r.task_id:
        lines.append(f"  task: {r.task_id} (status {r.status or 'unknown'})")
    if payloads and (r.worker, r.test) in payloads:
        text = json.dumps(shown_payload(payloads, r), sort_keys=True, ensure_ascii=False)
        cut = len(text) > PAYLOAD_CHARS
        lines.append(f"  payload: {text[:PAYLOAD_CHARS]}" + (" … (cut)" if cut else ""))
    if r.reason and not any(f.message == r.reason for f in r.failures):
        lines.append(f"  reason: {r.reason}")
    for f in r.failures:
        lines.extend(_failure_lines(f))
    if r.log_tail:
        count = len(r.log_tail.splitlines())
        lines.append(f"  log tail (last {count} line{'s' if count != 1 else ''}):")
        lines.extend(_indent(r.log_tail, "    | "))
    return "\n".join(lines)


def _failure_lines(f: Failure) -> list[str]:
    lines = [f"  - [{f.kind}] {f.message}"]
    if f.hint:
        lines.append(f"    hint: {f.hint}")
    # The diff already shows both sides; repeating them would only lengthen the report.
    if f.diff:
        lines.append("    diff:")
        lines.extend(_indent(f.diff, "      "))
        return lines
    for label, value in (("expected", f.expected), ("received", f.received)):
        if value is None:
            continue
        if "\n" in value:
            lines.append(f"    {label}:")
            lines.extend(_indent(value, "      "))
        else:
            lines.append(f"    {label}: {value}")
    return lines


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in text.splitlines()] or [prefix]
