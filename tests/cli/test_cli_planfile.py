"""`plan --out FILE` then `apply FILE` through the real CLI and engine: exactly that plan, no
prompt, refused when stale; `--stop-on-error`; options a plan file already fixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Cli, Project, write_tree

from ironship import exitcodes

MANIFEST = (
    "version: 1\n"
    "workers:\n"
    "  alpha:\n    root: a\n    entry: main.py\n"
    "  beta:\n    root: b\n    entry: main.py\n"
)
FILES = {"ironship.yml": MANIFEST, "a/main.py": "print('a')\n", "b/main.py": "print('b')\n"}


@pytest.fixture
def cli(tmp_path: Path, project_cli: Cli) -> Cli:
    """`ironship ARGS` in tmp_path (two workers), on this test's project of the real engine."""
    write_tree(tmp_path, FILES)

    return project_cli


def revs(project: Project) -> dict[str, int]:
    with project.client() as client:
        return {c.name: c.rev for c in client.list_codes()}


def test_apply_plan_file_applies_it_without_asking(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A saved plan applies with no prompt (no terminal, no -y) and uploads what it showed."""
    made = cli("plan", "--out", "plan.json")
    assert made.code == 0, made.err
    assert "plan saved to plan.json" in made.err
    doc = json.loads((tmp_path / "plan.json").read_text())
    assert [w["action"] for w in doc["workers"]] == ["create", "create"]
    applied = cli("apply", "plan.json")
    assert applied.code == 0, applied.err
    assert revs(project) == {"alpha": 1, "beta": 1}


def test_a_stale_plan_is_refused_and_uploads_nothing(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A file changed after the plan: apply refuses ('stale plan') and the server is as before."""
    assert cli("plan", "--out", "plan.json").code == 0
    (tmp_path / "a" / "main.py").write_text("print('changed')\n")
    res = cli("apply", "plan.json")
    assert res.code == exitcodes.ERROR
    assert "stale plan" in res.err and "run plan again" in res.err
    assert revs(project) == {}


def test_a_plan_applied_twice_is_stale_the_second_time(cli: Cli, project: Project) -> None:
    """Once applied, the server moved: the same plan file is refused."""
    assert cli("plan", "--out", "plan.json").code == 0
    assert cli("apply", "plan.json").code == 0
    again = cli("apply", "plan.json")
    assert again.code == exitcodes.ERROR and "stale plan" in again.err
    assert revs(project) == {"alpha": 1, "beta": 1}


def test_options_the_plan_fixes_are_refused(cli: Cli) -> None:
    """--only with a plan file is a usage error that says how to make such a plan."""
    assert cli("plan", "--out", "plan.json").code == 0
    res = cli("apply", "plan.json", "--only", "alpha")
    assert res.code == exitcodes.ERROR
    assert "--only with a plan file" in res.err and "ironship plan --only" in res.err


def test_plan_out_into_a_folder_is_refused_before_planning(cli: Cli, tmp_path: Path) -> None:
    """`plan --out DIR` fails at once with a clear message, writing nothing."""
    (tmp_path / "plans").mkdir()
    res = cli("plan", "--out", "plans")
    assert res.code == exitcodes.ERROR and "--out plans: is a folder" in res.err
    assert list((tmp_path / "plans").iterdir()) == []


def test_stop_on_error_is_accepted_and_applies_when_nothing_fails(
    cli: Cli, project: Project
) -> None:
    """--stop-on-error changes nothing when every upload works."""
    res = cli("apply", "-y", "--stop-on-error")
    assert res.code == 0, res.err
    assert revs(project) == {"alpha": 1, "beta": 1}


def test_stop_and_continue_on_error_together_are_refused(cli: Cli, project: Project) -> None:
    """The two error policies at once are a usage error, before anything is uploaded."""
    res = cli("apply", "-y", "--stop-on-error", "--continue-on-error")
    assert res.code == exitcodes.ERROR and "contradict each other" in res.err
    assert revs(project) == {}
    assert cli("apply", "-y", "--continue-on-error").code == 0
