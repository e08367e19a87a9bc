"""Which manifest data the schema found valid, remembered so the next check is a lookup.

Checking data against the schema is a pure function of three things: the data, the schema
text and the jsonschema that runs it. Loading jsonschema alone costs more than a whole
``ironship validate`` may (issue 12 §7), so a valid verdict is remembered in
``.ironship/cache/valid.bin`` beside the manifest under a key over all three (when
``.ironship/`` is there: a check never makes that folder); the next check of the same data
imports no validator. Only valid verdicts are kept: a manifest with
problems is checked in full, every time, so its messages are always jsonschema's own.

The key hashes ``marshal`` of the data: marshal writes back exactly what it read (it keeps
``1`` apart from ``True`` and ``"1"``, and key order), so two different values never share a
key; equal values written in another order are only a second entry. Data marshal can't write
(a YAML date) is simply checked in full. The file holds the last ``KEEP`` keys, one read;
it is rewritten (to a new file, then renamed) only when a new verdict is added, and a
folder where it can't be written is no error: the check then runs each time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import marshal
import os
from pathlib import Path
from typing import Any

from ironship import __version__
from ironship.manifest.schema import schema_text
from ironship.paths import state_dir

FILE_NAME = "valid.bin"
KEEP = 64
_SIZE = 16


@functools.cache
def _salt() -> bytes:
    """What else decides a verdict: ironship's version, the schema, jsonschema's install."""
    parts = [__version__.encode(), schema_text().encode()]
    spec = importlib.util.find_spec("jsonschema")  # finds it without importing it
    if spec is not None and spec.origin is not None:
        st = os.stat(spec.origin)
        parts.append(f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}".encode())
    return hashlib.sha256(b"\0".join(parts)).digest()


def key_of(data: Any) -> bytes | None:
    """The key of ``data``'s verdict, or None when it can't have one."""
    try:
        blob = marshal.dumps(data, 4)
    except ValueError:
        return None
    return hashlib.blake2b(blob, digest_size=_SIZE, key=_salt()).digest()


class Verdicts:
    """The valid verdicts remembered beside one manifest folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.file = state_dir(folder) / "cache" / FILE_NAME
        self._keys: list[bytes] | None = None

    def _known(self) -> list[bytes]:
        if self._keys is None:
            try:
                blob = self.file.read_bytes()
            except OSError:
                blob = b""
            usable = len(blob) - len(blob) % _SIZE
            self._keys = [blob[i : i + _SIZE] for i in range(0, usable, _SIZE)]
        return self._keys

    def valid(self, key: bytes) -> bool:
        return key in self._known()

    def remember(self, key: bytes) -> None:
        keys = [*[k for k in self._known() if k != key][-(KEEP - 1) :], key]
        self._keys = keys
        if not state_dir(self.folder).is_dir():
            return  # kept only where ironship already keeps state: never a new folder for it
        partial = self.file.with_name(f"{FILE_NAME}.{os.getpid()}.tmp")
        try:
            self.file.parent.mkdir(exist_ok=True)
            partial.write_bytes(b"".join(keys))
            os.replace(partial, self.file)
        except OSError:
            # A read-only checkout: the check just runs in full next time.
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)


@functools.cache
def verdicts_for(folder: Path) -> Verdicts:
    """One Verdicts per manifest folder for the life of the process."""
    return Verdicts(folder)
