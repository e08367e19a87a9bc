"""Checks an uploaded code package before any revision exists.

A package is unpacked into a task directory on every run, so a hostile zip must be refused
at upload time: entries that escape the directory (absolute paths, ``..``, symlinks) and
archives that expand without bound (too many entries, too many bytes, bomb-like ratios), and
archives that could never be unpacked faithfully (a symlink made on a system that is not Unix,
names no file system takes, duplicate names, a file and a folder at the same path).
"""

from __future__ import annotations

import ast
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

# What iron-worker 1.3.8 sends on Python 3: ``str(bytes)``, i.e. the text ``b'PK\x03\x04...'``
# (docs/ironworker-api.md §8 (What the official clients send), the upload repair).
PY3_REPR_PREFIXES = (b"b'PK", b'b"PK')
PY3_REPR_HINT = (
    "the file part holds the Python repr b'PK...' of a zip instead of its bytes: this is what the "
    "iron-worker 1.3.8 Python client sends on Python 3 (it builds the body with str(bytes)); "
    "upload with ironship or another client"
)


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one package; the defaults fit any real worker."""

    max_zip_bytes: int = 512 * 1024 * 1024
    max_entries: int = 20_000
    max_unpacked_bytes: int = 2 * 1024 * 1024 * 1024
    # An entry may expand this many times over its compressed size once it is past
    # ``ratio_floor`` bytes: text compresses ~10x, a zip bomb ~1000x. Smaller entries are
    # left alone (a few MB of zeros is a real data file, not an attack; max_unpacked_bytes
    # bounds the total anyway).
    max_ratio: int = 200
    ratio_floor: int = 32 * 1024 * 1024
    # Linux's NAME_MAX is 255 bytes per component; no real package nests 64 folders deep.
    max_name_bytes: int = 255
    max_depth: int = 64


@dataclass(frozen=True)
class ZipSummary:
    """What the check learned about an accepted package."""

    entries: int
    unpacked_bytes: int


class ZipRejected(Exception):
    """The package is refused; ``str(exc)`` is the message sent to the client."""


def is_py3_repr(head: bytes) -> bool:
    """True when ``head`` looks like the repr that iron-worker 1.3.8 sends on Python 3."""
    return head.startswith(PY3_REPR_PREFIXES)


def repair_py3_repr(path: Path, limits: Limits) -> bytes:
    """Decode the ``b'...'`` repr in ``path`` back to bytes, or raise ZipRejected saying why."""
    size = path.stat().st_size
    # A repr is at most 4 characters per byte; refuse before building a huge string.
    if size > 4 * limits.max_zip_bytes:
        raise ZipRejected(f"code package is too large; also, {PY3_REPR_HINT}")
    text = path.read_bytes().rstrip(b"\r\n")
    try:
        value = ast.literal_eval(text.decode("ascii"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise ZipRejected(
            f"not a zip file: {PY3_REPR_HINT} (and it could not be decoded: {exc})"
        ) from None
    if not isinstance(value, bytes):
        raise ZipRejected(f"not a zip file: {PY3_REPR_HINT}")
    return value


def _entry_problem(info: zipfile.ZipInfo, limits: Limits) -> str | None:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    problem = _name_problem(name, parts, limits)
    if problem:
        return problem
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        if info.create_system == 3:
            return f"entry {name!r} is a symlink"
        # Only Unix-made entries carry Unix modes; elsewhere these bits mean nothing sure.
        return (
            f"entry {name!r} has symlink mode bits but was made on system "
            f"{info.create_system} (not Unix): it cannot be unpacked as the creator meant"
        )
    return None


def _name_problem(name: str, parts: list[str], limits: Limits) -> str | None:
    if "\x00" in name:
        return f"entry {name!r} has a NUL byte in its name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"entry {name!r} has an absolute path"
    if ".." in parts:
        return f"entry {name!r} contains '..'"
    long = next((p for p in parts if len(p.encode("utf-8")) > limits.max_name_bytes), None)
    if long is not None:
        return (
            f"entry {_short(name)!r} has a name component of {len(long.encode('utf-8'))} "
            f"bytes; the limit is {limits.max_name_bytes}"
        )
    if len(parts) > limits.max_depth:
        return (
            f"entry {_short(name)!r} is {len(parts)} levels deep; the limit is {limits.max_depth}"
        )
    return None


def _short(name: str) -> str:
    return name if len(name) <= 80 else name[:60] + "…" + name[-15:]


def _check_paths(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse duplicate names (unpacking keeps only the last) and a path that is both a file
    and a folder (unpacking fails, or one silently replaces the other)."""
    files: set[str] = set()
    dirs: set[str] = set()
    for info in infos:
        path = info.filename.replace("\\", "/").removeprefix("./")
        if info.is_dir():
            dirs.add(path.rstrip("/"))
            continue
        if path in files:
            raise ZipRejected(f"unsafe zip: entry {_short(path)!r} appears more than once")
        files.add(path)
        parts = path.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    both = sorted(files & dirs)
    if both:
        raise ZipRejected(
            f"unsafe zip: {_short(both[0])!r} is both a file and a folder in the archive"
        )


def check_zip(path: Path, limits: Limits) -> ZipSummary:
    """Validate the zip at ``path``: structure, names, sizes and every entry's CRC."""
    _check_container(path, limits)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = _check_entries(infos, limits)
            _check_paths(infos)
            _read_every_entry(zf, infos)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError) as exc:
        raise ZipRejected(f"truncated or corrupt zip file: {exc}") from None
    except (ValueError, EOFError, RuntimeError, zlib.error) as exc:
        # zlib errors, encrypted entries and truncated streams surface as these.
        raise ZipRejected(f"unreadable zip file: {exc}") from None
    return ZipSummary(entries=len(infos), unpacked_bytes=total)


def _check_container(path: Path, limits: Limits) -> None:
    """The file as a whole: within the size limit, and a zip (not the PY3 repr of one)."""
    size = path.stat().st_size
    if size > limits.max_zip_bytes:
        raise ZipRejected(f"code package is {size} bytes; the limit is {limits.max_zip_bytes}")
    with path.open("rb") as fh:
        head = fh.read(4)
    if is_py3_repr(head):
        raise ZipRejected(f"not a zip file: {PY3_REPR_HINT}")
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            # The local header is there but not the central directory at the end.
            raise ZipRejected(
                "the code package is a truncated or corrupt zip file: it starts like a zip "
                "but its central directory (at the end) is missing; upload the whole file again"
            )
        hint = "empty file" if size == 0 else f"it starts with {head!r}"
        raise ZipRejected(f"the code package is not a zip file ({hint})")


def _check_entries(infos: list[zipfile.ZipInfo], limits: Limits) -> int:
    """Refuse unsafe names and unbounded sizes, judged from the headers; returns the total
    unpacked size."""
    if len(infos) > limits.max_entries:
        raise ZipRejected(f"zip has {len(infos)} entries; the limit is {limits.max_entries}")
    total = 0
    for info in infos:
        problem = _entry_problem(info, limits)
        if problem:
            raise ZipRejected(f"unsafe zip: {problem}")
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise ZipRejected(f"zip unpacks to more than {limits.max_unpacked_bytes} bytes")
        _check_ratio(info, limits)
    return total


def _check_ratio(info: zipfile.ZipInfo, limits: Limits) -> None:
    """Refuse a large entry that expands far more than real files do (a zip bomb)."""
    packed = max(info.compress_size, 1)
    if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * packed:
        raise ZipRejected(
            f"zip bomb suspected: entry {info.filename!r} expands "
            f"{info.file_size // packed}x (limit {limits.max_ratio}x)"
        )


def _read_every_entry(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Read every entry to its end: zipfile stops at the declared size and checks the CRC, so
    a lying header or a corrupt archive is caught here rather than in a task."""
    for info in infos:
        if info.is_dir():
            continue
        with zf.open(info) as member:
            while member.read(1024 * 1024):
                pass
