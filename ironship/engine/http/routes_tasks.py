"""Project, stack, task and schedule routes.

The endpoints of docs/ironworker-api.md §3 (Tasks), §4 (Schedules) and §5 (Other endpoints),
and the hosted API's per-code webhook (POST codes/{id}/webhook), which queues a task.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ironship.engine.http.context import Ctx, ok
from ironship.engine.http.logs import log_response
from ironship.engine.http.parse import (
    MAX_DELAY,
    MAX_PAYLOAD,
    opt_int,
    opt_str,
    schedule_requests,
    schedule_update,
    task_request,
    task_requests,
)
from ironship.engine.http.wire import HttpFailure, schedule_json, task_json
from ironship.engine.run.runtimes import available
from ironship.engine.state.model import STATUSES, UNFINISHED, TaskFilter


async def get_project(ctx: Ctx) -> Response:
    project = ctx.state.projects.get(ctx.pid)
    return ok({"id": project["id"], "name": project["name"]})


async def stacks(ctx: Ctx) -> Response:
    """The runtimes this engine has a program for, then the stacks (``python-3.11``…) it can
    run: a JSON array of names, as RB's ``stacks_list`` reads it."""
    return ok(await run_in_threadpool(available))


async def engine_info(ctx: Ctx) -> Response:
    """An ironship extension (docs/ironworker-api.md §5): how this engine contains and
    limits tasks (sandbox kind and reason, per-task caps, upload and connection limits)."""
    return ok(dict(ctx.engine.info))


async def queue(ctx: Ctx) -> Response:
    ids = ctx.state.tasks.queue(ctx.pid, task_requests(await ctx.json(strict_type=True)))
    ctx.engine.dispatcher.wake()
    return ok({"msg": "Queued up", "tasks": [{"id": i} for i in ids]})


async def webhook(ctx: Ctx) -> Response:
    """The raw body becomes the payload; ``code_name`` and options come from the query."""
    return await _queue_raw_body(ctx, {})


async def code_webhook(ctx: Ctx) -> Response:
    """The hosted API's per-code webhook: like ``tasks/webhook`` with the code in the path."""
    code, _ = ctx.state.codes.get(ctx.pid, ctx.path("code_id"))
    return await _queue_raw_body(ctx, {"code_name": code["name"]})


async def _queue_raw_body(ctx: Ctx, fixed: dict[str, str]) -> Response:
    body = await ctx.body(limit=MAX_PAYLOAD)
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpFailure(400, "the webhook body must be UTF-8 text") from None
    raw = {k: v for k, v in ctx.request.query_params.items() if k != "oauth"}
    req = task_request({**raw, **fixed, "payload": payload})
    ids = ctx.state.tasks.queue(ctx.pid, [req])
    ctx.engine.dispatcher.wake()
    return ok({"id": ids[0], "msg": "Queued up."})


async def list_tasks(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    page = ctx.paging()
    from_time = ctx.query_int("from_time", -1)
    to_time = ctx.query_int("to_time", -1)
    which = TaskFilter(
        code_name=q.get("code_name") or None,
        # GO sends a flag's value as "%!d(bool=true)": any non-empty value turns a flag on.
        statuses=tuple(s for s in STATUSES if q.get(s, "").strip()),
        from_time=from_time if from_time >= 0 else None,
        to_time=to_time if to_time >= 0 else None,
        cluster=q.get("cluster") or None,
        label=q.get("label") or None,
    )
    rows = ctx.state.tasks.list_page(ctx.pid, which, page)
    return ok({"tasks": [task_json(t) for t in rows]})


async def get_task(ctx: Ctx) -> Response:
    return ok(task_json(ctx.state.tasks.get(ctx.pid, ctx.path("task_id"))))


async def log(ctx: Ctx) -> Response:
    """The log, streamed; always text/plain, even when the client asked for JSON (PY sends
    Accept: application/json). ``?offset=`` and ``Range`` ask for a part (``http/logs.py``)."""
    task = ctx.state.tasks.get(ctx.pid, ctx.path("task_id"))
    path = ctx.state.files.log_path(task["id"])
    if not path.exists():
        # Every client's wait loop retries on 404 (NODE only while the msg matches /log/i).
        if task["status"] in UNFINISHED:
            raise HttpFailure(404, f"log not available yet: the task is {task['status']}")
        raise HttpFailure(404, f"no log: the task is {task['status']} and never ran")
    offset = ctx.query_int("offset", 0)
    if offset < 0:
        raise HttpFailure(400, "query parameter offset must be 0 or more (a byte position)")
    return log_response(path, task["status"], offset, ctx.request.headers.get("range"))


async def outlog(ctx: Ctx) -> Response:
    """stdout of a finished task; the local engine keeps one combined log, so it is that."""
    task = ctx.state.tasks.get(ctx.pid, ctx.path("task_id"))
    path = ctx.state.files.log_path(task["id"])
    if task["status"] in UNFINISHED or not path.exists():
        raise HttpFailure(404, f"outlog not available: the task is {task['status']}")
    return log_response(path, task["status"], None, None)


async def cancel(ctx: Ctx) -> Response:
    task_id = ctx.path("task_id")
    before = ctx.state.tasks.cancel(ctx.pid, task_id)
    if before in ("preparing", "running"):
        ctx.engine.dispatcher.cancel(task_id)
    return ok({"msg": "Cancelled"})


async def progress(ctx: Ctx) -> Response:
    body = await ctx.json()
    percent = opt_int(body, "percent")
    if percent is not None:
        percent = max(0, min(100, percent))
    ctx.state.tasks.set_progress(ctx.pid, ctx.path("task_id"), percent, opt_str(body, "msg"))
    return ok({"msg": "Progress set"})


async def retry(ctx: Ctx) -> Response:
    body = await ctx.json(strict_type=True)
    delay = opt_int(body, "delay") or 0
    if delay > MAX_DELAY:
        raise HttpFailure(400, f"delay must be at most {MAX_DELAY} seconds")
    new_id = ctx.state.tasks.retry(ctx.pid, ctx.path("task_id"), max(0, delay))
    ctx.engine.dispatcher.wake()
    return ok({"msg": "Queued up", "tasks": [{"id": new_id}]})


async def create_schedules(ctx: Ctx) -> Response:
    reqs = schedule_requests(await ctx.json(strict_type=True))
    ids = ctx.state.schedules.create(ctx.pid, reqs)
    ctx.engine.dispatcher.wake()
    return ok({"msg": "Scheduled", "schedules": [{"id": i} for i in ids]})


async def list_schedules(ctx: Ctx) -> Response:
    rows = ctx.state.schedules.list_page(ctx.pid, ctx.paging())
    return ok({"schedules": [schedule_json(s) for s in rows]})


async def get_schedule(ctx: Ctx) -> Response:
    return ok(schedule_json(ctx.state.schedules.get(ctx.pid, ctx.path("schedule_id"))))


async def update_schedule(ctx: Ctx) -> Response:
    """PUT schedules/{id} with only the fields to change (RB's ``schedules_update``)."""
    upd = schedule_update(await ctx.json(strict_type=True))
    ctx.state.schedules.update(ctx.pid, ctx.path("schedule_id"), upd)
    ctx.engine.dispatcher.wake()
    return ok({"msg": "Updated"})


async def cancel_schedule(ctx: Ctx) -> Response:
    ctx.state.schedules.cancel(ctx.pid, ctx.path("schedule_id"))
    return ok({"msg": "Cancelled"})
