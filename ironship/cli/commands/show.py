"""``ironship show PLAN.json``: a saved plan as text, JSON or markdown.

Reads only the file: no manifest, no server. The text is the lines ``plan`` printed; the
JSON is the plan file itself (the ``plan --json`` document plus what apply checks); the
markdown is a pull-request comment (``deploy/markdown.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ironship.cli.ui import err, out, print_json
from ironship.deploy.markdown import saved_plan_markdown
from ironship.deploy.planfile import SavedPlan, load_plan_file
from ironship.deploy.render import plan_lines
from ironship.errors import IronshipError

FORMATS = ("text", "json", "markdown")


def _origin(saved: SavedPlan) -> str:
    parts = [saved.target.describe()]
    if saved.environment:
        parts.append(f"environment {saved.environment}")
    if saved.git_sha:
        parts.append(f"commit {saved.git_sha[:7]}" + ("+dirty" if saved.git_dirty else ""))
    return f"plan made {saved.created_at} for {', '.join(parts)}"


def show(
    plan_file: Annotated[
        Path, typer.Argument(metavar="PLAN", help="A plan file written by plan --out.")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", metavar="text|json|markdown", help="How to print it (default text)."
        ),
    ] = "text",
    skip_no_changes: Annotated[
        bool,
        typer.Option("--skip-no-changes", help="Print nothing when the plan changes nothing."),
    ] = False,
) -> None:
    """Render a saved plan file: text, JSON, or markdown for a pull-request comment."""
    if fmt not in FORMATS:
        raise IronshipError(
            f"--format {fmt}: unknown format", hint="use --format text, json or markdown"
        )
    saved = load_plan_file(plan_file)
    if skip_no_changes and not saved.has_changes:
        return
    if fmt == "json":
        print_json(saved.document)
    elif fmt == "markdown":
        sys.stdout.write(saved_plan_markdown(saved))
        sys.stdout.flush()
    else:
        err.print(_origin(saved), style="dim", markup=False)
        for text, style in plan_lines(saved.display):
            out.print(text, style=style, markup=False)
