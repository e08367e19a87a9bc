"""The ``ironship`` command: the typer app, its commands, and the one place errors end up.

Every command lives in ``ironship/cli/commands/`` as a module-level function: it parses its
options, builds the manifest and the client, calls one core function and renders the result
(docs/architecture.md, Conventions 1). ``main`` is the one place errors end up (Conventions 10);
exit codes are in ``ironship/exitcodes.py``.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import click
import typer
import typer._click.exceptions as _typer_click
import typer.rich_utils as _typer_rich
from rich.markup import escape
from typer._click import Context, Parameter
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ironship import __version__, exitcodes
from ironship.cli.commands import (
    config,
    deploy,
    dev,
    history,
    importer,
    init,
    package,
    promote,
    run,
    server,
    show,
    smoke,
    status,
    tasks,
    validate,
    worklogs,
)
from ironship.cli.ui import err, no_color, out
from ironship.errors import IronshipError

# Help that reads like typer's own examples: a flag shows no type (``--yes``, not
# ``--yes <bool>``), an option that takes a value shows what it takes (``--only TEXT``,
# ``--data DIR``), an argument shows its name in capitals (``WORKER``). typer 0.29 writes a
# ``<type>`` tag for every parameter, flags included; these classes rewrite the tags once,
# when click asks a command for its parameters.
_CLASSIC_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH"}


def _no_type(ctx: Context) -> None:
    return None


def _classic_type(param: TyperOption, ctx: Context) -> str:
    label = param.display_type(ctx).strip("<>").removesuffix(" range")
    if label.startswith("list[") and label.endswith("]"):
        label = label[len("list[") : -1]  # a repeatable option takes one value each time
    if "|" in label:
        return label  # choices, shown as they are typed
    return _CLASSIC_TYPES.get(label, label.upper())


def _plain_help(params: list[Parameter], ctx: Context) -> list[Parameter]:
    for param in params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _classic_type(param, ctx)
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            param.display_type_rich = _no_type  # type: ignore[method-assign]
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain_help(super().get_params(ctx), ctx)


class _Group(TyperGroup):
    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain_help(super().get_params(ctx), ctx)


app = typer.Typer(
    name="ironship",
    cls=_Group,
    help="Declarative deploys, plans and smoke tests for IronWorker.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,  # locals can hold tokens
    add_completion=True,  # --install-completion, --show-completion (README "Shell completion")
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _State:
    debug = False


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


# In the order `ironship --help` lists them.
_COMMANDS = (
    init.init,
    importer.import_cmd,
    validate.validate,
    validate.schema,
    package.files,
    package.package,
    deploy.plan,
    deploy.apply,
    dev.dev,
    smoke.test_cmd,
    run.run,
    tasks.queue,
    status.status,
    tasks.task,
    tasks.log,
    tasks.cancel,
    worklogs.logs,
    worklogs.tasks,
    history.history,
    history.rollback,
    history.diff,
    promote.promote,
    show.show,
    config.config,
    server.server,
)
for _command in _COMMANDS:
    # test_cmd: a function named test_* would look like a test to pytest.
    app.command(_command.__name__.removesuffix("_cmd"), cls=_Command)(_command)


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
    if no_color():
        _typer_rich.COLOR_SYSTEM = None  # typer's help console: no escape codes either
    if not args:
        args = ["--help"]  # no command: show the help and succeed
    try:
        # Without standalone mode, click returns the code of a typer.Exit instead of raising it.
        code = app(args=args, prog_name="ironship", standalone_mode=False)
    except _EXITS as exc:
        sys.exit(getattr(exc, "exit_code", exitcodes.OK))
    except _ABORTS:
        err.print("interrupted")
        sys.exit(exitcodes.INTERRUPTED)
    except _CLICK_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exitcodes.ERROR)
    except IronshipError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", markup=True, highlight=False)
        if exc.hint:
            err.print(f"hint: {exc.hint}", markup=False)
        sys.exit(exitcodes.ERROR)
    except Exception as exc:  # anything else is our bug: short message, traceback on --debug
        if _State.debug:
            traceback.print_exc()
        err.print(
            f"internal error: {type(exc).__name__}: {exc}"
            + ("" if _State.debug else " (run with --debug for a traceback)"),
            markup=False,
        )
        sys.exit(exitcodes.ERROR)
    sys.exit(code if isinstance(code, int) else exitcodes.OK)
