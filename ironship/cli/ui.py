"""Where the CLI writes: results on stdout, progress and warnings on stderr, JSON for machines.

Output is for people and for machines alike (docs/architecture.md, Conventions 12): with
``NO_COLOR`` set (https://no-color.org: present and not empty) the consoles emit no escape
codes at all, not even bold or dim, and a table printed to a pipe or a file is drawn in
ASCII, so ``grep`` and ``diff`` see plain text.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table


def no_color() -> bool:
    """True when ``NO_COLOR`` asks for plain output."""
    return bool(os.environ.get("NO_COLOR"))


def _settings(*, stderr: bool) -> dict[str, Any]:
    # rich honours NO_COLOR for colours but still writes bold and dim; without a colour system
    # it writes no style at all.
    plain = no_color()
    return {
        "stderr": stderr,
        "highlight": False,
        "soft_wrap": True,
        "no_color": plain,
        "color_system": None if plain else "auto",
    }


out = Console(**_settings(stderr=False))
err = Console(**_settings(stderr=True))


def reset_consoles() -> None:
    """Set ``out`` and ``err`` up again for this process's streams and environment.

    A command run by the daemon (ironship/daemon/server.py) runs in a copy of a process whose
    consoles were made for the daemon's streams; every module holds these two objects, so
    they are set up again in place."""
    out.__init__(**_settings(stderr=False))  # type: ignore[misc]
    err.__init__(**_settings(stderr=True))  # type: ignore[misc]


def table(*columns: str, console: Console | None = None) -> Table:
    """A result table with these column headers, drawn for where it will be printed.

    On a terminal the lines are box-drawing characters; on a pipe or in a file they are
    ASCII (``|``, ``-``, ``+``). ``console`` is where the table goes (default: stdout).
    """
    target = console or out
    shape = box.HEAVY_HEAD if target.is_terminal else box.ASCII
    result = Table(box=shape, show_edge=False, header_style="bold")
    for column in columns:
        result.add_column(column)
    return result


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
