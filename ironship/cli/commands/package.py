"""``ironship files`` and ``ironship package``: what a worker's package holds, and its zip.

Both work offline. The digest they print is the one ``apply`` stamps, except for a worker
whose settings hold secrets: that digest is keyed by the target's token (deploy/settings.py),
so they print ``-`` for it (``ironship plan --json`` shows it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ironship import FORMAT_VERSION
from ironship.cli.options import EnvOpt, FileOpt, JsonOpt, SecretsFileOpt
from ironship.cli.outputs import writable_dir
from ironship.cli.ui import err, out, print_json
from ironship.deploy.planner import select_workers
from ironship.deploy.settings import content_digest, needs_key, upload_settings
from ironship.errors import IronshipError
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Worker
from ironship.packaging.archive import write_zip
from ironship.packaging.fileset import FileSet, select_fileset
from ironship.paths import DEFAULT_MANIFEST


def files(
    worker: Annotated[str, typer.Argument(help="The worker whose package to list.")],
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
    env: EnvOpt = None,
    secrets_file: SecretsFileOpt = None,
) -> None:
    """List exactly what would ship in a worker's package."""
    manifest = load_manifest(file, env, secrets_file=secrets_file)
    (w,) = select_workers(manifest, [worker])
    fs = select_fileset(w)
    digest = _digest(w, fs)
    if as_json:
        print_json(
            {
                "format_version": FORMAT_VERSION,
                "worker": fs.worker,
                "digest": digest,
                "files": [
                    {"path": f.path, "executable": f.executable, "size": f.size, "sha256": f.sha256}
                    for f in fs.files
                ],
            }
        )
        return
    for f in fs.files:
        out.print(f"{'x' if f.executable else '-'} {f.size:>10}  {f.path}", markup=False)
    out.print(
        f"{_count(fs.file_count, 'file')}, {_count(fs.total_size, 'byte')}, digest {digest or '-'}",
        markup=False,
    )


def _digest(worker: Worker, fileset: FileSet) -> str | None:
    """The digest ``apply`` would stamp (files and settings); None when it needs the target's
    key (the worker has secrets), with a note on stderr saying so."""
    if needs_key(worker):
        err.print(
            f"note: {worker.name}: its settings hold secrets, so its digest is keyed by the "
            "target's token; 'ironship plan --json' shows it",
            markup=False,
        )
        return None
    return content_digest(fileset.files, upload_settings(worker))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def package(
    workers: Annotated[list[str] | None, typer.Argument(help="Workers (default: all).")] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="The folder to write the zips to.")
    ] = Path("dist"),
    file: FileOpt = Path(DEFAULT_MANIFEST),
    env: EnvOpt = None,
    secrets_file: SecretsFileOpt = None,
) -> None:
    """Write reproducible zips of the workers and print their size and digest."""
    writable_dir(out_dir, "--out")  # before any work: a bad --out must not cost a build
    manifest = load_manifest(file, env, secrets_file=secrets_file)
    selected = select_workers(manifest, workers or [])
    for w in selected:
        if (out_dir / f"{w.name}.zip").is_dir():
            raise IronshipError(
                f"--out {out_dir}: {out_dir / f'{w.name}.zip'} is a folder, where the zip of "
                f"{w.name} goes",
                hint="move that folder away or choose another --out",
            )
    filesets = [(w, select_fileset(w)) for w in selected]  # every problem before writing
    out_dir.mkdir(parents=True, exist_ok=True)
    for w, fs in filesets:
        dest = out_dir / f"{fs.worker}.zip"
        md5 = write_zip(fs, dest)
        size = dest.stat().st_size
        out.print(
            f"{dest}  {_count(fs.file_count, 'file')}  {_count(size, 'byte')}  "
            f"{_digest(w, fs) or '-'}  md5 {md5}",
            markup=False,
        )
