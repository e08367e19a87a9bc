"""What ``plan`` and ``apply`` show on a terminal: the plan, prompts, progress, results."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ironship.cli import ui
from ironship.cli.ui import err, is_interactive, out
from ironship.deploy.models import ApplyOutcome, ApplyResult, Plan, WorkerResult
from ironship.deploy.render import plan_lines, result_rows
from ironship.errors import IronshipError

if TYPE_CHECKING:  # apply's side (uploads, smoke tests) is imported only when apply runs
    from rich.progress import Progress, TaskID
    from rich.table import Table

    from ironship.deploy.pipeline import ApplyHooks, SmokeMode
    from ironship.smoke.report import Payloads
    from ironship.smoke.runner import SmokeResult


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


def print_plan(plan: Plan, verbose: bool = False) -> None:
    for text, style in plan_lines(plan, verbose=verbose):
        out.print(text, style=style, markup=False)


def announce_install(line: str) -> None:
    """A vendored tree is being installed (not cached yet): say so, it can take a while."""
    err.print(f"{line}…", markup=False)


def print_warnings(plan: Plan) -> None:
    for warning in plan.warnings:
        err.print(f"warning: {warning}", markup=False)


def _results_table(result: ApplyResult) -> Table:
    table = ui.table("worker", "action", "result", "detail")
    styles = {
        "failed": "red",
        "conflict": "red",
        "skipped": "dim",
        "created": "green",
        "updated": "yellow",
        "deleted": "red",
    }
    for name, action, outcome, detail in result_rows(result):
        table.add_row(name, action, f"[{styles.get(outcome, 'none')}]{outcome}[/]", detail)
    return table


class ApplyView:
    """What ``apply`` shows while the pipeline runs: the plan, prompts and progress."""

    def __init__(self, *, yes: bool, as_json: bool, smoke: SmokeMode | None, parallelism: int):
        self.yes = yes
        self.as_json = as_json
        self.smoke = smoke
        self.parallelism = parallelism
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def hooks(self) -> ApplyHooks:
        from ironship.deploy.pipeline import ApplyHooks

        return ApplyHooks(
            confirm=self.confirm,
            on_install=self.on_install,
            on_plan=self.on_plan,
            on_upload_start=self.on_upload_start,
            on_uploaded=self.on_uploaded,
            on_applied=self.on_applied,
            on_smoke_start=self.on_smoke_start,
            on_smoke_result=self.on_smoke_result,
        )

    def confirm(self, question: str, what: str) -> bool:
        return confirm(question, what, self.yes)

    def on_install(self, line: str) -> None:
        if not self.as_json:
            announce_install(line)

    def on_plan(self, plan: Plan) -> None:
        print_warnings(plan)
        if not self.as_json:
            print_plan(plan)

    def on_upload_start(self, total: int) -> None:
        if err.is_terminal and not self.as_json:
            from rich.progress import Progress

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
            from ironship.cli.commands import smoke as smoke_cmd

            smoke_cmd.announce(count, self.parallelism)
        else:
            which = "workers" if self.smoke == "all" else "changed workers"
            err.print(f"smoke: no smoke tests to run for the {which}")

    def on_smoke_result(self, result: SmokeResult) -> None:
        if not self.as_json:
            from ironship.cli.commands import smoke as smoke_cmd

            smoke_cmd.print_progress(result)


def print_outcome(
    outcome: ApplyOutcome, rollback_asked: bool, payloads: Payloads | None = None
) -> None:
    """apply's text ending: smoke results, the rollback, and what went wrong."""
    from ironship.cli.commands import smoke as smoke_cmd

    assert outcome.applied is not None
    smoke = outcome.smoke
    if smoke is not None and smoke.results:
        smoke_cmd.print_results(smoke.results, payloads)
        smoke_cmd.print_rollback(smoke)
        for name, what in smoke.recorded.items():
            err.print(f"smoke: {name}: pass {what}", markup=False)
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
    if unverified := outcome.applied.unverified:
        err.print(
            f"error: {len(unverified)} upload(s) landed but could not be verified; run "
            "ironship plan to see what the server holds"
        )
    if conflicts := outcome.applied.conflicts:
        err.print(
            f"error: {len(conflicts)} worker(s) changed on the server since the plan (another "
            "deploy got there first) and were left alone; run plan again",
            markup=False,
        )
