"""``ironship files`` and ``ironship package``: what a worker's package holds, and its zip.

Both work without a server; a worker with dependencies has them installed (or taken from
``.ironship/cache/deps/``) first, as ``plan`` does. ``files`` shows a vendored tree as one line
per package (``__pips__/requests 2.32.3 (63 files)``); ``--all`` lists every file. The digest
they print is the one ``apply`` stamps, except for a worker whose settings hold secrets: that
digest is keyed by the target's token (deploy/settings.py), so they print ``-`` for it
(``ironship plan --json`` shows it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ironship import FORMAT_VERSION
from ironship.cli.options import EnvOpt, FileOpt, JsonOpt, SecretsFileOpt, complete_worker
from ironship.cli.outputs import writable_dir
from ironship.cli.ui import err, out, print_json
from ironship.deploy.planner import select_workers
from ironship.deploy.settings import content_digest, needs_key, upload_settings
from ironship.errors import IronshipError
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Worker
from ironship.packaging.archive import write_zips
from ironship.packaging.contents import select_package
from ironship.packaging.deps.cache import DepsCache, project_cache
from ironship.packaging.deps.model import Package
from ironship.packaging.fileset import FileEntry, FileSet
from ironship.paths import DEFAULT_MANIFEST

AllOpt = Annotated[
    bool, typer.Option("--all", help="List vendored files one by one, not one line per package.")
]


def _progress(line: str) -> None:
    err.print(f"{line}…", markup=False)


def _deps(base: Path) -> DepsCache:
    return project_cache(base, on_build=_progress)


def files(
    worker: Annotated[
        str,
        typer.Argument(help="The worker whose package to list.", autocompletion=complete_worker),
    ],
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
    env: EnvOpt = None,
    secrets_file: SecretsFileOpt = None,
    all_files: AllOpt = False,
) -> None:
    """List exactly what would ship in a worker's package."""
    manifest = load_manifest(file, env, secrets_file=secrets_file)
    (w,) = select_workers(manifest, [worker])
    fs = select_package(w, manifest.directory, deps=_deps(manifest.directory))
    digest = _digest(w, fs)
    if as_json:
        print_json(_files_json(fs, digest))
        return
    rows = [(f.path, _file_line(f)) for f in fs.files]
    if not all_files:
        rows = _collapsed(fs)
    for _path, line in sorted(rows):
        out.print(line, markup=False)
    for tree in fs.deps:
        count = sum(1 for p in tree.packages if p.version)
        out.print(
            f"{tree.prefix} from {tree.source}: {_count(count, 'package')} ({tree.kind})",
            markup=False,
        )
    out.print(
        f"{_count(fs.file_count, 'file')}, {_count(fs.total_size, 'byte')}, digest {digest or '-'}",
        markup=False,
    )


def _file_line(f: FileEntry) -> str:
    return f"{'x' if f.executable else '-'} {f.size:>10}  {f.path}"


def _collapsed(fs: FileSet) -> list[tuple[str, str]]:
    """One row per package of each vendored tree; the worker's own files one by one."""
    by_path = {f.path: f for f in fs.files}
    owned: set[str] = set()
    rows = []
    for tree in fs.deps:
        for package in tree.packages:
            entries = [by_path[p] for p in package.paths if p in by_path]
            if not entries:
                continue
            owned.update(e.path for e in entries)
            size = sum(e.size for e in entries)
            label = f"{tree.prefix}{package.label} ({_count(len(entries), 'file')})"
            rows.append((tree.prefix + package.name, f"- {size:>10}  {label}"))
    rows += [(f.path, _file_line(f)) for f in fs.files if f.path not in owned]
    return rows


def _files_json(fs: FileSet, digest: str | None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "worker": fs.worker,
        "digest": digest,
        "runner": fs.runner,
        "files": [
            {"path": f.path, "executable": f.executable, "size": f.size, "sha256": f.sha256}
            for f in fs.files
        ],
        "dependencies": [
            {
                "kind": tree.kind,
                "source": tree.source,
                "prefix": tree.prefix,
                "packages": [_package_json(p) for p in tree.packages],
            }
            for tree in fs.deps
        ],
    }


def _package_json(package: Package) -> dict[str, Any]:
    return {"name": package.name, "version": package.version or None, "files": len(package.paths)}


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
    return content_digest(fileset.files, upload_settings(worker, fileset.runner))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def package(
    workers: Annotated[
        list[str] | None,
        typer.Argument(help="Workers (default: all).", autocompletion=complete_worker),
    ] = None,
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
    deps = _deps(manifest.directory)
    # Every problem (and every dependency install) before anything is written.
    filesets = [(w, select_package(w, manifest.directory, deps=deps)) for w in selected]
    out_dir.mkdir(parents=True, exist_ok=True)
    # Zipped one per core at a time (zlib deflates outside the GIL), each the same bytes as alone.
    md5s = write_zips([(fs, out_dir / f"{fs.worker}.zip") for _w, fs in filesets])
    for (w, fs), md5 in zip(filesets, md5s, strict=True):
        dest = out_dir / f"{fs.worker}.zip"
        size = dest.stat().st_size
        out.print(
            f"{dest}  {_count(fs.file_count, 'file')}  {_count(size, 'byte')}  "
            f"{_digest(w, fs) or '-'}  md5 {md5}",
            markup=False,
        )
