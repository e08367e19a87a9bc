"""The typer app behind ``ironship``: its root options, its commands, loaded one at a time,
and the one place errors end up.

``cli/app.py`` holds the command table and ``main``; it answers ``ironship --version`` before
this module, and typer with it, is imported. A command's module
(``ironship/cli/commands/<module>.py``) is imported only when that command runs, or when
``--help`` or shell completion lists them all, so ``ironship plan`` never pays for the
HTTP client, the engine's server or the smoke runner it does not use (docs/architecture.md,
"Plan at monorepo scale"). Every command is a module-level function: it parses its options,
builds the manifest and the client, calls one core function and renders the result
(Conventions 1); errors end up in ``run`` (Conventions 10); exit codes are in
``ironship/exitcodes.py``.
"""

from __future__ import annotations

import gc
import importlib
import sys
import traceback
from collections.abc import Collection, Iterator, MutableMapping
from typing import Annotated, Any

import click
import typer
import typer._click.exceptions as _typer_click
from rich.markup import escape
from typer import _click
from typer._click import Context, Parameter
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.main import get_command_from_info
from typer.models import CommandInfo

from ironship import __version__, exitcodes
from ironship.cli.ui import err, no_color, out
from ironship.errors import IronshipError

# (command name, module under ironship/cli/commands/, function), in `--help` order.
CommandTable = tuple[tuple[str, str, str], ...]

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


class _Commands(MutableMapping[str, _click.Command]):
    """The group's commands by name: each made from the table the first time it is asked
    for (importing its module then; ``_command`` keeps it), in the table's order; commands
    typer adds itself are kept here."""

    def __init__(self, table: CommandTable, added: MutableMapping[str, _click.Command]) -> None:
        self._where = {name: (module, function) for name, module, function in table}
        self._built: dict[str, _click.Command] = dict(added)

    def __getitem__(self, name: str) -> _click.Command:
        if name in self._built:
            return self._built[name]
        module, function = self._where[name]  # KeyError: no such command
        return _command(name, module, function)

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._where.pop(name, None)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._where
        yield from (name for name in self._built if name not in self._where)

    def __len__(self) -> int:
        return len(set(self._where) | set(self._built))

    def __contains__(self, name: object) -> bool:
        return name in self._where or name in self._built


_MADE: dict[tuple[str, str, str], _click.Command] = {}


def _command(name: str, module: str, function: str) -> _click.Command:
    """The click command of one row of the table, made once per process (clicks's commands
    hold no state of a run; making one builds typer's converters for each parameter)."""
    row = (name, module, function)
    if row not in _MADE:
        callback = getattr(importlib.import_module(f"ironship.cli.commands.{module}"), function)
        info = CommandInfo(name=name, cls=_Command, callback=callback)
        _MADE[row] = get_command_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        )
    return _MADE[row]


def build_commands(table: CommandTable, names: Collection[str]) -> None:
    """Make the commands ``names`` of ``table`` now (the daemon, before its first command)."""
    for name, module, function in table:
        if name in names:
            _command(name, module, function)


class _Group(TyperGroup):
    table: CommandTable = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.table, self.commands)

    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain_help(super().get_params(ctx), ctx)

    def invoke(self, ctx: Context) -> Any:
        # typer turns a Ctrl-C outside a prompt into a silent exit 130: as an Abort, ``run``
        # says "interrupted", as it does for one at a prompt.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise typer.Abort() from None


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


# typer >= 0.22 bundles its own copy of click, whose exceptions are not click's: catch both.
_CLICK_ERRORS: tuple[type[Exception], ...] = (click.ClickException, _typer_click.ClickException)
_ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)
_EXITS: tuple[type[Exception], ...] = (typer.Exit, click.exceptions.Exit)


def _prepare(table: CommandTable, whole_process: bool) -> None:
    _Group.table = table
    if no_color():
        # typer's help and error console: no escape codes either. Imported only here, as
        # typer itself imports it only to print help or an error.
        import typer.rich_utils as typer_rich

        typer_rich.COLOR_SYSTEM = None
    if whole_process:
        # What was imported so far lives as long as the process: keep the cyclic collector
        # from scanning it again at every full collection (tens of ms in a large plan).
        # cli/app.py turned it off while the modules loaded.
        gc.freeze()
        gc.enable()


def run(args: list[str], table: CommandTable, *, whole_process: bool = False) -> None:
    """Run ``args`` (already normalised) with the commands of ``table``; exits.

    ``whole_process``: this command is all the process will do (the console script, not a
    test calling ``main`` in its own process).
    """
    _prepare(table, whole_process)
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
