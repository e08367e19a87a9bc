"""``ironship promote``: ship the exact revision tested in one environment to another.

The manifest is resolved twice, once per environment (``--from``, ``--to``), each connected
to its own ``target:``; ``deploy/promote.py`` does the rest. ``--secrets-file`` applies to
``--to`` (the environment whose settings are uploaded); ``--from`` reads its own
``secrets_file:`` and the environment.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ironship import exitcodes
from ironship.cli import ui
from ironship.cli.commands.deploy import OnlyOpt, YesOpt
from ironship.cli.commands.deploy_view import confirm
from ironship.cli.commands.envflags import without_env
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    complete_env,
    connected,
    environment_layer,
)
from ironship.cli.ui import err, out, print_json
from ironship.deploy.models import ApplyResult
from ironship.deploy.promote import (
    Endpoint,
    PromoteHooks,
    PromoteOutcome,
    PromoteRequest,
    Promotion,
)
from ironship.deploy.promote import promote as run_promote
from ironship.deploy.render import apply_json, plan_lines, result_rows, result_summary
from ironship.deploy.stamps import read_stamps
from ironship.errors import IronshipError
from ironship.iron.target import ConnectOptions, credentials, engine_dir
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Manifest
from ironship.paths import DEFAULT_MANIFEST

FromOpt = Annotated[
    str,
    typer.Option(
        "--from",
        metavar="ENV",
        help="The environment whose latest revisions are promoted (for example staging).",
        autocompletion=complete_env,
    ),
]
ToOpt = Annotated[
    str,
    typer.Option(
        "--to",
        metavar="ENV",
        help="The environment they are uploaded to, with its own settings (for example "
        "production).",
        autocompletion=complete_env,
    ),
]
AllowDirtyOpt = Annotated[
    bool,
    typer.Option(
        "--allow-dirty",
        help="Promote revisions uploaded from files that differed from their commit.",
    ),
]
STYLES = {"failed": "red", "conflict": "red", "created": "green", "updated": "yellow"}


def _manifest(file: Path, conn: ConnectOptions, env: str, flag: str, secrets: bool) -> Manifest:
    """The manifest resolved for environment ``env`` (named by ``flag`` in messages)."""
    try:
        return load_manifest(file, env, secrets_file=conn.secrets_file if secrets else None)
    except IronshipError as exc:
        if not exc.message.startswith(f"--env {env}:"):
            raise
        message = exc.message.replace("--env", flag, 1)
        raise IronshipError(message, hint=exc.hint) from None


def _place(manifest: Manifest, conn: ConnectOptions) -> str:
    """Where ``manifest``'s environment leads: a project on a host, or a local engine folder
    (resolved from files and variables only; nothing is connected)."""
    opts = replace(conn, environment=environment_layer(manifest))
    creds = credentials(opts)
    if creds is not None:
        return f"project {creds.project_id} on {creds.base_url}"
    return f"the local engine in {engine_dir(manifest.directory, opts)}"


def _distinct(source: Manifest, dest: Manifest, conn: ConnectOptions) -> None:
    """Refuse two environments that lead to the same place (before connecting to either)."""
    place = _place(source, conn)
    if place == _place(dest, conn):
        names = f"--from {_name(source)} and --to {_name(dest)}"
        raise IronshipError(
            f"{names} both deploy to {place}: nothing to promote between them",
            hint="give each environment a target: of its own (project_id, host, token) in "
            f"{source.path.name}, and no --token/--project-id/--host flags",
        )


def _name(manifest: Manifest) -> str:
    return manifest.environment.name if manifest.environment else "-"


def _results_table(result: ApplyResult) -> Table:
    table = ui.table("worker", "action", "result", "detail")
    for name, action, outcome, detail in result_rows(result):
        table.add_row(name, action, f"[{STYLES.get(outcome, 'none')}]{outcome}[/]", detail)
    return table


def _print_plan(promotion: Promotion) -> None:
    out.print(f"promote {promotion.source} → {promotion.dest}", markup=False)
    for text, style in plan_lines(promotion.plan, verbose=True):
        out.print(text, style=style, markup=False)


def _json(outcome: PromoteOutcome, kind: str) -> dict[str, Any]:
    assert outcome.applied is not None
    doc = apply_json(outcome.applied, kind)
    doc["from"] = outcome.promotion.source
    doc["to"] = outcome.promotion.dest
    doc["origins"] = {
        name: {
            "rev": code.rev,
            "checksum": code.latest_checksum,
            "git_sha": read_stamps(code.env_vars).git_sha,
        }
        for name, code in outcome.promotion.origins.items()
    }
    return doc


def _print_outcome(outcome: PromoteOutcome) -> None:
    assert outcome.applied is not None
    result = outcome.applied
    if not result.plan.has_changes:
        out.print(
            f"no changes: {outcome.promotion.dest} runs what {outcome.promotion.source} runs",
            markup=False,
        )
        return
    out.print(_results_table(result))
    out.print(result_summary(result), markup=False)
    if result.failed:
        err.print(f"error: {len(result.failed)} worker(s) failed; see the table above")
    if result.conflicts:
        err.print(
            f"error: {len(result.conflicts)} worker(s) changed in {outcome.promotion.dest} "
            "while promoting (another deploy got there first) and were left alone",
            markup=False,
        )


@without_env
def promote(
    from_env: FromOpt,
    to_env: ToOpt,
    only: OnlyOpt = None,
    allow_dirty: AllowDirtyOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Upload the revisions one environment runs to another, byte for byte, with its settings.

    Refused: a revision not uploaded by ironship, dirty, or without a passing apply --smoke.

    --secrets-file applies to --to.
    """
    if from_env == to_env:
        raise IronshipError(
            f"--from and --to both name {from_env}", hint="promote goes from one to another"
        )
    source = _manifest(file, conn, from_env, "--from", secrets=False)
    dest = _manifest(file, conn, to_env, "--to", secrets=True)
    _distinct(source, dest, conn)
    hooks = PromoteHooks(
        confirm=lambda question: confirm(question, "promote", yes),
        on_plan=(lambda _: None) if as_json else _print_plan,
    )
    with (
        connected(source, conn, quiet=True, create_engine=False) as src,
        connected(dest, conn, quiet=True) as dst,
    ):
        if not as_json:
            err.print(f"[dim]from {from_env}: {src.description}[/dim]")
            err.print(f"[dim]to {to_env}: {dst.description}[/dim]")
        outcome = run_promote(
            Endpoint(from_env, source, src.client, src.secret_key),
            Endpoint(to_env, dest, dst.client, dst.secret_key),
            PromoteRequest(tuple(only or ()), allow_dirty),
            hooks,
        )
    if outcome.cancelled:
        err.print("cancelled; nothing was changed")
        raise typer.Exit(exitcodes.ERROR)
    if as_json:
        print_json(_json(outcome, dst.kind))
    else:
        _print_outcome(outcome)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
