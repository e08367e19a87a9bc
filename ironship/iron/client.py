"""IronWorker API v2 over one ``requests.Session``.

The calls and their answers are described in docs/ironworker-api.md §1 (Transport) to
§5 (Other endpoints).

With ``transport.py`` the only modules that import requests (docs/architecture.md,
Conventions 6: one HTTP seam).
Every failure leaves as ``ApiError`` carrying the server's ``msg``; the token lives only inside
``_OAuth`` and never reaches a message or repr. ``Client`` satisfies the deploy core's ports
(``ironship.deploy.ports``) and the smoke runner's ``SmokeClient`` structurally.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ironship import __version__
from ironship.errors import ApiError, IronshipError
from ironship.iron.credentials import checked_token
from ironship.iron.multipart import MultipartBody
from ironship.iron.transport import (
    RETRY_STATUSES,
    ApiRetry,
    OAuth,
    body_text,
    error_message,
    redact,
    transport_error,
)
from ironship.iron.types import Code, Revision, Schedule, Task
from ironship.secrets import Secret

__all__ = [
    "RETRY_STATUSES",
    "USER_AGENT",
    "Client",
    "Code",
    "MultipartBody",
    "Revision",
    "Schedule",
    "Task",
]

log = logging.getLogger(__name__)

USER_AGENT = f"ironship/{__version__}"
LOG_CHUNK = 64 * 1024  # bytes of a log handed on at a time
PER_PAGE = 100  # the API maximum (docs/ironworker-api.md §1 (Transport), Pagination)
# Connections kept per host: as many as the most parallel uploads (--parallelism allows 64),
# so a parallel apply reuses its connections instead of opening and dropping one per request.
POOL_SIZE = 64


class Client:
    """IronWorker API v2 for one project; ``base_url`` like ``https://worker-aws-us-east-1.iron.io``."""

    def __init__(
        self,
        base_url: str,
        project_id: str,
        token: str | Secret,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        token = token if isinstance(token, Secret) else checked_token(token, "the token")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise IronshipError(
                f"invalid IronWorker API URL {redact(base_url, token)!r}",
                hint="expected something like https://worker-aws-us-east-1.iron.io",
            )
        if not token.reveal() or not project_id:
            raise IronshipError("the IronWorker client needs a token and a project id")
        self._root = base_url.rstrip("/")
        self._host = parts.netloc.rpartition("@")[2]
        self.project_id = project_id
        self._project = f"/2/projects/{quote(project_id, safe='')}"
        self._timeout = (min(connect_timeout, timeout), timeout)
        self._auth = OAuth(token)
        self._secret = token
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._retry = ApiRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff,
            backoff_jitter=backoff,  # urllib3 >= 2: adds random() * backoff_jitter to each wait
            backoff_max=30.0,
            raise_on_status=False,  # the last 503 comes back as a response, so its msg is kept
            respect_retry_after_header=True,
        )
        # Mounted on this API's prefix only, so a caller's session keeps its other adapters.
        adapter = HTTPAdapter(max_retries=self._retry, pool_maxsize=POOL_SIZE)
        self._session.mount(base_url.rstrip("/") + "/", adapter)

    @property
    def host(self) -> str:
        """The API host (and port), as a plan file records where it was made for."""
        return self._host

    def __repr__(self) -> str:
        shown = redact(self._root, self._secret)
        return f"Client({shown!r}, project_id={self.project_id!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # -- project, stacks (docs/ironworker-api.md §5 (Other endpoints)) and code packages ----

    def project(self) -> dict[str, Any]:
        return self._get_object(self._project)

    def list_stacks(self) -> list[str]:
        """The runtimes the server can run: ``GET /2/stacks``, a JSON array of names.

        The local engine lists the runtimes it has an interpreter for; on the hosted service
        the call is deprecated (docs/ironworker-api.md §5 (Other endpoints)).
        """
        path = "/2/stacks"
        resp = self._send("GET", path)
        value = self._json(resp, "GET", path)
        if not isinstance(value, list):
            self._fail("GET", path, resp.status_code, "expected a JSON array of stack names")
        return [str(s) for s in value if isinstance(s, str)]

    def list_codes(self) -> list[Code]:
        return [Code.from_json(d) for d in self._pages(f"{self._project}/codes", "codes")]

    def get_code(self, code_id: str) -> Code:
        return Code.from_json(self._get_object(self._code_path(code_id)))

    def find_code(self, name: str) -> Code | None:
        return next((c for c in self.list_codes() if c.name == name), None)

    def upload_code(self, data: Mapping[str, Any], zip_path: Path | None) -> str:
        """Upload a package (or only settings) as a new revision; returns the code id."""
        path = f"{self._project}/codes"
        # ensure_ascii keeps the untyped ``data`` part free of charset questions.
        fields = {"data": json.dumps(dict(data), sort_keys=True)}
        file = ("file", "worker.zip", "application/zip", zip_path) if zip_path else None
        try:
            body = MultipartBody(fields, file)
        except OSError as exc:
            raise IronshipError(f"cannot read {zip_path}: {exc.strerror or exc}") from None
        with body:
            resp = self._send("POST", path, body=body, content_type=body.content_type)
        code_id = self._object(resp, "POST", path).get("id")
        if not isinstance(code_id, str) or not code_id:
            self._fail("POST", path, resp.status_code, "the upload response carries no code id")
        return code_id

    def delete_code(self, code_id: str) -> None:
        self._send("DELETE", self._code_path(code_id))

    def list_revisions(self, code_id: str) -> list[Revision]:
        items = self._pages(f"{self._code_path(code_id)}/revisions", "revisions")
        return [Revision.from_json(d) for d in items]

    def download_code(self, code_id: str, dest: Path, revision: int | None = None) -> Path:
        """Write the package zip to ``dest`` via a temp file and a rename: never a partial file."""
        path = f"{self._code_path(code_id)}/download"
        params = {"revision": str(revision)} if revision is not None else None
        dest.parent.mkdir(parents=True, exist_ok=True)
        resp = self._send("GET", path, params=params, stream=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with resp, os.fdopen(fd, "wb") as out:
                for chunk in resp.iter_content(1 << 16):
                    out.write(chunk)
            os.replace(tmp, dest)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            Path(tmp).unlink(missing_ok=True)
            raise transport_error(
                self._host, self._timeout, self._secret, "GET", path, exc
            ) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def pause_queue(self, code_id: str) -> None:
        self._send("POST", f"{self._code_path(code_id)}/pause_task_queue", json_body={})

    def resume_queue(self, code_id: str) -> None:
        self._send("POST", f"{self._code_path(code_id)}/resume_task_queue", json_body={})

    # -- tasks (docs/ironworker-api.md §3 (Tasks)) ------------------------------------------

    def queue_tasks(self, tasks: Sequence[Mapping[str, Any]]) -> list[str]:
        """Queue several tasks in one call; each ``payload`` must already be a JSON string."""
        for task in tasks:
            if not isinstance(task.get("payload", ""), str):
                raise TypeError("task payload must be a str (JSON-encode it first)")
        path = f"{self._project}/tasks"
        resp = self._send("POST", path, json_body={"tasks": [dict(t) for t in tasks]})
        items = self._object(resp, "POST", path).get("tasks")
        ids = [t.get("id") for t in items if isinstance(t, dict)] if isinstance(items, list) else []
        if len(ids) != len(tasks) or not all(isinstance(i, str) and i for i in ids):
            self._fail("POST", path, resp.status_code, "the response does not list one id per task")
        return [str(i) for i in ids]

    def queue_task(self, code_name: str, payload: str, **options: Any) -> str:
        return self.queue_tasks([{"code_name": code_name, "payload": payload, **options}])[0]

    def get_task(self, task_id: str) -> Task:
        return Task.from_json(self._get_object(self._task_path(task_id)))

    def list_tasks(
        self,
        code_name: str | None = None,
        statuses: Sequence[str] = (),
        per_page: int = PER_PAGE,
        page: int = 0,
        from_time: int | None = None,
    ) -> list[Task]:
        """One page of tasks, newest first as the server orders them; status flags are OR-ed;
        ``from_time`` (epoch seconds) keeps those created since."""
        params: dict[str, str] = {"per_page": str(per_page), "page": str(page)}
        if code_name is not None:
            params["code_name"] = code_name
        if from_time is not None:
            params["from_time"] = str(from_time)
        params.update({s: "1" for s in statuses})
        path = f"{self._project}/tasks"
        return [Task.from_json(d) for d in self._list(path, "tasks", params)]

    def get_log(self, task_id: str) -> str | None:
        """The task's log, or None while the server answers 404 "log not found".

        docs/ironworker-api.md §3 (Tasks), "Log": until a log exists the answer is a 404 whose
        ``msg`` mentions the log.
        """
        try:
            resp = self._send("GET", f"{self._task_path(task_id)}/log")
        except ApiError as exc:
            if exc.status == 404 and "log" in exc.msg.lower():
                return None
            raise
        # text/plain without a charset would make requests guess ISO-8859-1; workers write UTF-8.
        return resp.content.decode("utf-8", "replace")

    def stream_log(
        self, task_id: str, write: Callable[[bytes], object], offset: int = 0
    ) -> int | None:
        """Write the task's log from byte ``offset`` on to ``write`` as it arrives; return the
        offset reached (``offset`` when nothing is new), or None while there is no log yet.

        Asks for ``Range: bytes=OFFSET-`` (docs/ironworker-api.md §3 (Tasks), "Log"). A server
        that answers 206 sends only the new part; one that ignores Range (200, the hosted API)
        sends the whole log, whose first ``offset`` bytes are skipped as they stream past. The
        body is never held whole: a log of gigabytes goes through in chunks.
        """
        headers = {"Range": f"bytes={offset}-"} if offset else None
        try:
            resp = self._send(
                "GET", f"{self._task_path(task_id)}/log", stream=True, extra_headers=headers
            )
        except ApiError as exc:
            if exc.status == 404 and "log" in exc.msg.lower():
                return None
            if exc.status == 416:  # the range starts at the end: nothing new
                return offset
            raise
        position = offset if resp.status_code == 206 else 0  # where the body starts
        try:
            with resp:
                for chunk in resp.iter_content(chunk_size=LOG_CHUNK):
                    start = max(0, offset - position)
                    if start < len(chunk):
                        write(chunk[start:])
                    position += len(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise self._broken("GET", f"{self._task_path(task_id)}/log", exc) from None
        return max(position, offset)

    def cancel_task(self, task_id: str) -> None:
        self._send("POST", f"{self._task_path(task_id)}/cancel", json_body={})

    # -- schedules (docs/ironworker-api.md §4 (Schedules)) ----------------------------------

    def list_schedules(self) -> list[Schedule]:
        """Every schedule of the project, whatever its status (cancelled ones included)."""
        items = self._pages(f"{self._project}/schedules", "schedules")
        return [Schedule.from_json(d) for d in items]

    def get_schedule(self, schedule_id: str) -> Schedule:
        return Schedule.from_json(self._get_object(self._schedule_path(schedule_id)))

    def create_schedules(self, schedules: Sequence[Mapping[str, Any]]) -> list[str]:
        """Create schedules in one call; each ``payload`` must already be a JSON string.

        Returns their ids, in order. The server creates all of them or none.
        """
        for entry in schedules:
            if not isinstance(entry.get("payload", ""), str):
                raise TypeError("schedule payload must be a str (JSON-encode it first)")
        path = f"{self._project}/schedules"
        body = {"schedules": [dict(s) for s in schedules]}
        resp = self._send("POST", path, json_body=body)
        items = self._object(resp, "POST", path).get("schedules")
        ids = [s.get("id") for s in items if isinstance(s, dict)] if isinstance(items, list) else []
        if len(ids) != len(schedules) or not all(isinstance(i, str) and i for i in ids):
            self._fail(
                "POST", path, resp.status_code, "the response does not list one id per schedule"
            )
        return [str(i) for i in ids]

    def create_schedule(self, schedule: Mapping[str, Any]) -> str:
        return self.create_schedules([schedule])[0]

    def cancel_schedule(self, schedule_id: str) -> None:
        self._send("POST", f"{self._schedule_path(schedule_id)}/cancel", json_body={})

    # -- plumbing --------------------------------------------------------------------------------

    def _code_path(self, code_id: str) -> str:
        return f"{self._project}/codes/{quote(code_id, safe='')}"

    def _task_path(self, task_id: str) -> str:
        return f"{self._project}/tasks/{quote(task_id, safe='')}"

    def _schedule_path(self, schedule_id: str) -> str:
        return f"{self._project}/schedules/{quote(schedule_id, safe='')}"

    def _pages(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged list: pages of ``PER_PAGE`` from 0 until a short page."""
        seen: set[str] = set()
        page = 0
        while True:
            params = {"per_page": str(PER_PAGE), "page": str(page)}
            items = self._list(path, key, params)
            fresh = [d for d in items if str(d.get("id")) not in seen]
            if items and not fresh:
                return  # the server ignores ``page``: stop instead of looping forever
            seen.update(str(d.get("id")) for d in items)
            yield from fresh
            if len(items) < PER_PAGE:
                return
            page += 1

    def _list(self, path: str, key: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        resp = self._send("GET", path, params=params)
        items = self._object(resp, "GET", path).get(key)
        if not isinstance(items, list):
            self._fail("GET", path, resp.status_code, f"the response has no {key!r} list")
        return [d for d in items if isinstance(d, dict)]

    def _get_object(self, path: str) -> dict[str, Any]:
        return self._object(self._send("GET", path), "GET", path)

    def _json(self, resp: requests.Response, method: str, path: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            kind = resp.headers.get("Content-Type") or "no content type"
            self._fail(
                method, path, resp.status_code, f"expected JSON, got {kind}: {body_text(resp)}"
            )

    def _object(self, resp: requests.Response, method: str, path: str) -> dict[str, Any]:
        value = self._json(resp, method, path)
        if not isinstance(value, dict):
            self._fail(method, path, resp.status_code, "expected a JSON object")
        return value

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        body: MultipartBody | None = None,
        content_type: str | None = None,
        stream: bool = False,
        extra_headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One HTTP call with timeout and retries; a non-2xx answer raises ApiError."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        headers.update(extra_headers or {})
        data: bytes | MultipartBody | None = body
        if json_body is not None:
            data = json.dumps(json_body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        try:
            resp = self._session.request(
                method,
                self._root + path,
                params=params,
                data=data,
                headers=headers,
                auth=self._auth,
                timeout=self._timeout,
                stream=stream,
                # Only GET follows redirects (a download may live elsewhere; requests drops the
                # Authorization header across hosts). A redirected POST would turn into a GET.
                allow_redirects=method == "GET",
            )
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise transport_error(
                self._host, self._timeout, self._secret, method, path, exc
            ) from None
        log.debug("%s %s -> %s", method, path, resp.status_code)
        if not 200 <= resp.status_code < 300:
            with resp:
                self._fail(method, path, resp.status_code, error_message(resp))
        return resp

    def _broken(self, method: str, path: str, exc: BaseException) -> ApiError:
        return transport_error(self._host, self._timeout, self._secret, method, path, exc)

    def _fail(self, method: str, path: str, status: int | None, msg: str) -> NoReturn:
        err = ApiError(method, path, status, redact(msg, self._secret))
        if status == 401:
            err.hint = "the token was rejected: check IRON_TOKEN, iron.json or --token"
        raise err
