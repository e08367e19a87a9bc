"""A worker's ``schedules:`` in ironship.yml: parsed values, located problems with hints, and
environment overlays replacing the list."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ironship.errors import ManifestError
from ironship.manifest.load import load_manifest, validate_manifest
from ironship.manifest.models import WorkerSchedule
from ironship.manifest.scheduling import every_seconds, format_every, parse_time, utc_text

HEAD = """\
version: 1
workers:
  fib:
    entry: fib.py
    payload: {max: 10, opts: {fast: true}}
    schedules:
"""


def manifest(tmp_path: Path, schedules: str, tail: str = "") -> Path:
    """ironship.yml in ``tmp_path`` with worker fib and the given schedules lines."""
    (tmp_path / "fib.py").write_text("print(1)\n")
    path = tmp_path / "ironship.yml"
    path.write_text(HEAD + schedules + tail)
    return path


def test_schedules_are_parsed_with_seconds_utc_times_and_merged_payloads(tmp_path: Path) -> None:
    """every becomes seconds, times UTC RFC3339, the payload deep-merged over the worker's."""
    path = manifest(
        tmp_path,
        "      - name: nightly\n"
        "        every: 1d\n"
        "        start_at: 2030-01-01T05:00:00+02:00\n"
        "        end_at: '2031-01-01T00:00:00.5Z'\n"
        "        run_times: 30\n"
        "        payload: {opts: {depth: 2}}\n"
        "        priority: 2\n"
        "        timeout: 600\n"
        "      - name: raw-seconds\n"
        "        every: 90\n"
        "      - name: once\n",
    )
    nightly, raw, once = load_manifest(path).workers[0].schedules
    assert replace(nightly, location=None) == WorkerSchedule(
        name="nightly",
        every=86400,
        start_at="2030-01-01T03:00:00Z",
        end_at="2031-01-01T00:00:00.500000Z",
        run_times=30,
        payload={"max": 10, "opts": {"fast": True, "depth": 2}},
        priority=2,
        timeout=600,
    )
    assert nightly.location is not None
    assert (nightly.location.line, nightly.location.column) == (7, 9)
    assert (raw.every, raw.payload) == (90, {"max": 10, "opts": {"fast": True}})
    assert (once.every, once.start_at, once.run_times) == (None, None, None)


def test_a_worker_without_schedules_has_none(tmp_path: Path) -> None:
    """No ``schedules:`` key means an empty tuple."""
    (tmp_path / "fib.py").write_text("print(1)\n")
    path = tmp_path / "ironship.yml"
    path.write_text("version: 1\nworkers:\n  fib:\n    entry: fib.py\n")
    assert load_manifest(path).workers[0].schedules == ()


PROBLEMS = [
    (
        "      - name: fast\n        every: 30s\n",
        "ironship.yml:8:16: workers.fib.schedules[0].every: every 30s is 30 seconds; IronWorker"
        " runs a schedule at most once a minute (hint: use 60s (1m) or more; for a single run,"
        " drop 'every' and set start_at)",
    ),
    (
        "      - name: fast\n        every: 59\n",
        "ironship.yml:8:16: workers.fib.schedules[0].every: every 59 is 59 seconds; IronWorker"
        " runs a schedule at most once a minute (hint: use 60s (1m) or more; for a single run,"
        " drop 'every' and set start_at)",
    ),
    (
        "      - name: weekly\n        every: 1w\n",
        "ironship.yml:8:16: workers.fib.schedules[0].every: '1w' is not a duration (hint: write a"
        " number of seconds, or a number with s, m, h or d (90s, 15m, 1h, 1d))",
    ),
    (
        "      - name: x\n        every: 1h\n        start_at: '2030-01-01 03:00'\n",
        "ironship.yml:9:19: workers.fib.schedules[0].start_at: '2030-01-01 03:00' is not an"
        " RFC3339 time with an offset (hint: an RFC3339 time with its offset, e.g."
        " '2025-01-31T03:00:00Z' or '…T05:00:00+02:00')",
    ),
    (
        "      - name: x\n        every: 1h\n        start_at: 2030-01-01T03:00:00\n",
        "ironship.yml:9:19: workers.fib.schedules[0].start_at: '2030-01-01T03:00:00' is not an"
        " RFC3339 time with an offset (hint: an RFC3339 time with its offset, e.g."
        " '2025-01-31T03:00:00Z' or '…T05:00:00+02:00')",
    ),
    (
        "      - name: x\n        every: 1h\n        start_at: 2030-02-30T00:00:00Z\n",
        "ironship.yml:9:19: workers.fib.schedules[0].start_at: '2030-02-30T00:00:00Z' is not an"
        " RFC3339 time with an offset (hint: an RFC3339 time with its offset, e.g."
        " '2025-01-31T03:00:00Z' or '…T05:00:00+02:00')",
    ),
    (
        "      - name: x\n        every: 1h\n        start_at: 2030-01-02T00:00:00Z\n"
        "        end_at: 2030-01-01T00:00:00Z\n",
        "ironship.yml:10:17: workers.fib.schedules[0].end_at: end_at 2030-01-01T00:00:00Z is"
        " before start_at 2030-01-02T00:00:00Z (hint: end_at must come after start_at)",
    ),
    (
        "      - name: x\n        run_times: 3\n",
        "ironship.yml:8:20: workers.fib.schedules[0].run_times: run_times 3 without 'every': a"
        " schedule without it runs once (hint: add 'every:' (e.g. every: 1h), or drop"
        " run_times)",
    ),
    (
        "      - name: x\n        every: 1h\n      - name: x\n        every: 2h\n",
        "ironship.yml:9:15: workers.fib.schedules[1].name: schedule name 'x' is already used on"
        " line 7 (hint: give each schedule of a worker its own name)",
    ),
]


@pytest.mark.parametrize(("schedules", "problem"), PROBLEMS)
def test_bad_schedules_are_located_with_a_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schedules: str, problem: str
) -> None:
    """Each mistake is one problem at its line and column, with a hint."""
    manifest(tmp_path, schedules)
    monkeypatch.chdir(tmp_path)
    assert validate_manifest(Path("ironship.yml")) == [problem]
    with pytest.raises(ManifestError):
        load_manifest(Path("ironship.yml"))


def test_schema_problems_of_schedules_are_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with '/', an unknown key and run_times 0 are schema problems at their place."""
    manifest(tmp_path, "      - name: a/b\n        evry: 1h\n        run_times: 0\n")
    monkeypatch.chdir(tmp_path)
    problems = validate_manifest(Path("ironship.yml"))
    assert [p.split(": ")[0] + ": " + p.split(": ")[1] for p in problems] == [
        "ironship.yml:7:15: workers.fib.schedules[0].name",
        "ironship.yml:8:9: workers.fib.schedules[0].evry",
        "ironship.yml:9:20: workers.fib.schedules[0].run_times",
    ]
    assert "did you mean 'every'?" in problems[1]


def test_a_too_big_schedule_payload_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merged payload of a schedule is held to IronWorker's 64 KB."""
    manifest(
        tmp_path, f"      - name: big\n        every: 1h\n        payload: {{x: {'a' * 70000}}}\n"
    )
    monkeypatch.chdir(tmp_path)
    (problem,) = validate_manifest(Path("ironship.yml"))
    assert problem.startswith("ironship.yml:9:18: workers.fib.schedules[0].payload: payload is")


def test_an_environment_replaces_the_schedules_list(tmp_path: Path) -> None:
    """An environment's schedules for a worker replace the file's list as a whole."""
    path = manifest(
        tmp_path,
        "      - name: hourly\n        every: 1h\n      - name: nightly\n        every: 1d\n",
        "environments:\n"
        "  staging:\n"
        "    workers:\n"
        "      fib:\n"
        "        schedules:\n"
        "          - name: rarely\n"
        "            every: 7d\n",
    )
    (only,) = load_manifest(path, "staging").workers[0].schedules
    assert (only.name, only.every) == ("rarely", 7 * 86400)
    assert only.location is not None and only.location.line == 16


def test_an_environments_schedules_are_checked_too(tmp_path: Path) -> None:
    """A bad schedule in an overlay is reported where the overlay wrote it."""
    path = manifest(
        tmp_path,
        "      - name: hourly\n        every: 1h\n",
        "environments:\n  staging:\n    workers:\n      fib:\n"
        "        schedules: [{name: fast, every: 10s}]\n",
    )
    (problem,) = validate_manifest(path)
    assert ":13:" in problem and "every 10s is 10 seconds" in problem


def test_every_and_time_helpers() -> None:
    """Durations read and print back in their shortest unit; times need their offset."""
    assert [every_seconds(v) for v in ("90s", "15m", "1h", "1d", 120, "0m", True, "1.5h")] == [
        90,
        900,
        3600,
        86400,
        120,
        None,
        None,
        None,
    ]
    assert [format_every(s) for s in (90, 900, 5400, 86400, 61)] == [
        "90s",
        "15m",
        "90m",
        "1d",
        "61s",
    ]
    moment = parse_time("2030-01-01T05:00:00+02:00")
    assert moment is not None and utc_text(moment) == "2030-01-01T03:00:00Z"
    assert parse_time("2030-01-01") is None
