"""``ironship test`` and the smoke step of ``apply --smoke`` (issue 4)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ironship import exitcodes
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    ParallelOpt,
    connected,
    with_connection,
)
from ironship.cli.ui import err, out, print_json
from ironship.deploy.executor import rollback as rollback_changed
from ironship.deploy.models import ApplyResult
from ironship.deploy.planner import select_workers
from ironship.iron.client import Client
from ironship.iron.target import ConnectOptions
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Manifest, SmokeTest, Worker
from ironship.paths import DEFAULT_MANIFEST
from ironship.smoke.report import (
    failure_details,
    summary_line,
    summary_rows,
    to_json,
    to_junit,
)
from ironship.smoke.runner import SmokeResult, run_smoke


def _cases(workers: tuple[Worker, ...] | list[Worker]) -> list[tuple[Worker, SmokeTest]]:
    return [(w, t) for w in workers for t in w.smoke]


def _run_and_report(
    client: Client,
    cases: list[tuple[Worker, SmokeTest]],
    *,
    parallelism: int,
    junit: Path | None,
    as_json: bool,
) -> list[SmokeResult]:
    def progress(r: SmokeResult) -> None:
        if not as_json:
            mark = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
            # Names are free text: "[fast]" would be read as a style, "[/]" would crash.
            err.print(f"  {mark} {escape(r.worker)} / {escape(r.test)}")

    if not as_json:
        err.print(f"running {len(cases)} smoke test(s) with parallelism {parallelism}")
    results = run_smoke(client, cases, parallelism=parallelism, on_result=progress)
    _write_junit(junit, results)
    if not as_json:
        table = Table(show_edge=False, header_style="bold")
        for col in ("worker", "test", "status", "duration", "result"):
            table.add_column(col)
        for row in summary_rows(results):
            cells = [escape(str(c)) for c in row]
            style = "green" if row[-1] == "pass" else "red"
            table.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/]")
        out.print(table)
        details = failure_details(results)
        if details:
            out.print(details, markup=False)
        out.print(summary_line(results), markup=False)
    return results


def run_smoke_after_apply(
    client: Client,
    manifest: Manifest,
    result: ApplyResult,
    *,
    mode: str,
    parallelism: int,
    junit: Path | None,
    rollback: bool,
    as_json: bool,
) -> tuple[int, dict[str, Any]]:
    """Smoke-test the workers this apply changed (or all with mode 'all'); maybe roll back.

    Returns the exit code (0, EXIT_SMOKE, or 1 when a test could not run at all) and the
    ``smoke`` section of ``apply --json``, present even when there was nothing to run.
    """
    planned = {w.name for w in result.plan.workers}
    changed = {r.name for r in result.changed}
    workers = [
        w for w in manifest.workers if w.name in planned and (mode == "all" or w.name in changed)
    ]
    cases = _cases(workers)
    if not cases:
        if not as_json:
            err.print(
                "smoke: no smoke tests to run for the "
                + ("workers" if mode == "all" else "changed workers")
            )
        _write_junit(junit, [])
        return 0, to_json([])
    results = _run_and_report(client, cases, parallelism=parallelism, junit=junit, as_json=as_json)
    doc: dict[str, Any] = to_json(results)
    failed = sum(1 for r in results if not r.passed)
    if not failed:
        return 0, doc
    if rollback:
        with tempfile.TemporaryDirectory(prefix="ironship-rollback-") as tmp:
            report = rollback_changed(client, result, Path(tmp))
        doc["rollback"] = report
        if not as_json:
            out.print("Rollback (--rollback-on-failure):", markup=False)
            for name, what in sorted(report.items()):
                out.print(f"  {name}: {what}", markup=False)
            if not report:
                out.print("  nothing to roll back: this apply changed no worker", markup=False)
    code = _exit_code(results)
    if not as_json:
        err.print(
            f"error: deployed, but {failed} smoke test(s) failed (exit code {code})",
            markup=False,
        )
        if not rollback and result.changed:
            err.print(
                "hint: --rollback-on-failure puts the workers an apply changed back to their "
                "previous revisions when a smoke test fails",
                markup=False,
            )
    return code, doc


def _exit_code(results: list[SmokeResult]) -> int:
    """3 when a test failed; 1 when one could not run at all (an API or network error)."""
    if any(not r.passed and not r.failures for r in results):
        return 1
    return exitcodes.SMOKE_FAILED if any(not r.passed for r in results) else 0


def _write_junit(junit: Path | None, results: list[SmokeResult]) -> None:
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(to_junit(results), encoding="utf-8")


@with_connection
def test_cmd(
    workers: Annotated[list[str] | None, typer.Argument(help="Workers (default: all).")] = None,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    parallelism: ParallelOpt = 4,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write results as JUnit XML.")
    ] = None,
    as_json: JsonOpt = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Run the declared smoke tests against what is deployed."""
    manifest = load_manifest(file)
    selected = select_workers(manifest, workers or [])
    cases = _cases(selected)
    if not cases:
        err.print("no smoke tests declared for the selected workers")
        _write_junit(junit, [])
        if as_json:
            print_json(to_json([]))
        return
    with connected(manifest.directory, conn, quiet=as_json) as tgt:
        results = _run_and_report(
            tgt.client, cases, parallelism=parallelism, junit=junit, as_json=as_json
        )
    failed = sum(1 for r in results if not r.passed)
    code = _exit_code(results)
    if as_json:
        print_json(to_json(results))
    elif failed:
        err.print(f"error: {failed} smoke test(s) failed (exit code {code})")
    if code:
        raise typer.Exit(code)
