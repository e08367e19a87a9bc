"""Two deploys at once: re-read each worker right before it is changed, and stop on a conflict.

A plan is made against the revisions the server held at the time (``WorkerPlan.remote``).
If another deploy uploads the same worker between that plan and this apply, uploading anyway
would silently replace the other deploy's revision with a package planned against an older
one. So, right before each upload or delete, apply reads the worker again (``GET codes/{id}``;
for a planned create, which has no id yet, the code list) and, if it is no longer the
revision planned against, does not touch it: the worker's outcome is ``"conflict"``, with a
message naming the revision now on the server and where it came from (its git and CI stamps).

**Not atomic.** The IronWorker API has no compare-and-swap on ``POST codes``: an upload
names the code, not the revision it replaces, and every upload simply adds a revision
(docs/ironworker-api.md §2 (Code packages)). A deploy that uploads between this check and
this upload still wins the race unnoticed here; its revision is then replaced, and the
read-back after the uploads reports the stamp mismatch. The window is one GET answered, then
the POST sent: every zip is built before any upload starts, so only the client's own
bookkeeping sits between the two requests. Measured on the local engine over loopback (60
applies of one worker): the GET takes about 1 ms, the POST starts 0.01 ms after its answer
and takes about 2.3 ms, so about 3 ms pass between the server reading the revision and
writing the next one. Against the hosted service the window is about one network round trip
plus the upload of the zip.

``apply_exit_code`` is the exit-code rule of an apply, conflicts included.
"""

from __future__ import annotations

import threading

from ironship import exitcodes
from ironship.deploy.models import ApplyResult, WorkerPlan, WorkerResult
from ironship.deploy.ports import CodeSource
from ironship.deploy.stamps import BY_KEY, CI_URL_KEY, GIT_DIRTY_KEY, GIT_SHA_KEY
from ironship.errors import ApiError, IronshipError
from ironship.iron.types import Code

SHORT_SHA = 7


def history_id(code: Code) -> str | None:
    """The code's ``latest_history_id`` (the newest revision's id), when the client reads it."""
    value = getattr(code, "latest_history_id", None)
    return value if isinstance(value, str) and value else None


def same_revision(planned: Code, now: Code) -> bool:
    """Whether ``now`` is still the revision the plan was made against.

    ``rev`` only goes up (docs/ironworker-api.md §2 (Code packages)), so id and rev decide;
    ``latest_history_id`` is compared too when both sides have it (a code deleted and created
    again under the same name starts at rev 1 with a new id).
    """
    if (planned.id, planned.rev) != (now.id, now.rev):
        return False
    a, b = history_id(planned), history_id(now)
    return a is None or b is None or a == b


def describe_revision(code: Code) -> str:
    """``revision 3 (git abc1234, by alice, CI https://…)``: a revision and where it came
    from, as its stamps say (docs/architecture.md, Stamps)."""
    env = code.env_vars
    sha = env.get(GIT_SHA_KEY)
    dirty = "+dirty" if env.get(GIT_DIRTY_KEY) == "1" else ""
    origin = [f"git {sha[:SHORT_SHA]}{dirty}" if sha else "no git stamp"]
    if env.get(BY_KEY):
        origin.append(f"by {env[BY_KEY]}")
    if env.get(CI_URL_KEY):
        origin.append(f"CI {env[CI_URL_KEY]}")
    return f"revision {code.rev} ({', '.join(origin)})"


def current_code(source: CodeSource, wp: WorkerPlan) -> Code | None:
    """The worker's code on the server now (None: there is none). One request."""
    if wp.remote is None:
        return next((c for c in source.list_codes() if c.name == wp.name), None)
    try:
        return source.get_code(wp.remote.id)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def conflict_message(wp: WorkerPlan, now: Code | None) -> str | None:
    """Why the worker may not be changed now, or None when the server is as planned."""
    planned = wp.remote
    if planned is None and now is not None:
        what = f"created on the server after this plan: {describe_revision(now)}"
    elif planned is not None and now is None:
        what = f"deleted from the server after this plan (planned against revision {planned.rev})"
    elif planned is not None and now is not None and not same_revision(planned, now):
        what = (
            f"the server has {describe_revision(now)}, "
            f"but this plan was made against revision {planned.rev}"
        )
    else:
        return None
    return f"{what}; another deploy got there first; run plan again"


# Outcomes after which ``continue_on_error=False`` starts no further worker.
STOPPING = frozenset({"failed", "conflict"})


class Gate:
    """Decides, right before each upload or delete, whether it may go ahead.

    Shared by the executor's threads: once a worker fails or conflicts and the apply was told
    not to carry on (``continue_on_error=False``), every worker not yet started is skipped.
    """

    def __init__(self, source: CodeSource, *, continue_on_error: bool = True) -> None:
        self._source = source
        self._continue = continue_on_error
        self._stop = threading.Event()

    def before(self, wp: WorkerPlan) -> WorkerResult | None:
        """The worker's result when it must not be changed (skipped, conflict); else None."""
        planned_rev = wp.remote.rev if wp.remote else None
        if self._stop.is_set():
            why = "not started: an earlier worker failed or conflicted (continue_on_error is off)"
            return WorkerResult(wp.name, wp.action, "skipped", None, planned_rev, message=why)
        try:
            now = current_code(self._source, wp)
        except IronshipError as exc:
            msg = f"could not re-read the worker before changing it: {exc}"
            return WorkerResult(wp.name, wp.action, "failed", None, planned_rev, message=msg)
        message = conflict_message(wp, now)
        if message is None:
            return None
        rev = now.rev if now is not None else None
        return WorkerResult(wp.name, wp.action, "conflict", rev, planned_rev, message=message)

    def after(self, result: WorkerResult) -> None:
        """Note a worker's result; a failure or conflict stops the rest when asked to."""
        if not self._continue and result.outcome in STOPPING:
            self._stop.set()


def apply_exit_code(result: ApplyResult) -> int:
    """The exit code of an apply.

    A failed worker decides first: 5 when others were uploaded, 1 when none was. An upload
    whose read-back failed (``unverified``) landed but was not checked: 5. Otherwise a
    conflict (another deploy got there first) gives 4, and a clean apply 0.
    """
    if result.unverified:
        return exitcodes.PARTIAL
    if result.failed:
        return exitcodes.PARTIAL if result.changed else exitcodes.ERROR
    if result.conflicts:
        return exitcodes.CONFLICT
    return exitcodes.OK
