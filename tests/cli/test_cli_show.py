"""``ironship show PLAN.json``: a plan file made against the real engine, rendered as text,
JSON and markdown; --skip-no-changes; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Cli, Project, write_tree

from ironship.deploy.executor import apply_plan
from ironship.deploy.planfile import PlanContext, PlanTarget, write_plan_file
from ironship.deploy.planner import make_plan
from ironship.manifest.load import load_manifest

SECRET = "s3cret-value-for-show"
MANIFEST = (
    "version: 1\n"
    "workers:\n"
    "  alpha:\n    root: a\n    entry: main.py\n"
    f"    env: {{API_TOKEN: {SECRET}}}\n"
    "  beta:\n    root: b\n    entry: main.py\n"
)


@pytest.fixture
def cli(tmp_path: Path, project_cli: Cli) -> Cli:
    """`ironship ARGS` in tmp_path, on this test's project of the real engine."""
    write_tree(
        tmp_path,
        {"ironship.yml": MANIFEST, "a/main.py": "print('a')\n", "b/main.py": "print('b')\n"},
    )

    return project_cli


def save(project: Project, tmp_path: Path, *, deploy_first: bool = False) -> Path:
    """Plan tmp_path's manifest against the project and write ``plan.json``."""
    manifest = load_manifest(tmp_path / "ironship.yml")
    with project.client() as client:
        if deploy_first:
            apply_plan(client, make_plan(client, manifest), build_dir=tmp_path / "build")
        plan = make_plan(client, manifest)
    target = PlanTarget("iron", project.project_id, project.url)
    path = tmp_path / "plan.json"
    write_plan_file(path, plan, PlanContext(manifest.path, target))
    return path


def test_show_prints_the_lines_plan_printed(cli: Cli, project: Project, tmp_path: Path) -> None:
    """The text of a plan file is what ``ironship plan`` printed when it was made."""
    save(project, tmp_path)
    planned = cli("plan")
    shown = cli("show", "plan.json")
    assert (planned.code, shown.code) == (0, 0), shown.err
    assert shown.out == planned.out
    assert shown.out.splitlines()[0] == "+ alpha: create"
    assert f"iron project {project.project_id}" in shown.err


def test_show_json_is_the_plan_file_itself(cli: Cli, project: Project, tmp_path: Path) -> None:
    """--format json prints the plan file's document, format_version included."""
    path = save(project, tmp_path)
    shown = cli("show", "plan.json", "--format", "json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out) == json.loads(path.read_text())
    assert json.loads(shown.out)["format_version"] == "1"


def test_show_markdown_is_a_pull_request_comment(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """--format markdown starts with the summary and folds the plan's lines in <details>."""
    save(project, tmp_path)
    shown = cli("show", "plan.json", "--format", "markdown")
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0] == "**Plan: 2 to create, 0 to update, 0 to delete, 0 unchanged.**"
    assert f"Target: iron project {project.project_id} at {project.url}  " in lines
    assert "<details><summary>Details: 2 worker(s) change</summary>" in lines
    assert "+ alpha: create" in lines and lines[-1] == "</details>"


def test_skip_no_changes_prints_nothing_when_there_is_nothing_to_do(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """--skip-no-changes prints nothing at all (and succeeds) for a plan without changes, in
    every format, and changes nothing for a plan with some."""
    save(project, tmp_path, deploy_first=True)
    for fmt in ("text", "json", "markdown"):
        shown = cli("show", "plan.json", "--format", fmt, "--skip-no-changes")
        assert (shown.code, shown.out, shown.err) == (0, "", "")
    assert cli("show", "plan.json", "--format", "markdown").out.startswith("**No changes.")
    (tmp_path / "b" / "main.py").write_text("print('b2')\n")
    save(project, tmp_path)
    shown = cli("show", "plan.json", "--format", "markdown", "--skip-no-changes")
    assert shown.out.startswith("**Plan: 0 to create, 1 to update")


def test_show_output_never_holds_a_secret_value(cli: Cli, project: Project, tmp_path: Path) -> None:
    """No format of show prints an env value, only its name."""
    path = save(project, tmp_path)
    assert SECRET not in path.read_text()
    for fmt in ("text", "json", "markdown"):
        shown = cli("show", "plan.json", "--format", fmt)
        assert SECRET not in shown.out + shown.err
    assert "API_TOKEN" in cli("show", "plan.json", "--format", "json").out


def test_show_refuses_bad_input_with_a_message_and_no_traceback(cli: Cli, tmp_path: Path) -> None:
    """An unknown --format, a missing file or a file that is no plan: exit 1 and a fix."""
    (tmp_path / "plan.json").write_text('{"format_version": "1", "workers": []}\n')
    (tmp_path / "broken.json").write_text("{\n")
    cases = {
        ("show", "plan.json", "--format", "yaml"): (
            "error: --format yaml: unknown format\nhint: use --format text, json or markdown\n"
        ),
        ("show", "missing.json"): (
            "error: missing.json: no such plan file\n"
            "hint: make a new plan with: ironship plan --out FILE\n"
        ),
        ("show", "plan.json"): (
            "error: plan.json: not an ironship plan file (it has no plan_file section)\n"
            "hint: plan --json prints a plan to read, not one to apply; make a new plan with: "
            "ironship plan --out FILE\n"
        ),
        ("show", "broken.json"): (
            "error: broken.json:2:1: not valid JSON: Expecting property name enclosed in double "
            "quotes\nhint: make a new plan with: ironship plan --out FILE\n"
        ),
    }
    for args, message in cases.items():
        shown = cli(*args)
        assert (shown.code, shown.out, shown.err) == (1, "", message)
