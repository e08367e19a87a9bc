"""The ASGI app: route table, auth, JSON errors and the path-prefix rule.

Wire rules every response follows (docs/ironworker-api.md §1 (Transport)): a Content-Type
always, errors as ``{"msg"}`` with 400/401/403/404/405/406, never 202/204; ``/2/`` answers at
the root and behind any path prefix, as PY's ``cloud=http://host:port/prefix`` needs. The
state layer's refusals (``NotFound``, ``Conflict``, ``OverLimit``) become 404, 400 and 403
here, the one place that knows about status codes.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ironship.engine.http import routes_codes as codes
from ironship.engine.http import routes_tasks as tasks
from ironship.engine.http.context import Ctx, Engine, Handler, failure
from ironship.engine.http.openapi import openapi
from ironship.engine.http.wire import HttpFailure
from ironship.engine.state.db import is_disk_full, is_transient
from ironship.engine.state.model import Conflict, NotFound, OverLimit, StateError

log = logging.getLogger("ironship.engine")


# Conflict is a 400, not a 409: the status every client already sees for e.g. retrying a
# queued task, and none of them looks for a 409.
_STATUS_OF: dict[type[StateError], int] = {NotFound: 404, Conflict: 400, OverLimit: 403}


def _status_of(exc: StateError) -> int:
    return next((s for cls, s in _STATUS_OF.items() if isinstance(exc, cls)), 400)


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "").strip()
    if header:
        # "OAuth TOKEN" (every client), "JWT TOKEN" (RB), or a bare token.
        return header.split()[-1]
    return request.query_params.get("oauth") or None


def _unexpected(request: Request, exc: Exception) -> Response:
    if is_transient(exc):
        # Disk full, an I/O error or a lock: nothing was stored (the write was retried and
        # rolled back); 503 is the status every client retries with backoff.
        log.error("engine storage failure on %s %s: %s", request.method, request.url.path, exc)
        what = "disk is full" if is_disk_full(exc) else "storage is unavailable"
        return failure(503, f"the engine's {what} ({exc}); nothing was changed, retry later")
    log.exception("engine error on %s %s", request.method, request.url.path)
    return failure(500, f"internal engine error: {exc!r}")


def _refusal(exc: HttpFailure) -> Response:
    response = failure(exc.status, exc.msg)
    if exc.close:
        response.headers["Connection"] = "close"
    return response


def endpoint(handler: Handler, *, project: bool = True) -> Any:
    """Wrap a handler with auth, project scoping and error rendering."""

    async def run(request: Request) -> Response:
        try:
            engine: Engine = request.app.state.engine
            token = _token(request)
            if token is None:
                raise HttpFailure(
                    401, "missing token: send 'Authorization: OAuth TOKEN' or ?oauth=TOKEN"
                )
            if not engine.state.projects.token_known(token):
                raise HttpFailure(401, "invalid token")
            pid = ""
            if project:
                pid = str(request.path_params["pid"])
                # Another project is not found rather than forbidden: a token cannot even
                # learn which project ids exist.
                engine.state.projects.for_token(token, pid)
            return await handler(Ctx(request, engine, pid))
        except HttpFailure as exc:
            return _refusal(exc)
        except StateError as exc:
            return failure(_status_of(exc), str(exc))
        except ClientDisconnect:
            # The client went away mid-request (e.g. an interrupted upload): nothing was
            # stored, and nobody is listening for an answer.
            return failure(400, "client disconnected before the request was complete")
        except HTTPException as exc:  # e.g. Starlette's multipart parser
            return failure(exc.status_code if exc.status_code < 500 else 400, str(exc.detail))
        except Exception as exc:
            return _unexpected(request, exc)

    return run


def _route(path: str, handlers: dict[str, Handler], *, project: bool = True) -> Route:
    """One Route per path, so a wrong verb gets 405 with the full Allow list."""
    wrapped = {method: endpoint(h, project=project) for method, h in handlers.items()}

    async def run(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        response: Response = await wrapped[method](request)
        return response

    return Route(path, run, methods=list(handlers))


def _routes() -> list[Route | Mount]:
    code = "/codes/{code_id}"
    task = "/tasks/{task_id}"
    sched = "/schedules/{schedule_id}"
    table: list[tuple[str, dict[str, Handler]]] = [
        ("/codes", {"GET": codes.list_codes, "POST": codes.upload}),
        (code, {"GET": codes.get_code, "DELETE": codes.delete_code}),
        (code + "/revisions", {"GET": codes.list_revisions}),
        (code + "/download", {"GET": codes.download}),
        (code + "/stats", {"GET": codes.stats}),
        (code + "/pause_task_queue", {"POST": codes.pause}),
        (code + "/resume_task_queue", {"POST": codes.resume}),
        (code + "/cancel_all", {"POST": codes.cancel_all}),
        (code + "/webhook", {"POST": tasks.code_webhook}),
        ("/tasks", {"GET": tasks.list_tasks, "POST": tasks.queue}),
        ("/tasks/webhook", {"POST": tasks.webhook}),
        (task, {"GET": tasks.get_task}),
        (task + "/log", {"GET": tasks.log}),
        (task + "/outlog", {"GET": tasks.outlog}),
        (task + "/cancel", {"POST": tasks.cancel}),
        (task + "/progress", {"POST": tasks.progress}),
        (task + "/retry", {"POST": tasks.retry}),
        ("/schedules", {"GET": tasks.list_schedules, "POST": tasks.create_schedules}),
        (sched, {"GET": tasks.get_schedule, "PUT": tasks.update_schedule}),
        (sched + "/cancel", {"POST": tasks.cancel_schedule}),
    ]
    return [
        Route("/openapi.json", _openapi, methods=["GET"]),
        Mount(
            "/2",
            routes=[
                _route("/stacks", {"GET": tasks.stacks}, project=False),
                _route("/engine", {"GET": tasks.engine_info}, project=False),
                _route("/projects/{pid}", {"GET": tasks.get_project}),
                Mount("/projects/{pid}", routes=[_route(p, h) for p, h in table]),
            ],
        ),
    ]


def operations() -> set[tuple[str, str]]:
    """Every (path, lower-case verb) the engine serves under /2, as /openapi.json lists them."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[BaseRoute], prefix: str) -> None:
        for r in routes:
            if isinstance(r, Mount):
                walk(list(r.routes), prefix + r.path)
            elif isinstance(r, Route) and prefix:
                found.update((prefix + r.path, m.lower()) for m in r.methods or () if m != "HEAD")

    walk(list(_routes()), "")
    return found


async def _openapi(request: Request) -> Response:
    """The API description (``http/openapi.py``): public, like any API's documentation."""
    return JSONResponse(openapi())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return failure(404, f"Not found: no endpoint {request.url.path}")
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        resp = failure(405, f"Method {request.method} not allowed here (allowed: {allow})")
        if allow:
            resp.headers["Allow"] = allow
        return resp
    return failure(exc.status_code if exc.status_code < 500 else 400, str(exc.detail))


class PrefixStrip:
    """Serve ``/anything/2/...`` as ``/2/...``, so the engine works behind a path prefix."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if not path.startswith("/2/") and path != "/2":
                at = path.find("/2/")
                if at < 0 and path.endswith("/2"):
                    at = len(path) - 2
                if at > 0:
                    # ASGI: path keeps the prefix; routing strips root_path from it.
                    scope = dict(scope)
                    scope["root_path"] = path[:at]
        await self.app(scope, receive, send)


def create_app(engine: Engine) -> ASGIApp:
    app = Starlette(routes=_routes(), exception_handlers={HTTPException: _http_error})
    app.state.engine = engine
    return PrefixStrip(app)
