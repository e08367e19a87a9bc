"""CLI behaviour that needs no server: validate, schema, files, usage errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_support import run_cli, write_tree

ROOT = Path(__file__).resolve().parents[2]


def test_validate_reports_a_symlink_leaving_the_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate also runs file selection, so a symlink out of the root is a located problem."""
    write_tree(tmp_path / "w", {"m.py": "print(1)\n"})
    os.symlink("/etc/hostname", tmp_path / "w" / "host")
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n  x:\n    root: w\n    entry: m.py\n"
    )
    res = run_cli(["validate"], capsys, monkeypatch, cwd=tmp_path)
    assert res.code == 1
    assert "ironship.yml:3:3: workers.x: 'host' is a symlink to '/etc/hostname'" in res.err
    assert "hint: exclude it" in res.err


def test_validate_ok_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid manifest says ok; a missing one names the file with a hint; exit 1, no traceback."""
    res = run_cli(["validate", "-f", str(ROOT / "examples" / "ironship.yml")], capsys, monkeypatch)
    assert res.code == 0 and "ok (2 worker(s))" in res.out
    missing = run_cli(["plan"], capsys, monkeypatch, cwd=tmp_path)
    assert missing.code == 1
    assert "ironship.yml" in missing.err and "-f" in missing.err
    assert "Traceback" not in missing.err


def test_schema_prints_the_shipped_schema(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ironship schema` prints the same JSON Schema as schemas/ironship.schema.json."""
    res = run_cli(["schema"], capsys, monkeypatch)
    assert res.code == 0
    shipped = json.loads((ROOT / "schemas" / "ironship.schema.json").read_text())
    assert json.loads(res.out) == shipped
    assert shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_example_points_editors_at_the_schema() -> None:
    """examples/ironship.yml starts with the yaml-language-server $schema line."""
    first = (ROOT / "examples" / "ironship.yml").read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = first.split("$schema=", 1)[1]
    assert (ROOT / "examples" / target).resolve() == ROOT / "schemas" / "ironship.schema.json"


def test_usage_errors_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown commands and options exit 1 with click's message, unknown workers with a hint."""
    assert run_cli(["deploy"], capsys, monkeypatch).code == 1
    assert run_cli(["plan", "--nope"], capsys, monkeypatch).code == 1
    res = run_cli(
        ["files", "nope", "-f", str(ROOT / "examples" / "ironship.yml")], capsys, monkeypatch
    )
    assert res.code == 1
    assert "no worker named 'nope'" in res.err and "fib" in res.err


def test_version(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """--version prints the version and exits 0."""
    res = run_cli(["--version"], capsys, monkeypatch)
    assert res.code == 0 and res.out.startswith("ironship ")


def test_usage_errors_name_the_problem_not_an_internal_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad flags, missing arguments and out-of-range values get click's message and exit 1."""
    cases = {
        ("plan", "--bogus"): "No such option: --bogus",
        ("nosuchcmd",): "No such command 'nosuchcmd'",
        ("queue",): "Missing argument 'WORKER'",
        ("test", "--parallelism", "0"): "Invalid value for '--parallelism'",
        ("server", "--port", "99999"): "Invalid value for '--port'",
    }
    for args, message in cases.items():
        res = run_cli(list(args), capsys, monkeypatch)
        assert res.code == 1, args
        assert message.lower() in res.err.lower(), (args, res.err)
        assert "internal error" not in res.err
    bare = run_cli([], capsys, monkeypatch)
    assert bare.code == 0 and "Usage" in bare.out


def test_empty_log_expectation_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A smoke test with `log: {}` would check nothing, so validate says so."""
    write_tree(tmp_path, {"m.py": "print(1)\n"})
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n  x:\n    entry: m.py\n"
        "    smoke:\n      - name: t\n        log: {}\n"
    )
    res = run_cli(["validate"], capsys, monkeypatch, cwd=tmp_path)
    assert res.code == 1
    assert "workers.x.smoke[0].log: no matcher" in res.err


def test_payload_argument_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--payload @ with no name, a missing file or bad JSON in a file each get their own fix."""
    (tmp_path / "bad.json").write_text("{nope")
    expected = {
        "@": "no file name after @",
        "@missing.json": "cannot read the file",
        "@bad.json": "--payload @bad.json: not valid JSON",
    }
    for arg, message in expected.items():
        res = run_cli(["queue", "w", "--payload", arg], capsys, monkeypatch, cwd=tmp_path)
        assert res.code == 1 and message in res.err, (arg, res.err)
    assert "fix the JSON in bad.json" in res.err


def test_task_commands_never_start_an_empty_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """task/log/cancel with no engine beside the manifest say where they looked, exit 1."""
    for command in ("task", "log", "cancel"):
        res = run_cli([command, "0" * 24], capsys, monkeypatch, cwd=tmp_path)
        assert res.code == 1
        assert "no local engine at" in res.err and "-f FILE or --data DIR" in res.err
    assert not (tmp_path / ".ironship").exists()
