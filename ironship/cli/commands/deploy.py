"""``ironship plan`` and ``ironship apply``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from ironship import exitcodes
from ironship.cli.commands import smoke as smoke_cmd
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    ParallelOpt,
    connected,
    with_connection,
)
from ironship.cli.ui import err, is_interactive, out, print_json
from ironship.deploy.executor import apply_plan
from ironship.deploy.models import ApplyResult, Plan, WorkerResult
from ironship.deploy.planner import make_plan
from ironship.deploy.render import apply_json, plan_json, plan_lines, result_rows
from ironship.errors import IronshipError
from ironship.iron.client import Client
from ironship.iron.target import ConnectOptions
from ironship.manifest.load import load_manifest
from ironship.packaging.gitinfo import git_stamp
from ironship.paths import DEFAULT_MANIFEST

OnlyOpt = Annotated[
    list[str] | None,
    typer.Option("--only", help="Limit the run to these workers (repeatable)."),
]


def _print_plan(plan: Plan, verbose: bool = False) -> None:
    for text, style in plan_lines(plan, verbose=verbose):
        out.print(text, style=style, markup=False)


@with_connection
def plan(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    only: OnlyOpt = None,
    prune: Annotated[bool, typer.Option("--prune", help="Plan deleting orphans.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Plan re-uploading everything.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="List unchanged too.")] = False,
    parallelism: ParallelOpt = 4,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Show, worker by worker, what apply would change and why."""
    manifest = load_manifest(file)
    with connected(manifest.directory, conn, quiet=as_json) as tgt:
        the_plan = make_plan(
            tgt.client,
            manifest,
            only=only or [],
            prune=prune,
            force=force,
            parallelism=parallelism,
        )
    if as_json:
        print_json(plan_json(the_plan, tgt.kind))
    else:
        _print_plan(the_plan, verbose)
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(exitcodes.CHANGES)


def _results_table(result: ApplyResult) -> Table:
    table = Table(title=None, show_edge=False, header_style="bold")
    for col in ("worker", "action", "result", "detail"):
        table.add_column(col)
    styles = {"failed": "red", "created": "green", "updated": "yellow", "deleted": "red"}
    for name, action, outcome, detail in result_rows(result):
        table.add_row(name, action, f"[{styles.get(outcome, 'none')}]{outcome}[/]", detail)
    return table


def _confirm(question: str, yes: bool, what: str) -> None:
    if yes:
        return
    if not is_interactive():
        raise IronshipError(
            f"{what} needs confirmation, and there is no terminal to ask",
            hint="pass -y/--yes to approve (for example in CI)",
        )
    if not typer.confirm(question, default=False):
        err.print("cancelled; nothing was changed")
        raise typer.Exit(1)


@with_connection
def apply(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Don't ask for confirmation.")] = False,
    parallelism: ParallelOpt = 4,
    only: OnlyOpt = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete orphans (asks separately).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Upload even if unchanged.")] = False,
    as_json: JsonOpt = False,
    smoke: Annotated[
        str | None,
        typer.Option(
            "--smoke",
            help="Run smoke tests after uploading: --smoke (changed workers) or --smoke=all.",
            metavar="[changed|all]",
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write smoke results as JUnit XML.")
    ] = None,
    rollback_on_failure: Annotated[
        bool,
        typer.Option(
            "--rollback-on-failure", help="Restore changed workers if a smoke test fails."
        ),
    ] = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Plan, confirm, upload what changed, verify the server, optionally smoke-test."""
    if smoke not in (None, "changed", "all"):
        raise IronshipError(f"--smoke={smoke}: unknown value", hint="use --smoke or --smoke=all")
    for flag, given in (
        ("--junit", junit is not None),
        ("--rollback-on-failure", rollback_on_failure),
    ):
        if given and smoke is None:
            raise IronshipError(f"{flag} only applies to smoke tests", hint="add --smoke")
    manifest = load_manifest(file)
    with connected(manifest.directory, conn, quiet=as_json) as tgt:
        the_plan = make_plan(
            tgt.client,
            manifest,
            only=only or [],
            prune=prune,
            force=force,
            parallelism=parallelism,
        )
        if not as_json:
            _print_plan(the_plan)
        if the_plan.has_changes:
            _confirm("Apply these changes?", yes, "apply")
            if the_plan.count("delete"):
                _confirm(
                    f"Delete {the_plan.count('delete')} worker(s) from the server? "
                    "Their code and revisions are gone for good.",
                    yes,
                    "--prune",
                )
            result = _run_apply(tgt.client, the_plan, manifest.directory, parallelism, as_json)
        else:
            result = apply_plan(tgt.client, the_plan, build_dir=Path(tempfile.gettempdir()))
            if not as_json:
                out.print("no changes: nothing uploaded")
        if not as_json and the_plan.has_changes:
            out.print(_results_table(result))
        code = 0
        if result.failed:
            code = exitcodes.PARTIAL if result.changed else 1
        smoke_doc = None
        if smoke and code != 0:
            err.print("smoke tests skipped: some uploads failed")
        if smoke and code == 0:
            smoke_code, smoke_doc = smoke_cmd.run_smoke_after_apply(
                tgt.client,
                manifest,
                result,
                mode=smoke,
                parallelism=parallelism,
                junit=junit,
                rollback=rollback_on_failure,
                as_json=as_json,
            )
            code = code or smoke_code
    if as_json:
        doc = apply_json(result, tgt.kind)
        if smoke_doc is not None:
            doc["smoke"] = smoke_doc
        print_json(doc)
    elif result.failed:
        err.print(f"error: {len(result.failed)} worker(s) failed; see the table above")
    if code:
        raise typer.Exit(code)


def _run_apply(
    client: Client, the_plan: Plan, base: Path, parallelism: int, quiet: bool
) -> ApplyResult:
    stamps = git_stamp(base)
    todo = sum(1 for w in the_plan.workers if w.changes)
    with tempfile.TemporaryDirectory(prefix="ironship-build-") as tmp:
        if err.is_terminal and not quiet:
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("uploading", total=todo)

                def tick(_: WorkerResult) -> None:
                    progress.advance(task)

                return apply_plan(
                    client,
                    the_plan,
                    build_dir=Path(tmp),
                    parallelism=parallelism,
                    stamps=stamps,
                    on_done=tick,
                )
        return apply_plan(
            client, the_plan, build_dir=Path(tmp), parallelism=parallelism, stamps=stamps
        )
