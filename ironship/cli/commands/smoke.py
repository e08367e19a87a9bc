"""``ironship test``, and the rendering of smoke results that ``apply --smoke`` shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ironship.cli import ui
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    ParallelOpt,
    complete_worker,
    connected,
    manifest_of,
    with_connection,
)
from ironship.cli.outputs import writable_file
from ironship.cli.ui import err, out, print_json
from ironship.deploy.models import SmokeOutcome
from ironship.deploy.pipeline import run_tests, smoke_cases
from ironship.deploy.planner import select_workers
from ironship.iron.target import ConnectOptions
from ironship.paths import DEFAULT_MANIFEST
from ironship.smoke.report import (
    Payloads,
    failure_details,
    payloads_of,
    summary_line,
    summary_rows,
    to_json,
    to_junit,
)
from ironship.smoke.runner import SmokeResult

JunitOpt = Annotated[
    Path | None, typer.Option("--junit", metavar="FILE", help="Write results as JUnit XML.")
]


def print_progress(r: SmokeResult) -> None:
    """One ``pass``/``FAIL`` line on stderr as each result arrives."""
    mark = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
    # Names are free text: "[fast]" would be read as a style, "[/]" would crash.
    err.print(f"  {mark} {escape(r.worker)} / {escape(r.test)}")


def announce(count: int, parallelism: int) -> None:
    err.print(f"running {count} smoke test(s) with parallelism {parallelism}")


def print_results(results: tuple[SmokeResult, ...], payloads: Payloads | None = None) -> None:
    """The results table, each failure's details (payloads filtered) and the summary line,
    on stdout."""
    table = ui.table("worker", "test", "status", "duration", "result")
    for row in summary_rows(results):
        cells = [escape(str(c)) for c in row]
        style = "green" if row[-1] == "pass" else "red"
        table.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/]")
    out.print(table)
    details = failure_details(results, payloads)
    if details:
        out.print(details, markup=False)
    out.print(summary_line(results), markup=False)


def print_rollback(smoke: SmokeOutcome) -> None:
    """What ``--rollback-on-failure`` did, worker by worker."""
    if smoke.rollback is None:
        return
    out.print("Rollback (--rollback-on-failure):", markup=False)
    for name, what in sorted(smoke.rollback.items()):
        out.print(f"  {name}: {what}", markup=False)
    if not smoke.rollback:
        out.print("  nothing to roll back: this apply changed no worker", markup=False)


def failed_count(smoke: SmokeOutcome) -> int:
    return sum(1 for r in smoke.results if not r.passed)


def write_junit(
    junit: Path | None, results: tuple[SmokeResult, ...], payloads: Payloads | None = None
) -> None:
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(to_junit(results, payloads), encoding="utf-8")


def report_nothing(junit: Path | None, as_json: bool) -> None:
    """No smoke test was selected: an empty JUnit file and JSON list, when asked for."""
    write_junit(junit, ())
    if as_json:
        print_json(to_json([]))


def report_outcome(
    outcome: SmokeOutcome, payloads: Payloads, junit: Path | None, as_json: bool
) -> None:
    """JUnit, then the JSON or the table with each failure's details; exits with the
    outcome's exit code when a test failed."""
    write_junit(junit, outcome.results, payloads)
    if as_json:
        print_json(to_json(outcome.results, payloads))
    else:
        print_results(outcome.results, payloads)
        if failed_count(outcome):
            code = outcome.exit_code
            err.print(f"error: {failed_count(outcome)} smoke test(s) failed (exit code {code})")
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@with_connection
def test_cmd(
    workers: Annotated[
        list[str] | None,
        typer.Argument(help="Workers (default: all).", autocompletion=complete_worker),
    ] = None,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    parallelism: ParallelOpt = 4,
    junit: JunitOpt = None,
    as_json: JsonOpt = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Run the declared smoke tests against what is deployed."""
    if junit is not None:
        writable_file(junit, "--junit")
    manifest = manifest_of(file, conn)
    cases = smoke_cases(select_workers(manifest, workers or []))
    payloads = payloads_of(cases)
    if not cases:
        err.print("no smoke tests declared for the selected workers")
        report_nothing(junit, as_json)
        return
    with connected(manifest, conn, quiet=as_json) as tgt:
        if not as_json:
            announce(len(cases), parallelism)
        on_result = (lambda _: None) if as_json else print_progress
        outcome = run_tests(tgt.client, cases, parallelism=parallelism, on_result=on_result)
    report_outcome(outcome, payloads, junit, as_json)
