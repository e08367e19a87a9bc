"""Reproducible zips of a worker's files, and the index of an existing zip.

``write_zip`` gives byte-identical output for the same files whatever the umask, timezone,
mtimes or directory order (docs/architecture.md, Conventions 9): entries sorted by path, one
fixed UTC date (1980-01-01, or ``SOURCE_DATE_EPOCH`` clamped to the ZIP range),
``create_system`` unix, modes 0644/0755 from the exec bit only, no extra fields, no directory
entries (unzip creates parents itself), deflate at a fixed level and already-compressed data
stored: by extension (``STORED_EXTENSIONS``), or for a larger file whose first block deflate
cannot shrink (``stores_as_is``: a function of the bytes only, so the same input still gives the
same zip). The bytes still depend on the zlib build (zlib-ng deflates differently), which is why a
package's identity is its content digest and the zip's MD5 (the server's ``latest_checksum``,
docs/ironworker-api.md §2 (Code packages)) is only the fallback for packages ironship did not
upload.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ironship.errors import IronshipError
from ironship.packaging.fileset import FileEntry


class Packable(Protocol):
    """Anything holding the files to zip: a ``FileSet``, or a deploy ``LocalWorker``."""

    @property
    def files(self) -> tuple[FileEntry, ...]: ...


COMPRESS_LEVEL = 6
# Deflating these again costs CPU and gains nothing; storing them keeps packaging fast.
_IMAGES = {"png", "jpg", "jpeg", "gif", "webp", "avif", "heic", "ico"}
_ARCHIVES = {"gz", "tgz", "bz2", "tbz", "xz", "txz", "lz", "lzma", "zst", "br", "zip", "7z", "rar"}
_PACKAGES = {"whl", "egg", "jar", "war", "ear", "apk", "docx", "xlsx", "pptx", "odt", "ods"}
_MEDIA = {"mp3", "mp4", "m4a", "m4v", "mov", "avi", "mkv", "webm", "ogg", "oga", "ogv", "opus"}
_OTHER = {"flac", "woff", "woff2", "pdf", "npz", "parquet"}
STORED_EXTENSIONS = frozenset(_IMAGES | _ARCHIVES | _PACKAGES | _MEDIA | _OTHER)
DateTime = tuple[int, int, int, int, int, int]
ZIP_EPOCH: DateTime = (1980, 1, 1, 0, 0, 0)
_ZIP_MAX = datetime(2107, 12, 31, 23, 59, 58, tzinfo=UTC)  # the DOS date field's last value
_CHUNK = 1 << 20
# The compressibility probe: a file of at least PROBE_MIN_SIZE bytes whose first PROBE_BLOCK
# bytes deflate (level 1) to more than PROBE_STORE_RATIO of their size is stored. Random or
# already-compressed data (a model, an archive under another name) then costs a copy, not a
# deflate that gains nothing. Smaller files are not probed: deflating them costs little.
PROBE_MIN_SIZE = 128 * 1024
PROBE_BLOCK = 32 * 1024
PROBE_STORE_RATIO = 0.95
_MODE_EXEC = 0o100755 << 16
_MODE_FILE = 0o100644 << 16


def zip_date_time(env: Mapping[str, str] | None = None) -> DateTime:
    """The date of every entry: ``SOURCE_DATE_EPOCH`` (UTC, clamped to 1980..2107) or 1980-01-01.

    Dates before 1980 do not fit the ZIP field and read back as 2098, which makes Python treat
    every shipped file as stale.
    """
    raw = (os.environ if env is None else env).get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return ZIP_EPOCH
    try:
        epoch = int(raw)
    except ValueError:
        raise IronshipError(
            f"SOURCE_DATE_EPOCH={raw!r} is not an integer",
            hint="set it to seconds since 1970 (e.g. git log -1 --format=%ct), or unset it",
        ) from None
    when = datetime.fromtimestamp(min(max(epoch, 315532800), int(_ZIP_MAX.timestamp())), tz=UTC)
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def stores_as_is(path: str, size: int, head: bytes) -> bool:
    """Whether a file goes into the zip stored, not deflated: by its extension, or, for a
    file of at least ``PROBE_MIN_SIZE`` bytes, because deflate cannot shrink its first block
    (``head``, the file's first bytes). Depends only on the name and the bytes."""
    suffix = path.rpartition(".")[2].lower() if "." in path else ""
    if suffix in STORED_EXTENSIONS:
        return True
    if size < PROBE_MIN_SIZE:
        return False
    block = head[:PROBE_BLOCK]
    return len(zlib.compress(block, 1)) > PROBE_STORE_RATIO * len(block)


def _zipinfo(entry: FileEntry, date_time: DateTime, stored: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(entry.path, date_time)
    info.create_system = 3  # unix, so external_attr carries the mode on every platform
    info.external_attr = _MODE_EXEC if entry.executable else _MODE_FILE
    info.file_size = entry.size  # known up front, so zipfile decides zip64 the same way each time
    if stored:
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
        # ZipFile.open(zinfo, "w") ignores the archive's level; 3.13 renamed the attribute.
        attr = "compress_level" if hasattr(zipfile.ZipInfo, "compress_level") else "_compresslevel"
        setattr(info, attr, COMPRESS_LEVEL)
    return info


def _copy_verified(entry: FileEntry, out: zipfile.ZipFile, date_time: DateTime) -> None:
    """Stream the file into the zip, checking it still has the content that was hashed.

    The first chunk is read before the entry is opened: the compressibility probe decides
    how the entry is stored. Memory stays at one chunk whatever the file's size.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with open(entry.source, "rb") as src:
            chunk = src.read(_CHUNK)
            info = _zipinfo(entry, date_time, stores_as_is(entry.path, entry.size, chunk))
            with out.open(info, "w") as dst:
                while chunk:
                    digest.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
                    chunk = src.read(_CHUNK)
    except OSError as exc:
        raise IronshipError(
            f"cannot read '{entry.path}': {exc.strerror or exc}",
            hint="if it changed while packaging, run again",
        ) from exc
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise IronshipError(
            f"'{entry.path}' changed while packaging; run again",
            hint="stop whatever is writing to the worker's files during packaging",
        )


def write_zip(fileset: Packable, dest: Path, *, date_time: DateTime | None = None) -> str:
    """Write the reproducible zip of ``fileset``'s files to ``dest`` atomically; return its MD5.

    The MD5 is what the server reports as ``latest_checksum``. ``date_time`` defaults to
    ``zip_date_time()``. The zip appears at ``dest`` complete or not at all.
    """
    stamp = zip_date_time() if date_time is None else date_time
    entries = sorted(fileset.files, key=lambda f: f.path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as out:
            for entry in entries:
                _copy_verified(entry, out, stamp)
        md5 = zip_md5(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a package is not a secret
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return md5


def package_threads(count: int) -> int:
    """How many zips to write at once: one per core (zlib releases the GIL while it
    deflates, so threads use every core), never more than there are zips."""
    return max(1, min(count, os.cpu_count() or 1))


def write_zips(
    jobs: Sequence[tuple[Packable, Path]],
    *,
    threads: int | None = None,
    date_time: DateTime | None = None,
) -> list[str]:
    """``write_zip`` of each (files, dest), ``threads`` at a time (default: one per core);
    the MD5s in the order given.

    Each zip is the same bytes as when written alone. Every job runs to its end; then the
    first failure, in the order given, is raised (its zip is not written; the others are).
    """
    stamp = zip_date_time() if date_time is None else date_time
    if not jobs:
        return []
    count = package_threads(len(jobs)) if threads is None else max(1, threads)
    if count == 1:
        return [write_zip(files, dest, date_time=stamp) for files, dest in jobs]

    def one(job: tuple[Packable, Path]) -> str | IronshipError:
        try:
            return write_zip(job[0], job[1], date_time=stamp)
        except IronshipError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="ironship-zip") as pool:
        results = list(pool.map(one, jobs))
    md5s: list[str] = []
    for result in results:
        if isinstance(result, IronshipError):
            raise result
        md5s.append(result)
    return md5s


def zip_md5(path: Path) -> str:
    """MD5 hex of a file's bytes (the server's ``latest_checksum`` of a zip)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def files_of_zip(path: Path) -> dict[str, tuple[bool, str]]:
    """path -> (exec bit, content sha256) of every file in an existing zip (directories skipped).

    For zips not made on unix the mode bits are absent, so every file reads as not executable.
    """
    result: dict[str, tuple[bool, str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                mode = info.external_attr >> 16 if info.create_system == 3 else 0
                digest = hashlib.sha256()
                with archive.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        digest.update(chunk)
                result[info.filename] = (bool(mode & 0o100), digest.hexdigest())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise IronshipError(
            f"'{path}' is not a readable zip: {exc}",
            hint="the package on the server may not be a zip package",
        ) from exc
    return result
