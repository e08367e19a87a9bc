"""``ironship files`` and ``ironship package``: what a worker's package holds, and its zip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ironship.cli.options import FileOpt, JsonOpt
from ironship.cli.ui import out, print_json
from ironship.deploy.planner import select_workers
from ironship.manifest.load import load_manifest
from ironship.packaging.archive import build_fileset, write_zip
from ironship.paths import DEFAULT_MANIFEST


def files(
    worker: Annotated[str, typer.Argument(help="The worker whose package to list.")],
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
) -> None:
    """List exactly what would ship in a worker's package."""
    manifest = load_manifest(file)
    (w,) = select_workers(manifest, [worker])
    fs = build_fileset(w)
    if as_json:
        print_json(
            {
                "format_version": "1",
                "worker": fs.worker,
                "digest": fs.digest,
                "files": [
                    {"path": f.path, "executable": f.executable, "size": f.size, "sha256": f.sha256}
                    for f in fs.files
                ],
            }
        )
        return
    for f in fs.files:
        out.print(f"{'x' if f.executable else '-'} {f.size:>10}  {f.path}", markup=False)
    out.print(f"{fs.file_count} files, {fs.total_size} bytes, digest {fs.digest}", markup=False)


def package(
    workers: Annotated[list[str] | None, typer.Argument(help="Workers (default: all).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the zips.")] = Path("dist"),
    file: FileOpt = Path(DEFAULT_MANIFEST),
) -> None:
    """Write reproducible zips of the workers and print their size and digest."""
    manifest = load_manifest(file)
    out_dir.mkdir(parents=True, exist_ok=True)
    for w in select_workers(manifest, workers or []):
        fs = build_fileset(w)
        dest = out_dir / f"{w.name}.zip"
        md5 = write_zip(fs, dest)
        size = dest.stat().st_size
        out.print(
            f"{dest}  {fs.file_count} files  {size} bytes  {fs.digest}  md5 {md5}", markup=False
        )
