"""The ``ironship`` command: wiring only (CONVENTIONS §1).

Each command parses options, builds the manifest and the client, calls one core function and
renders its result. Only this module (and cli_*.py beside it) imports typer and rich.

Exit codes: 0 success or no changes; 1 error; 2 changes present (plan --detailed-exitcode);
3 deployed but a smoke test failed; 5 partial apply (some workers failed); 130 interrupted.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import click
import typer
import typer._click.exceptions as _typer_click
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from ironship import __version__
from ironship.apply import ApplyResult, WorkerResult, apply_plan
from ironship.cli_common import (
    DEFAULT_MANIFEST,
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    ParallelOpt,
    connected,
    err,
    is_interactive,
    out,
    print_json,
    read_manifest,
    with_connection,
)
from ironship.client import Client
from ironship.errors import IronshipError
from ironship.gitinfo import git_stamp
from ironship.manifest import validate_manifest
from ironship.package import build_fileset, write_zip
from ironship.plan import Plan
from ironship.planner import make_plan, select_workers
from ironship.render import apply_json, plan_json, plan_lines, result_rows
from ironship.schema import schema_text
from ironship.target import ConnectOptions

EXIT_CHANGES = 2
EXIT_SMOKE = 3
EXIT_PARTIAL = 5

app = typer.Typer(
    name="ironship",
    help="Declarative deploys, plans and smoke tests for IronWorker.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,  # locals can hold tokens
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

OnlyOpt = Annotated[
    list[str] | None,
    typer.Option("--only", help="Limit the run to these workers (repeatable)."),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"ironship {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks for internal errors.")] = False,
) -> None:
    """Declarative deploys, plans and smoke tests for IronWorker."""
    _State.debug = debug


class _State:
    debug = False


@app.command()
def validate(file: FileOpt = Path(DEFAULT_MANIFEST)) -> None:
    """Check the manifest without the network; report every problem at once."""
    problems = validate_manifest(file)
    workers = () if problems else read_manifest(file).workers
    # What only packaging sees: symlinks leaving the root, .ironshipignore hiding the entry.
    for w in workers:
        try:
            build_fileset(w)
        except IronshipError as exc:
            where = f"{w.location}: " if w.location else f"{file}: "
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            problems.append(f"{where}workers.{w.name}: {exc.message}{hint}")
    if problems:
        for p in problems:
            err.print(p, markup=False)
        count = len(problems)
        raise IronshipError(f"{file}: {count} problem{'s' if count != 1 else ''}")
    out.print(f"{file}: ok ({len(workers)} worker(s))", markup=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of ironship.yml."""
    sys.stdout.write(schema_text())


@app.command()
def files(
    worker: Annotated[str, typer.Argument(help="The worker whose package to list.")],
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
) -> None:
    """List exactly what would ship in a worker's package."""
    manifest = read_manifest(file)
    (w,) = select_workers(manifest, [worker])
    fs = build_fileset(w)
    if as_json:
        print_json(
            {
                "format_version": "1",
                "worker": fs.worker,
                "digest": fs.digest,
                "files": [
                    {"path": f.path, "executable": f.executable, "size": f.size, "sha256": f.sha256}
                    for f in fs.files
                ],
            }
        )
        return
    for f in fs.files:
        out.print(f"{'x' if f.executable else '-'} {f.size:>10}  {f.path}", markup=False)
    out.print(f"{fs.file_count} files, {fs.total_size} bytes, digest {fs.digest}", markup=False)


@app.command()
def package(
    workers: Annotated[list[str] | None, typer.Argument(help="Workers (default: all).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the zips.")] = Path("dist"),
    file: FileOpt = Path(DEFAULT_MANIFEST),
) -> None:
    """Write reproducible zips of the workers and print their size and digest."""
    manifest = read_manifest(file)
    out_dir.mkdir(parents=True, exist_ok=True)
    for w in select_workers(manifest, workers or []):
        fs = build_fileset(w)
        dest = out_dir / f"{w.name}.zip"
        md5 = write_zip(fs, dest)
        size = dest.stat().st_size
        out.print(
            f"{dest}  {fs.file_count} files  {size} bytes  {fs.digest}  md5 {md5}", markup=False
        )


def _print_plan(plan: Plan, verbose: bool = False) -> None:
    for text, style in plan_lines(plan, verbose=verbose):
        out.print(text, style=style, markup=False)


@app.command()
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
    manifest = read_manifest(file)
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
        raise typer.Exit(EXIT_CHANGES)


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


@app.command()
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
    from ironship.cli_smoke import run_smoke_after_apply

    if smoke not in (None, "changed", "all"):
        raise IronshipError(f"--smoke={smoke}: unknown value", hint="use --smoke or --smoke=all")
    for flag, given in (
        ("--junit", junit is not None),
        ("--rollback-on-failure", rollback_on_failure),
    ):
        if given and smoke is None:
            raise IronshipError(f"{flag} only applies to smoke tests", hint="add --smoke")
    manifest = read_manifest(file)
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
            code = EXIT_PARTIAL if result.changed else 1
        smoke_doc = None
        if smoke and code != 0:
            err.print("smoke tests skipped: some uploads failed")
        if smoke and code == 0:
            smoke_code, smoke_doc = run_smoke_after_apply(
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


def _register_more() -> None:
    from ironship import cli_smoke, cli_tasks

    cli_tasks.register(app)
    cli_smoke.register(app)


_register_more()


# typer >= 0.22 bundles its own copy of click, whose exceptions are not click's: catch both.
_CLICK_ERRORS: tuple[type[Exception], ...] = (click.ClickException, _typer_click.ClickException)
_ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)
_EXITS: tuple[type[Exception], ...] = (typer.Exit, click.exceptions.Exit)


def _normalise(args: list[str]) -> list[str]:
    """A bare ``--smoke`` means the changed workers; ``--smoke all`` is read as ``--smoke=all``."""
    out: list[str] = []
    for i, a in enumerate(args):
        if out and out[-1] == "--smoke=changed" and a in ("all", "changed") and i > 0:
            out[-1] = f"--smoke={a}"
        else:
            out.append("--smoke=changed" if a == "--smoke" else a)
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point: the only place errors are caught and turned into exit codes."""
    args = _normalise(list(sys.argv[1:] if argv is None else argv))
    if not args:
        args = ["--help"]  # no command: show the help and succeed
    try:
        # Without standalone mode, click returns the code of a typer.Exit instead of raising it.
        code = app(args=args, prog_name="ironship", standalone_mode=False)
    except _EXITS as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except _ABORTS:
        err.print("interrupted")
        sys.exit(130)
    except _CLICK_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(1)
    except IronshipError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", markup=True, highlight=False)
        if exc.hint:
            err.print(f"hint: {exc.hint}", markup=False)
        sys.exit(1)
    except Exception as exc:  # anything else is our bug: short message, traceback on --debug
        if _State.debug:
            traceback.print_exc()
        err.print(
            f"internal error: {type(exc).__name__}: {exc}"
            + ("" if _State.debug else " (run with --debug for a traceback)"),
            markup=False,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
