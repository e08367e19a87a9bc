"""``ironship init``: a working project in an empty folder, or a manifest proposed for the
entry files already in one (README "Writing workers").

Nothing is ever overwritten: an existing manifest is refused (``--print`` shows the proposal
instead), and the scaffold's own files must not exist yet. Every manifest init writes is
checked as ``ironship validate`` checks it before it is written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ironship.cli.commands.deploy import YesOpt
from ironship.cli.commands.deploy_view import confirm
from ironship.cli.options import FileOpt
from ironship.cli.ui import err, out
from ironship.cli.validation import check
from ironship.errors import IronshipError
from ironship.onboard.manifest_text import SCHEMA_COMMENT, new_document, write_atomically
from ironship.onboard.manifest_text import write_schema as write_schema_file
from ironship.onboard.scaffold import (
    SCAFFOLD_RUNTIMES,
    Proposal,
    gitignore_text,
    propose,
    scaffold,
)
from ironship.paths import DEFAULT_MANIFEST

RuntimeOpt = Annotated[
    str | None,
    typer.Option(
        "--runtime",
        metavar="|".join(SCAFFOLD_RUNTIMES),
        help="The scaffold's language (in a folder without entry files; default python).",
    ),
]
NameOpt = Annotated[str, typer.Option("--name", help="The scaffold worker's name.")]
PrintOpt = Annotated[
    bool, typer.Option("--print", help="Print the manifest on stdout; write nothing.")
]


def init(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    runtime: RuntimeOpt = None,
    name: NameOpt = "hello",
    yes: YesOpt = False,
    print_only: PrintOpt = False,
) -> None:
    """Start a project: a working worker in an empty folder, or a manifest for the scripts
    already here (shown, then written once you confirm)."""
    if runtime is not None and runtime not in SCAFFOLD_RUNTIMES:
        raise IronshipError(
            f"--runtime {runtime}: not a runtime init can scaffold",
            hint=f"use one of: {', '.join(SCAFFOLD_RUNTIMES)}",
        )
    project = file.resolve().parent
    if file.exists() and not print_only:
        raise IronshipError(
            f"{file} already exists; init never overwrites a manifest",
            hint="edit it by hand, pass -f NEW.yml, or 'ironship init --print' to see what "
            "init would propose",
        )
    proposal = propose(project)
    if proposal.workers:
        if runtime is not None:
            err.print(
                f"note: --runtime {runtime} is for the scaffold; the scripts here keep theirs",
                markup=False,
            )
        _from_existing(file, project, proposal, yes, print_only)
    else:
        _scaffold(file, project, runtime or "python", name, print_only)


def _scaffold(file: Path, project: Path, runtime: str, name: str, print_only: bool) -> None:
    made = scaffold(runtime, _checked_name(name))
    text = SCHEMA_COMMENT + made.manifest
    if print_only:
        out.print(text, markup=False, end="")
        return
    taken = [rel for rel in made.files if (project / rel).exists()]
    if taken:
        raise IronshipError(
            f"{project / taken[0]} already exists; init never overwrites a file",
            hint="pass --name OTHER for another worker name, or move the file away",
        )
    written: list[Path] = []
    try:
        for rel, content in made.files.items():
            path = project / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(path)
            path.write_text(content, encoding="utf-8")
            if rel.endswith(".sh"):
                path.chmod(0o755)
        _write_manifest(file, project, text)
        _gitignore(project)
    except BaseException as exc:
        for path in written:  # nothing half-written: the scaffold goes with a failed manifest
            with contextlib.suppress(OSError):
                path.unlink()
        if isinstance(exc, OSError):
            raise IronshipError(f"can't write the scaffold: {exc}") from None
        raise
    err.print(f"created {made.entry}, {file} and .gitignore", markup=False)
    err.print(
        "next: 'ironship apply --smoke -y' deploys it to the local engine and runs its smoke "
        f"test; edit {made.entry} and run it again",
        markup=False,
    )


def _checked_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "_.-" for c in name) or not name.isascii():
        raise IronshipError(
            f"--name {name!r}: not a worker name",
            hint="a worker name has letters, digits, '_', '.' and '-'",
        )
    return name


def _from_existing(
    file: Path, project: Path, proposal: Proposal, yes: bool, print_only: bool
) -> None:
    text = new_document(proposal.workers, "# Proposed by `ironship init` for the scripts here.\n")
    for note in proposal.notes:
        err.print(f"warning: {note}", markup=False)
    for found in proposal.worker_files:
        err.print(f"note: 'ironship import {found}' converts that .worker file", markup=False)
    out.print(text, markup=False, end="")
    if print_only:
        return
    count = len(proposal.workers)
    question = f"Write {file} with {count} worker{'s' if count != 1 else ''}?"
    if not confirm(question, f"writing {file}", yes):
        raise IronshipError(f"{file} not written", hint="pass -y to write it without asking")
    _write_manifest(file, project, text)
    _gitignore(project)
    err.print(f"wrote {file}; next: 'ironship plan' shows what apply would upload", markup=False)


def _write_manifest(file: Path, project: Path, text: str) -> None:
    problems = manifest_problems(text, file)
    if problems:
        for problem in problems:
            err.print(problem, markup=False)
        raise IronshipError(
            f"the manifest for {file} would not validate; nothing written",
            hint="fix what is listed (or write the manifest by hand from 'ironship init --print')",
        )
    if file.exists():
        raise IronshipError(f"{file} appeared meanwhile; init never overwrites a manifest")
    try:
        write_schema_file(project)
        write_atomically(file, text)
    except OSError as exc:
        raise IronshipError(f"can't write {file}: {exc.strerror or exc}") from None


def _gitignore(project: Path) -> None:
    path = project / ".gitignore"
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else None
        updated = gitignore_text(existing)
        if updated is not None:
            path.write_text(updated, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err.print(
            f"warning: {path} not updated ({exc}): add the line .ironship/ to it", markup=False
        )


def manifest_problems(text: str, file: Path) -> list[str]:
    """What ``ironship validate`` would report for ``text`` saved as ``file`` (checked from a
    scratch copy beside it, so relative paths resolve as they will)."""
    folder = file.resolve().parent
    try:
        handle, scratch = tempfile.mkstemp(prefix=".ironship-check-", suffix=".yml", dir=folder)
    except OSError as exc:
        raise IronshipError(
            f"can't write in {folder}: {exc.strerror or exc}",
            hint="run where you can write, or pass -f to a manifest in a writable folder",
        ) from None
    scratch_path = Path(scratch)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        problems, _ = check(scratch_path, None, None)
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch_path.unlink()
    return [
        p.replace(str(scratch_path), str(file)).replace(scratch_path.name, file.name)
        for p in dict.fromkeys(problems)
    ]
