"""What a route handler gets: the request, the engine's parts and the caller's project.

``Engine`` is the long-lived part (the state, the dispatcher, the upload limits), ``Ctx`` one
authenticated request with helpers for its query, body and paging.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ironship.engine.http.parse import MAX_INT, loads_object, page
from ironship.engine.http.wire import HttpFailure
from ironship.engine.run.dispatch import Dispatcher
from ironship.engine.state.engine_state import EngineState
from ironship.engine.state.model import Page
from ironship.engine.zipcheck import Limits

MAX_JSON_BODY = 16 * 1024 * 1024  # many 64 KB payloads in one queue request still fit


@dataclass(frozen=True)
class Engine:
    """The long-lived parts the routes share."""

    state: EngineState
    dispatcher: Dispatcher
    limits: Limits
    # What GET /2/engine answers: how tasks are contained and limited (built by ``server``).
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ctx:
    """One authenticated request for project ``pid``."""

    request: Request
    engine: Engine
    pid: str

    @property
    def state(self) -> EngineState:
        return self.engine.state

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query_int(self, name: str, default: int) -> int:
        raw = self.request.query_params.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise HttpFailure(400, f"query parameter {name} must be an integer") from None
        if abs(value) > MAX_INT:
            raise HttpFailure(400, f"query parameter {name} is out of range")
        return value

    def paging(self) -> Page:
        """``?page=`` and ``?per_page=`` (defaults 0 and 30), checked."""
        return page(self.query_int("page", 0), self.query_int("per_page", 30))

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

    async def json(self, *, strict_type: bool = False) -> dict[str, Any]:
        """The JSON object body (empty: ``{}``).

        ``strict_type``: a non-empty body must say ``Content-Type: application/json``, else 406,
        as the docs say for queue, retry and schedule (docs/ironworker-api.md §1 (Transport)).
        Every official client sends it there; PY sends cancel and delete without one, so those
        stay lenient.
        """
        body = await self.body()
        if strict_type and body.strip():
            ctype = self.request.headers.get("content-type", "")
            media = ctype.split(";", 1)[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                shown = repr(ctype) if ctype else "none"
                raise HttpFailure(
                    406, f"send the JSON body with Content-Type: application/json (got {shown})"
                )
        return loads_object(body)


Handler = Callable[[Ctx], Awaitable[Response]]


def ok(data: Any) -> JSONResponse:
    return JSONResponse(data)


def failure(status: int, msg: str) -> JSONResponse:
    return JSONResponse({"msg": msg}, status_code=status)
