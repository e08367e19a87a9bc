"""``ironship plan`` and ``ironship apply``: options in, one core call, the result rendered."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ironship import exitcodes
from ironship.cli.commands import deploy_view
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    ParallelOpt,
    PlanParallelOpt,
    complete_worker,
    connected,
    manifest_of,
    with_connection,
)
from ironship.cli.outputs import writable_file
from ironship.cli.ui import err, print_json
from ironship.deploy.planner import make_plan
from ironship.deploy.render import plan_json
from ironship.errors import IronshipError
from ironship.iron.target import ConnectOptions, Target
from ironship.manifest.models import Manifest, Worker
from ironship.paths import DEFAULT_MANIFEST

if TYPE_CHECKING:
    # apply's side (uploads, smoke tests, plan files) is imported when it is used: a plan
    # with nothing to upload loads neither the HTTP client nor the engine's server
    # (tests/cli/test_cli_imports.py).
    from ironship.deploy.pipeline import SmokeMode, StampSource
    from ironship.deploy.planfile import SavedPlan

OnlyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        metavar="WORKER",
        help="Limit the run to these workers (repeatable).",
        autocompletion=complete_worker,
    ),
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
StopOpt = Annotated[
    bool,
    typer.Option(
        "--stop-on-error",
        help="Stop at the first failed or conflicting worker; the rest are skipped.",
    ),
]
ContinueOpt = Annotated[
    bool,
    typer.Option("--continue-on-error", help="Go on with the others after one fails (default)."),
]
PlanFileArg = Annotated[
    Path | None,
    typer.Argument(metavar="PLAN", help="A plan file from `plan --out`: apply exactly it."),
]
YesOpt = Annotated[bool, typer.Option("-y", "--yes", help="Don't ask for confirmation.")]


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
        yield manifest, manifest, _stamps_when_asked(manifest.path)
        return
    from ironship.deploy.pipeline import ref_stamp_source
    from ironship.manifest.load import load_manifest
    from ironship.packaging.gitref import tree_at_ref

    with tree_at_ref(file, ref) as tree:
        if not quiet:
            err.print(f"building from --ref {ref} (commit {tree.commit[:7]})", markup=False)
        manifest = load_manifest(
            tree.manifest,
            conn.env,
            secrets_file=conn.secrets_file,
            git={"sha": tree.commit, "ref": tree.ref},
            home=tree.base,
        )
        here = replace(manifest, path=tree.original(tree.manifest))
        yield manifest, here, ref_stamp_source(tree)


def _host(tgt: Target) -> str | None:
    """The API host a plan file records; none for the local engine (PlanTarget drops it), and
    asking the local engine would start it."""
    return None if tgt.kind == "local" else tgt.client.host


def _stamps_when_asked(manifest: Path) -> StampSource:
    """``stamp_source(manifest)``, its module imported by the first upload that asks (a plan
    never does)."""
    made: list[StampSource] = []

    def stamps(worker: Worker) -> Mapping[str, str]:
        if not made:
            from ironship.deploy.pipeline import stamp_source

            made.append(stamp_source(manifest))
        return made[0](worker)

    return stamps


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
    parallelism: PlanParallelOpt = 16,  # as apply: deploy/executor.py DEFAULT_PARALLELISM
    ref: RefOpt = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Also save the plan, for `apply FILE`."),
    ] = None,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Show, worker by worker, what apply would change and why."""
    if out_file is not None:
        writable_file(out_file, "--out")
        if ref is not None:
            raise IronshipError(
                "--out with --ref: a plan built from a commit cannot be saved",
                hint="plan --out from a checkout of that commit, or apply --ref directly",
            )
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
            on_deps=None if as_json else deploy_view.announce_install,
        )
        if out_file is not None:
            from ironship.deploy.planfile import PlanTarget, plan_context, write_plan_file

            target = PlanTarget.of(tgt.kind, tgt.client.project_id, _host(tgt))
            context = plan_context(manifest, target, only=only or (), prune=prune, force=force)
            write_plan_file(out_file, the_plan, context, key=tgt.secret_key)
            err.print(f"plan saved to {out_file}; apply it with: ironship apply {out_file}")
    deploy_view.print_warnings(the_plan)
    if as_json:
        print_json(plan_json(the_plan, tgt.kind))
    else:
        deploy_view.print_plan(the_plan, verbose)
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(exitcodes.CHANGES)


def _saved_plan(
    plan_file: Path | None,
    *,
    only: list[str] | None,
    prune: bool,
    force: bool,
    ref: str | None,
) -> SavedPlan | None:
    """The plan file to apply, read and checked before any work; the plan fixes the options."""
    if plan_file is None:
        return None
    given = [
        flag
        for flag, on in (
            ("--only", bool(only)),
            ("--prune", prune),
            ("--force", force),
            ("--ref", ref),
        )
        if on
    ]
    if given:
        raise IronshipError(
            f"{', '.join(given)} with a plan file: the plan already fixes what to apply",
            hint=f"make a new plan with those options: ironship plan {' '.join(given)} --out FILE",
        )
    from ironship.deploy.planfile import load_plan_file

    return load_plan_file(plan_file)


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
    parallelism: ParallelOpt = 16,  # deploy/executor.py DEFAULT_PARALLELISM
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
    stop_on_error: StopOpt = False,
    continue_on_error: ContinueOpt = False,
    plan_file: PlanFileArg = None,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Plan, confirm, upload what changed, verify the server, optionally smoke-test.

    PLAN (from plan --out): apply exactly that plan, with no prompt, unless it is stale.

    With CI=true, a worker whose files differ from their commit needs --allow-dirty.
    """
    from ironship.cli.commands import smoke as smoke_cmd
    from ironship.deploy.pipeline import ApplyRequest, run_apply, smoke_cases
    from ironship.deploy.planfile import PlanTarget, check_target
    from ironship.deploy.render import outcome_json
    from ironship.deploy.stamps import in_ci
    from ironship.smoke.report import payloads_of

    mode = _smoke_mode(smoke, junit, rollback_on_failure)
    if stop_on_error and continue_on_error:
        raise IronshipError(
            "--stop-on-error and --continue-on-error contradict each other", hint="pick one"
        )
    saved = _saved_plan(plan_file, only=only, prune=prune, force=force, ref=ref)
    if saved is not None:
        file, conn = saved.manifest_path, replace(conn, env=conn.env or saved.environment)
    view = deploy_view.ApplyView(yes=yes, as_json=as_json, smoke=mode, parallelism=parallelism)
    with (
        manifest_source(file, ref, conn, quiet=as_json) as (manifest, where, stamps),
        connected(where, conn, quiet=as_json) as tgt,
    ):
        if saved is not None:
            target = PlanTarget.of(tgt.kind, tgt.client.project_id, _host(tgt))
            environment = manifest.environment.name if manifest.environment else None
            check_target(saved, target, environment)
        request = ApplyRequest(
            only=tuple(only or ()),
            prune=prune,
            force=force,
            parallelism=parallelism,
            smoke=mode,
            rollback=rollback_on_failure,
            check_runtimes=tgt.kind == "local",
            refuse_dirty=in_ci(os.environ) and not allow_dirty,
            continue_on_error=not stop_on_error,
            saved=saved,
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
    payloads = payloads_of(smoke_cases(manifest.workers))
    if outcome.smoke is not None:
        smoke_cmd.write_junit(junit, outcome.smoke.results, payloads)
    if as_json:
        print_json(outcome_json(outcome, tgt.kind, payloads))
    else:
        deploy_view.print_outcome(outcome, rollback_on_failure, payloads)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
