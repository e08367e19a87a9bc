"""Secrets and sensitive payload keys on the CLI, without environments: masked or filtered in
every display, digests never computed without the target's key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Project, run_cli, write_tree

from ironship.secrets import FILTERED
from ironship.smoke.report import PAYLOAD_CHARS, failure_details
from ironship.smoke.runner import SmokeResult

SECRET = "api-key-2d9f71c0aa"
PAYLOAD_PASSWORD = "pw-in-payload-81be"
MANIFEST = f"""\
version: 1
workers:
  fib:
    root: w
    entry: fib.py
    payload: {{max: 10, auth: {{password: {PAYLOAD_PASSWORD}}}}}
    env: {{API_KEY: "${{secret:API_KEY}}"}}
    smoke:
      - name: never-deployed
        output: {{equals: [1]}}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "w/fib.py": "print(1)\n"})
    return tmp_path


def test_files_and_package_print_no_digest_for_secrets(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, the digest of a worker with secrets is unknown: '-', null, and a note why."""
    env = {"API_KEY": SECRET}
    text = run_cli(["files", "fib"], capsys, monkeypatch, env=env, cwd=folder)
    assert text.code == 0 and text.out.endswith(", digest -\n")
    assert "its digest is keyed by the target's token" in text.err
    doc = json.loads(
        run_cli(["files", "fib", "--json"], capsys, monkeypatch, env=env, cwd=folder).out
    )
    assert doc["digest"] is None
    res = run_cli(["package", "--out", "dist"], capsys, monkeypatch, env=env, cwd=folder)
    assert res.code == 0 and "  -  md5 " in res.out
    assert SECRET not in text.out + text.err + res.out + res.err


def test_smoke_reports_show_payloads_filtered(
    folder: Path,
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Failure details, JUnit and --json show the test's payload with [FILTERED] values."""
    env = {**project.env, "API_KEY": SECRET}
    junit = folder / "smoke.xml"
    res = run_cli(["test", "--junit", str(junit)], capsys, monkeypatch, env=env, cwd=folder)
    shown = f'payload: {{"auth": {{"password": "{FILTERED}"}}, "max": 10}}'
    assert res.code == 1 and shown in res.out
    assert shown in junit.read_text()
    doc = json.loads(run_cli(["test", "--json"], capsys, monkeypatch, env=env, cwd=folder).out)
    assert doc["results"][0]["payload"] == {"max": 10, "auth": {"password": FILTERED}}
    assert PAYLOAD_PASSWORD not in res.out + res.err + junit.read_text() + json.dumps(doc)


def test_a_long_payload_is_cut_in_failure_details() -> None:
    """Failure details show at most PAYLOAD_CHARS of a payload and say they cut it."""
    result = SmokeResult("fib", "big", False, "error", 1.0, "t1", (), None, "boom")
    details = failure_details([result], {("fib", "big"): {"blob": "x" * 2000, "a_token": "t"}})
    [line] = [x for x in details.splitlines() if x.startswith("  payload: ")]
    assert line.startswith(f'  payload: {{"a_token": "{FILTERED}", "blob": "xxx')
    assert line.endswith("xxx … (cut)") and len(line) == len("  payload:  … (cut)") + PAYLOAD_CHARS
