"""Code package routes, including the checked, streamed upload.

The endpoints of docs/ironworker-api.md §2 (Code packages): list, get, delete, revisions,
download, stats, pause/resume and cancel_all, and the multipart upload whose zip is copied to
tmp/, checked (``zipcheck``) and only then moved into blobs/.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator
from typing import IO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from ironship.engine.http.context import Ctx, ok
from ironship.engine.http.parse import code_settings, loads_object
from ironship.engine.http.wire import HttpFailure, code_json, revision_json
from ironship.engine.state.folders import Blob
from ironship.engine.state.model import CodeSettings, new_id
from ironship.engine.zipcheck import (
    Limits,
    ZipRejected,
    check_zip,
    is_py3_repr,
    repair_py3_repr,
)

CHUNK = 1024 * 1024


async def list_codes(ctx: Ctx) -> Response:
    rows = ctx.state.codes.list_page(ctx.pid, ctx.paging())
    return ok({"codes": [code_json(code, rev) for code, rev in rows]})


async def get_code(ctx: Ctx) -> Response:
    code, rev = ctx.state.codes.get(ctx.pid, ctx.path("code_id"))
    return ok(code_json(code, rev))


async def delete_code(ctx: Ctx) -> Response:
    ctx.state.codes.delete(ctx.pid, ctx.path("code_id"))
    return ok({"msg": "Deleted"})


async def list_revisions(ctx: Ctx) -> Response:
    rows = ctx.state.codes.list_revisions(ctx.pid, ctx.path("code_id"), ctx.paging())
    return ok({"revisions": [revision_json(r) for r in rows]})


async def download(ctx: Ctx) -> Response:
    raw = ctx.request.query_params.get("revision")
    rev = ctx.query_int("revision", 0) if raw else None
    code, revision = ctx.state.codes.get_revision(ctx.pid, ctx.path("code_id"), rev)
    if not revision["blob"]:
        raise HttpFailure(404, "this revision has no zip package")
    response = _WholeFile(
        ctx.state.files.blob_path(revision["blob"]),
        media_type="application/zip",
        headers={"Content-Disposition": _disposition(f"{code['name']}_{revision['rev']}.zip")},
    )
    del response.headers["accept-ranges"]
    return response


class _WholeFile(FileResponse):
    """A FileResponse that ignores Range: only 200 (never 206, nor a text/plain 416/400)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            scope["headers"] = [
                (k, v) for k, v in scope["headers"] if k.lower() not in (b"range", b"if-range")
            ]
        await super().__call__(scope, receive, send)


def _disposition(filename: str) -> str:
    """``filename=NAME_REV.zip`` as the docs show it; RFC 6266 ``filename*`` when not ASCII."""
    if filename.isascii():
        return f"filename={filename}"
    fallback = "".join(c if c.isascii() else "_" for c in filename)
    return f"filename={fallback}; filename*=UTF-8''{quote(filename, safe='')}"


async def stats(ctx: Ctx) -> Response:
    # Defaults: the last 24 h up to now (epoch seconds; the query uses whole seconds).
    end = ctx.query_int("end_date", int(ctx.state.db.now()) + 1)
    start = ctx.query_int("start_date", end - 86401)
    return ok(ctx.state.codes.stats(ctx.pid, ctx.path("code_id"), start, end))


async def pause(ctx: Ctx) -> Response:
    changed = ctx.state.codes.set_paused(ctx.pid, ctx.path("code_id"), True)
    return ok({"msg": "Paused" if changed else "Already paused"})


async def resume(ctx: Ctx) -> Response:
    changed = ctx.state.codes.set_paused(ctx.pid, ctx.path("code_id"), False)
    ctx.engine.dispatcher.wake()
    return ok({"msg": "Resumed" if changed else "Already resumed"})


async def cancel_all(ctx: Ctx) -> Response:
    for task_id in ctx.state.codes.cancel_all(ctx.pid, ctx.path("code_id")):
        ctx.engine.dispatcher.cancel(task_id)
    return ok({"msg": "Cancelled all tasks"})


async def upload(ctx: Ctx) -> Response:
    """POST codes: multipart ``data`` (JSON settings) and an optional ``file`` (the zip)."""
    limits = ctx.engine.limits
    ctype = ctx.request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise HttpFailure(
            400, "upload as multipart/form-data with a 'data' JSON part and an optional 'file' zip"
        )
    declared = ctx.request.headers.get("content-length", "")
    # A PY3 repr (see zipcheck) takes up to 4 characters per byte.
    if declared.isdigit() and int(declared) > 4 * limits.max_zip_bytes + CHUNK:
        raise HttpFailure(
            400, f"upload is larger than the limit of {limits.max_zip_bytes} bytes", close=True
        )
    # File parts are spooled by Starlette; max_part_size only bounds plain fields, so the body
    # itself is counted as it arrives and reading stops at the limit (a 5 GB chunked upload
    # costs at most the limit plus one chunk).
    body_limit = 4 * limits.max_zip_bytes + CHUNK
    parser = MultiPartParser(
        ctx.request.headers,
        _bounded(ctx.request.stream(), body_limit, limits.max_zip_bytes),
        max_files=4,
        max_fields=32,
        max_part_size=CHUNK,
    )
    try:
        form = await parser.parse()
    except _TooLarge as exc:
        raise HttpFailure(400, exc.message, close=True) from None
    except MultiPartException as exc:
        raise HttpFailure(400, f"bad multipart upload: {exc.message}") from None
    try:
        data = form.get("data")
        if isinstance(data, UploadFile):
            data = (await data.read()).decode("utf-8", errors="replace")
        if data is None:
            raise HttpFailure(400, "the upload has no 'data' part (JSON with at least 'name')")
        name, settings = code_settings(loads_object(data.encode("utf-8")))
        part = form.get("file")
        blob: Blob | None = None
        if isinstance(part, str):
            raise HttpFailure(400, "the 'file' part must be a file upload (with a filename)")
        if part is not None:
            blob = await run_in_threadpool(_ingest, ctx, part.file, limits, settings)
    finally:
        await form.close()
    code_id = ctx.state.codes.add_revision(ctx.pid, name, settings, blob)
    return ok({"id": code_id, "msg": "Upload successful."})


async def _bounded(
    stream: AsyncIterator[bytes], limit: int, zip_limit: int
) -> AsyncGenerator[bytes, None]:
    """The request body, refused (400) as soon as more than ``limit`` bytes have arrived."""
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            # A MultiPartException, so the parser closes the part files it spooled so far.
            raise _TooLarge(
                f"upload stopped after {size} bytes: larger than the code package limit of "
                f"{zip_limit} bytes"
            )
        yield chunk


class _TooLarge(MultiPartException):
    """The body passed the upload limit while it arrived."""


def _ingest(ctx: Ctx, src: IO[bytes], limits: Limits, settings: CodeSettings) -> Blob:
    """Copy the zip into tmp/, check it, and move it into blobs/ only if it is acceptable."""
    files = ctx.state.files
    tmp = files.tmp_dir / f"{new_id()}.part"
    try:
        src.seek(0)
        with tmp.open("wb") as out:
            size = 0
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > 4 * limits.max_zip_bytes:
                    raise HttpFailure(400, f"code package is larger than {limits.max_zip_bytes}")
                out.write(chunk)
        with tmp.open("rb") as fh:
            head = fh.read(4)
        if is_py3_repr(head):
            repaired = repair_py3_repr(tmp, limits)
            tmp.write_bytes(repaired)
        check_zip(tmp, limits)
        _check_entry(tmp, settings.file_name)
        md5, sha = hashlib.md5(), hashlib.sha256()
        with tmp.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                md5.update(chunk)
                sha.update(chunk)
            os.fsync(fh.fileno())
        blob = Blob(sha256=sha.hexdigest(), md5=md5.hexdigest(), size=tmp.stat().st_size)
        # The rename is the commit point: before it nothing is visible, after it the blob
        # is whole. A crash in between leaves only tmp/, which start-up empties.
        os.replace(tmp, files.blob_path(blob.sha256))
        return blob
    except ZipRejected as exc:
        raise HttpFailure(400, str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _check_entry(path: os.PathLike[str], file_name: str | None) -> None:
    """Refuse a package whose ``file_name`` is not in it: the task could never start."""
    if not file_name:
        return
    wanted = file_name.removeprefix("./")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if wanted not in names:
        shown = ", ".join(sorted(names)[:10]) or "none"
        raise HttpFailure(400, f"file_name {file_name!r} is not in the zip (entries: {shown})")
