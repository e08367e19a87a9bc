"""What a route handler gets: the request, the engine's parts and the caller's project."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ironship.engine.dispatch import Dispatcher
from ironship.engine.parse import loads_object
from ironship.engine.runs import EngineStore
from ironship.engine.wire import HttpFailure
from ironship.engine.zipcheck import Limits

MAX_JSON_BODY = 16 * 1024 * 1024  # many 64 KB payloads in one queue request still fit


@dataclass(frozen=True)
class Engine:
    """The long-lived parts the routes share."""

    store: EngineStore
    dispatcher: Dispatcher
    limits: Limits


@dataclass(frozen=True)
class Ctx:
    """One authenticated request for project ``pid``."""

    request: Request
    engine: Engine
    pid: str

    @property
    def store(self) -> EngineStore:
        return self.engine.store

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query_int(self, name: str, default: int) -> int:
        raw = self.request.query_params.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return int(raw.strip())
        except ValueError:
            raise HttpFailure(400, f"query parameter {name} must be an integer") from None

    def paging(self) -> tuple[int, int]:
        return self.query_int("page", 0), self.query_int("per_page", 30)

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        declared = self.request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise HttpFailure(400, f"request body is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > limit:
                raise HttpFailure(400, f"request body is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def json(self) -> dict[str, Any]:
        return loads_object(await self.body())


Handler = Callable[[Ctx], Awaitable[Response]]


def ok(data: Any) -> JSONResponse:
    return JSONResponse(data)


def failure(status: int, msg: str) -> JSONResponse:
    return JSONResponse({"msg": msg}, status_code=status)
