"""The ``ironship`` command: its table of commands and ``main``, the entry point.

Every command lives in ``ironship/cli/commands/`` as a module-level function (docs/
architecture.md, Conventions 1). The typer app, the loading of each command's module when
that command runs, and the one place errors end up (Conventions 10) are in
``ironship/cli/root.py``; exit codes are in ``ironship/exitcodes.py``. This module imports
neither typer nor any command, so ``ironship --version`` answers at once.
"""

from __future__ import annotations

import gc
import sys

from ironship import __version__, exitcodes

# In the order `ironship --help` lists them: (command, module in ironship/cli/commands/,
# function). A command's module is imported only when the command runs (cli/root.py).
# The function of `test` is test_cmd: a function named test_* would look like a test to pytest.
_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("init", "init", "init"),
    ("import", "importer", "import_cmd"),
    ("validate", "validate", "validate"),
    ("schema", "validate", "schema"),
    ("files", "package", "files"),
    ("package", "package", "package"),
    ("plan", "deploy", "plan"),
    ("apply", "deploy", "apply"),
    ("dev", "dev", "dev"),
    ("test", "smoke", "test_cmd"),
    ("run", "run", "run"),
    ("queue", "tasks", "queue"),
    ("status", "status", "status"),
    ("task", "tasks", "task"),
    ("log", "tasks", "log"),
    ("cancel", "tasks", "cancel"),
    ("logs", "worklogs", "logs"),
    ("tasks", "worklogs", "tasks"),
    ("history", "history", "history"),
    ("rollback", "history", "rollback"),
    ("diff", "history", "diff"),
    ("promote", "promote", "promote"),
    ("show", "show", "show"),
    ("config", "config", "config"),
    ("server", "server", "server"),
    ("daemon", "daemon", "daemon"),
)


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
    """Entry point: ``--version`` alone is answered here, a valid manifest's ``validate`` by
    cli/quick.py; everything else by cli/root.py."""
    args = _normalise(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        # The process is this command alone: loading the modules makes thousands of objects
        # and no garbage, so the cyclic collector only slows it down (a few % of `validate`).
        # cli/root.py freezes what was loaded and turns it back on before a command runs;
        # the quick `validate` (cli/quick.py) ends before it would matter.
        gc.disable()
    if args == ["--version"]:
        sys.stdout.write(f"ironship {__version__}\n")
        sys.stdout.flush()
        sys.exit(exitcodes.OK)
    if argv is None:
        from ironship.daemon.client import forward  # a daemon serving this folder runs it

        code = forward(args)
        if code is not None:
            sys.exit(code)
    if args[:1] == ["validate"]:
        from ironship.cli.quick import quick_validate

        code = quick_validate(args[1:])
        if code is not None:
            sys.exit(code)
    from ironship.cli.root import run

    run(args, _COMMANDS, whole_process=argv is None)
