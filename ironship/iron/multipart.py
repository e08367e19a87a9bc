"""A ``multipart/form-data`` request body streamed from disk, for code uploads."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from ironship.errors import IronshipError


class MultipartBody:
    """A ``multipart/form-data`` body streamed from disk, as a file-like object.

    The encoding is RFC 7578's (https://www.rfc-editor.org/rfc/rfc7578); the upload's parts are
    described in docs/ironworker-api.md §2 (Code packages).

    requests sends it with ``Content-Length`` (from ``len()``) instead of chunked encoding,
    urllib3 pulls it with ``read(blocksize)``, and ``tell``/``seek`` let urllib3 rewind it when
    it retries the POST. Only the text fields and part headers are held in memory.
    """

    def __init__(
        self,
        fields: Mapping[str, str],
        file: tuple[str, str, str, Path] | None = None,
        *,
        boundary: str | None = None,
    ) -> None:
        texts = [v.encode() for v in fields.values()]
        # 128 random bits: a collision with the zip's bytes is not a practical concern,
        # and the text fields (the only parts we could scan cheaply) are checked.
        self.boundary = boundary or f"ironship-{secrets.token_hex(16)}"
        if any(self.boundary.encode() in t for t in texts):
            raise ValueError("multipart boundary occurs in a field")
        head = b"".join(
            self._delimiter() + _disposition(name) + b"\r\n" + text + b"\r\n"
            for name, text in zip(fields, texts, strict=True)
        )
        self._file: IO[bytes] | None = None
        self._file_size = 0
        if file is not None:
            name, filename, ctype, path = file
            self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
            self._file_size = os.fstat(self._file.fileno()).st_size
            head += self._delimiter() + _disposition(name, filename)
            head += f"Content-Type: {ctype}\r\n\r\n".encode()
            self._tail = b"\r\n--" + self.boundary.encode() + b"--\r\n"
        else:
            self._tail = b"--" + self.boundary.encode() + b"--\r\n"
        self._head = head
        self._length = len(head) + self._file_size + len(self._tail)
        self._pos = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _delimiter(self) -> bytes:
        return b"--" + self.boundary.encode() + b"\r\n"

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + offset))
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._length - self._pos
        chunks: list[bytes] = []
        file_end = len(self._head) + self._file_size
        while size > 0 and self._pos < self._length:
            if self._pos < len(self._head):
                chunk = self._head[self._pos : self._pos + size]
            elif self._pos < file_end and self._file is not None:
                self._file.seek(self._pos - len(self._head))
                chunk = self._file.read(min(size, file_end - self._pos))
                if not chunk:
                    raise IronshipError(f"{self._file.name} shrank while it was being uploaded")
            else:
                chunk = self._tail[self._pos - file_end :][:size]
            chunks.append(chunk)
            self._pos += len(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(1 << 16):
            yield chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> MultipartBody:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _disposition(name: str, filename: str | None = None) -> bytes:
    """A Content-Disposition line; quotes and newlines escaped as the HTML form encoder does."""

    def q(s: str) -> str:
        return s.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")

    line = f'Content-Disposition: form-data; name="{q(name)}"'
    if filename is not None:
        line += f'; filename="{q(filename)}"'
    return line.encode() + b"\r\n"
