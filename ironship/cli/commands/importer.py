"""``ironship import FILE.worker…``: iron_worker_ng ``.worker`` files as ironship.yml entries
(README "Importing .worker files").

The files are read, never run (onboard/workerfile.py); each becomes one worker entry
(onboard/convert.py) and every directive that does not carry over is a warning on stderr with
its file and line. The entries are printed, or with ``--write`` added to the manifest as text
(onboard/manifest_text.py), after checking them as ``ironship validate`` would; a name the
manifest already has is refused and nothing is written.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from ironship.cli.commands.init import manifest_problems
from ironship.cli.options import FileOpt
from ironship.cli.ui import err, out
from ironship.errors import IronshipError
from ironship.onboard.convert import Imported, convert
from ironship.onboard.manifest_text import (
    add_entries,
    dump_entries,
    existing_workers,
    new_document,
    write_atomically,
    write_schema,
)
from ironship.onboard.workerfile import read_workerfile
from ironship.paths import DEFAULT_MANIFEST

WorkerFilesArg = Annotated[
    list[Path],
    typer.Argument(metavar="FILE.worker", help="iron_worker_ng .worker files to import."),
]
WriteOpt = Annotated[
    bool,
    typer.Option("--write", help="Add the workers to the manifest (-f) instead of printing."),
]


def import_cmd(
    worker_files: WorkerFilesArg,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    write: WriteOpt = False,
) -> None:
    """Convert iron_worker_ng .worker files into ironship.yml workers (read, never run)."""
    project = file.resolve().parent
    imported = [convert(read_workerfile(path), project) for path in worker_files]
    _refuse_duplicates(imported)
    for item in imported:
        for note in item.notes:
            err.print(f"warning: {note}", markup=False)
            err.print(f"  hint: {note.hint}", markup=False)
    workers = {item.name: item.entry for item in imported}
    if not write:
        _print(file, workers)
        with contextlib.suppress(IronshipError):  # a read-only folder: print, check nothing
            for problem in manifest_problems(new_document(workers), file):
                err.print(f"warning: once written, validate reports: {problem}", markup=False)
        return
    text = _merged(file, imported, workers)
    problems = _new_problems(file, text, workers)
    if problems:
        for problem in problems:
            err.print(problem, markup=False)
        raise IronshipError(
            f"the imported workers would not validate in {file}; nothing written",
            hint="fix what is listed (the warnings above say how), then import again",
        )
    try:
        if not file.exists():
            write_schema(project)
        write_atomically(file, text)
    except OSError as exc:
        raise IronshipError(f"can't write {file}: {exc.strerror or exc}") from None
    names = ", ".join(workers)
    err.print(f"added {names} to {file}; next: 'ironship plan' shows what apply would upload")


def _refuse_duplicates(imported: list[Imported]) -> None:
    seen: dict[str, Imported] = {}
    for item in imported:
        first = seen.get(item.name)
        if first is not None:
            raise IronshipError(
                f"{item.source}:{item.line}: worker '{item.name}' is also imported from "
                f"{first.source}:{first.line}",
                hint="give one of them another name with the name directive",
            )
        seen[item.name] = item


def _print(file: Path, workers: dict[str, dict[str, Any]]) -> None:
    if file.exists():
        out.print(f"# add under workers: in {file}", markup=False)
        out.print(dump_entries(workers), markup=False, end="")
    else:
        out.print(new_document(workers), markup=False, end="")


def _merged(file: Path, imported: list[Imported], workers: dict[str, dict[str, Any]]) -> str:
    if not file.exists():
        return new_document(workers)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IronshipError(f"can't read {file}: {exc}") from None
    taken = existing_workers(text, file)
    for item in imported:
        if item.name in taken:
            raise IronshipError(
                f"{item.source}:{item.line}: worker '{item.name}' is already in "
                f"{file}:{taken[item.name]}",
                hint="rename it with the name directive in the .worker file, or remove the "
                "existing entry first; nothing was written",
            )
    return add_entries(text, file, workers)


def _new_problems(file: Path, text: str, workers: dict[str, Any]) -> list[str]:
    """The problems the import would add: every problem when the manifest was valid (or new),
    else those about the imported workers (the file's own problems are its own business)."""
    problems = manifest_problems(text, file)
    if not problems or not file.exists() or not manifest_problems(file.read_text("utf-8"), file):
        return problems
    return [p for p in problems if any(f"workers.{name}" in p for name in workers)]
