"""The ``__runner__.sh`` entry of a worker that needs set-up before its own entry runs.

Like the runner IronWorker's own tooling writes (docs/ironworker-api.md §6 (Worker runtime
contract), ``__runner__.sh`` conventions): change into the task directory (the ``-d``
argument, else the script's folder), put ``__pips__`` on ``PYTHONPATH`` and its ``bin`` on
``PATH``, then ``exec`` the worker's entry with every argument, so the same package runs on
hosted IronWorker and on the local engine (uploaded as ``runtime: sh``). Only Python
dependencies need one: Node finds ``node_modules/`` from the entry by itself, and PHP and Ruby
workers load ``vendor/autoload.php`` or ``bundler/setup`` themselves, keeping their runtime
(and the helpers it provides).
"""

from __future__ import annotations

import shlex
import unicodedata
from pathlib import PurePosixPath

from ironship.manifest.models import Worker

_HEAD = """#!/bin/sh
# Written by ironship: puts the worker's dependencies in reach, then runs its entry with
# every argument IronWorker passed (README "Workers with dependencies").
dir=
prev=
for arg in "$@"; do
  if [ "$prev" = "-d" ]; then dir=$arg; fi
  prev=$arg
done
cd "${dir:-$(dirname "$0")}" || exit 1
"""
_PIPS = """PYTHONPATH="$PWD/__pips__${PYTHONPATH:+:$PYTHONPATH}"
PATH="$PWD/__pips__/bin:$PATH"
export PYTHONPATH PATH
"""


def runner_script(worker: Worker, python: str) -> str:
    """The runner of a worker with Python dependencies installed for ``python``."""
    entry = unicodedata.normalize("NFC", PurePosixPath(worker.entry).as_posix())
    quoted = shlex.quote(entry)
    start = {
        "python": f"python3 -u {quoted}",
        "node": f"node {quoted}",
        "ruby": f"ruby {quoted}",
        "php": f"php {quoted}",
        "sh": f"sh {quoted}",
    }.get(worker.runtime)
    lines = [_HEAD, f"# __pips__ holds packages installed for Python {python}.\n", _PIPS]
    if start is None:  # binary: the entry is the program
        lines.append(f"chmod +x {quoted} 2>/dev/null\n")
        start = shlex.quote(f"./{entry}")
    lines.append(f'exec {start} "$@"\n')
    return "".join(lines)
