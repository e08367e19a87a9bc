"""``ironship plan`` and ``ironship apply``: options in, one core call, the result rendered."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from ironship import exitcodes
from ironship.cli import ui
from ironship.cli.commands import smoke as smoke_cmd
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    ParallelOpt,
    PlanParallelOpt,
    connected,
    manifest_of,
    with_connection,
)
from ironship.cli.outputs import writable_file
from ironship.cli.ui import err, is_interactive, out, print_json
from ironship.deploy.models import ApplyResult, Plan, WorkerResult
from ironship.deploy.pipeline import (
    ApplyHooks,
    ApplyOutcome,
    ApplyRequest,
    SmokeMode,
    StampSource,
    ref_stamp_source,
    run_apply,
    stamp_source,
)
from ironship.deploy.planner import make_plan
from ironship.deploy.render import outcome_json, plan_json, plan_lines, result_rows
from ironship.deploy.stamps import in_ci
from ironship.errors import IronshipError
from ironship.iron.target import ConnectOptions
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Manifest
from ironship.packaging.gitref import tree_at_ref
from ironship.paths import DEFAULT_MANIFEST
from ironship.smoke.runner import SmokeResult

OnlyOpt = Annotated[
    list[str] | None,
    typer.Option("--only", metavar="WORKER", help="Limit the run to these workers (repeatable)."),
]
SmokeOpt = Annotated[
    str | None,
    typer.Option(
        "--smoke",
        help="Run smoke tests after uploading: --smoke (changed workers) or --smoke=all.",
        metavar="[changed|all]",
    ),
]
RollbackOpt = Annotated[
    bool,
    typer.Option("--rollback-on-failure", help="Restore changed workers if a smoke test fails."),
]
RefOpt = Annotated[
    str | None,
    typer.Option(
        "--ref",
        metavar="REF",
        help="Build the workers from this git commit, branch or tag (the manifest as of it "
        "too), not from the working tree.",
    ),
]
AllowDirtyOpt = Annotated[
    bool,
    typer.Option(
        "--allow-dirty",
        help="With CI set, upload even from files that differ from their last commit.",
    ),
]
YesOpt = Annotated[bool, typer.Option("-y", "--yes", help="Don't ask for confirmation.")]


def confirm(question: str, what: str, yes: bool) -> bool:
    """Ask on a terminal; ``-y`` approves; without a terminal, refuse to guess."""
    if yes:
        return True
    if not is_interactive():
        raise IronshipError(
            f"{what} needs confirmation, and there is no terminal to ask",
            hint="pass -y/--yes to approve (for example in CI)",
        )
    return typer.confirm(question, default=False)


@contextmanager
def manifest_source(
    file: Path, ref: str | None, conn: ConnectOptions, *, quiet: bool = False
) -> Iterator[tuple[Manifest, Manifest, StampSource]]:
    """The manifest to deploy, the manifest to connect with (its folder holds the local
    engine, its environment names the target), and the upload stamps.

    With ``--ref`` the manifest and the workers' files are those of that commit, checked
    out under ``.ironship/`` for the length of the command; the engine stays beside the
    manifest in the working tree.
    """
    if ref is None:
        manifest = manifest_of(file, conn)
        yield manifest, manifest, stamp_source(manifest.path)
        return
    with tree_at_ref(file, ref) as tree:
        if not quiet:
            err.print(f"building from --ref {ref} (commit {tree.commit[:7]})", markup=False)
        manifest = load_manifest(tree.manifest, conn.env, secrets_file=conn.secrets_file)
        here = replace(manifest, path=tree.original(tree.manifest))
        yield manifest, here, ref_stamp_source(tree)


def _print_plan(plan: Plan, verbose: bool = False) -> None:
    for text, style in plan_lines(plan, verbose=verbose):
        out.print(text, style=style, markup=False)


def _print_warnings(plan: Plan) -> None:
    for warning in plan.warnings:
        err.print(f"warning: {warning}", markup=False)


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
    parallelism: PlanParallelOpt = 4,
    ref: RefOpt = None,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Show, worker by worker, what apply would change and why."""
    with (
        manifest_source(file, ref, conn, quiet=as_json) as (manifest, where, _),
        connected(where, conn, quiet=as_json) as tgt,
    ):
        the_plan = make_plan(
            tgt.client,
            manifest,
            only=only or [],
            prune=prune,
            force=force,
            parallelism=parallelism,
            stacks=tgt.client if tgt.kind == "local" else None,
            secret_key=tgt.secret_key,
        )
    _print_warnings(the_plan)
    if as_json:
        print_json(plan_json(the_plan, tgt.kind))
    else:
        _print_plan(the_plan, verbose)
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(exitcodes.CHANGES)


def _results_table(result: ApplyResult) -> Table:
    table = ui.table("worker", "action", "result", "detail")
    styles = {"failed": "red", "created": "green", "updated": "yellow", "deleted": "red"}
    for name, action, outcome, detail in result_rows(result):
        table.add_row(name, action, f"[{styles.get(outcome, 'none')}]{outcome}[/]", detail)
    return table


class _ApplyView:
    """What ``apply`` shows while the pipeline runs: the plan, prompts and progress."""

    def __init__(self, *, yes: bool, as_json: bool, smoke: SmokeMode | None, parallelism: int):
        self.yes = yes
        self.as_json = as_json
        self.smoke = smoke
        self.parallelism = parallelism
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def hooks(self) -> ApplyHooks:
        return ApplyHooks(
            confirm=self.confirm,
            on_plan=self.on_plan,
            on_upload_start=self.on_upload_start,
            on_uploaded=self.on_uploaded,
            on_applied=self.on_applied,
            on_smoke_start=self.on_smoke_start,
            on_smoke_result=self.on_smoke_result,
        )

    def confirm(self, question: str, what: str) -> bool:
        return confirm(question, what, self.yes)

    def on_plan(self, plan: Plan) -> None:
        _print_warnings(plan)
        if not self.as_json:
            _print_plan(plan)

    def on_upload_start(self, total: int) -> None:
        if err.is_terminal and not self.as_json:
            self.progress = Progress(console=err, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("uploading", total=total)

    def on_uploaded(self, _: WorkerResult) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_applied(self, result: ApplyResult) -> None:
        self.close()
        if self.as_json:
            return
        if result.plan.has_changes:
            out.print(_results_table(result))
        else:
            out.print("no changes: nothing uploaded")

    def on_smoke_start(self, count: int) -> None:
        if self.as_json:
            return
        if count:
            smoke_cmd.announce(count, self.parallelism)
        else:
            which = "workers" if self.smoke == "all" else "changed workers"
            err.print(f"smoke: no smoke tests to run for the {which}")

    def on_smoke_result(self, result: SmokeResult) -> None:
        if not self.as_json:
            smoke_cmd.print_progress(result)


def _print_outcome(outcome: ApplyOutcome, rollback_asked: bool) -> None:
    """apply's text ending: smoke results, the rollback, and what went wrong."""
    assert outcome.applied is not None
    smoke = outcome.smoke
    if smoke is not None and smoke.results:
        smoke_cmd.print_results(smoke.results)
        smoke_cmd.print_rollback(smoke)
        if failed := smoke_cmd.failed_count(smoke):
            err.print(
                f"error: deployed, but {failed} smoke test(s) failed "
                f"(exit code {outcome.exit_code})",
                markup=False,
            )
            if not rollback_asked and outcome.applied.changed:
                err.print(
                    "hint: --rollback-on-failure puts the workers an apply changed back to "
                    "their previous revisions when a smoke test fails",
                    markup=False,
                )
    if outcome.applied.failed:
        err.print(f"error: {len(outcome.applied.failed)} worker(s) failed; see the table above")


_SMOKE_MODES: dict[str | None, SmokeMode | None] = {None: None, "changed": "changed", "all": "all"}


def _smoke_mode(smoke: str | None, junit: Path | None, rollback: bool) -> SmokeMode | None:
    """Check the smoke options against each other and the output path, before any work."""
    if smoke not in _SMOKE_MODES:
        raise IronshipError(f"--smoke={smoke}: unknown value", hint="use --smoke or --smoke=all")
    for flag, given in (("--junit", junit is not None), ("--rollback-on-failure", rollback)):
        if given and smoke is None:
            raise IronshipError(f"{flag} only applies to smoke tests", hint="add --smoke")
    if junit is not None:
        writable_file(junit, "--junit")
    return _SMOKE_MODES[smoke]


@with_connection
def apply(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    yes: YesOpt = False,
    parallelism: ParallelOpt = 4,
    only: OnlyOpt = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete orphans (asks separately).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Upload even if unchanged.")] = False,
    as_json: JsonOpt = False,
    smoke: SmokeOpt = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="FILE", help="Write smoke results as JUnit XML."),
    ] = None,
    rollback_on_failure: RollbackOpt = False,
    ref: RefOpt = None,
    allow_dirty: AllowDirtyOpt = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Plan, confirm, upload what changed, verify the server, optionally smoke-test.

    With CI=true, a worker whose files differ from their commit needs --allow-dirty.
    """
    mode = _smoke_mode(smoke, junit, rollback_on_failure)
    view = _ApplyView(yes=yes, as_json=as_json, smoke=mode, parallelism=parallelism)
    with (
        manifest_source(file, ref, conn, quiet=as_json) as (manifest, where, stamps),
        connected(where, conn, quiet=as_json) as tgt,
    ):
        request = ApplyRequest(
            only=tuple(only or ()),
            prune=prune,
            force=force,
            parallelism=parallelism,
            smoke=mode,
            rollback=rollback_on_failure,
            check_runtimes=tgt.kind == "local",
            refuse_dirty=in_ci(os.environ) and not allow_dirty,
        )
        try:
            outcome = run_apply(
                tgt.client,
                manifest,
                request,
                view.hooks(),
                stamps=stamps,
                secret_key=tgt.secret_key,
            )
        finally:
            view.close()
    if outcome.cancelled:
        err.print("cancelled; nothing was changed")
        raise typer.Exit(exitcodes.ERROR)
    if outcome.smoke_skipped:
        err.print("smoke tests skipped: some uploads failed")
    if outcome.smoke is not None:
        smoke_cmd.write_junit(junit, outcome.smoke.results)
    if as_json:
        print_json(outcome_json(outcome, tgt.kind))
    else:
        _print_outcome(outcome, rollback_on_failure)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
