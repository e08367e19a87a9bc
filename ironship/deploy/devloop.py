"""One round of ``ironship dev``: reload the manifest, plan, apply what changed, smoke-test it.

A round is ``deploy/pipeline.run_apply`` with the changes approved (dev is asked to deploy each
save: the CLI refuses a hosted target without ``--yes`` before the first round) and the smoke
tests of the changed workers. Whatever goes wrong, a broken manifest included, becomes part of
the round's report rather than an exception, so the session keeps watching. The CLI
(``cli/commands/dev.py``) renders each ``RoundReport``; this module never prints.

Stopping: ``stop`` is looked at between the steps of a round. Once it is set, a round that has
not started uploading stops before its first upload, and one that has finished uploading
stops before its smoke tests; an upload under way is left to finish (``phase`` says which
step a round is in, so the CLI knows whether it may walk away from it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from ironship.deploy.models import ApplyOutcome, ApplyResult, Plan
from ironship.deploy.pipeline import ApplyHooks, ApplyRequest, StampSource, run_apply
from ironship.deploy.ports import DeployClient
from ironship.errors import IronshipError
from ironship.manifest.models import Manifest
from ironship.smoke.runner import SmokeResult

Phase = Literal["idle", "planning", "uploading", "testing"]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RoundReport:
    """What one round did. ``outcome`` is None when it stopped early: ``error`` says why (the
    manifest or a worker could not be read, the server refused), or ``stopped`` is set.
    Times are seconds: ``seconds`` the whole round, ``apply_seconds`` up to the end of the
    uploads (planning included)."""

    trigger: tuple[str, ...]
    outcome: ApplyOutcome | None
    seconds: float
    apply_seconds: float | None = None
    error: IronshipError | None = None
    stopped: bool = False

    @property
    def failed(self) -> bool:
        return self.error is not None or bool(self.outcome and self.outcome.exit_code)


class _Stopped(Exception):
    """Raised from a hook to end a round between two steps (never escapes ``run_round``)."""


def _ignore(_: object) -> None:
    """No progress to show."""


class DevSession:
    """Rounds against one connected target, for as long as the dev session lasts.

    ``load`` reads the manifest afresh (raising ``IronshipError`` when it is broken);
    ``stamps`` gives the upload stamps of a loaded manifest; ``on_install`` and
    ``on_smoke_result`` show progress.
    """

    def __init__(
        self,
        client: DeployClient,
        load: Callable[[], Manifest],
        request: ApplyRequest,
        *,
        stamps: Callable[[Manifest], StampSource],
        secret_key: bytes | None = None,
        stop: threading.Event | None = None,
        on_install: Callable[[str], None] = _ignore,
        on_smoke_result: Callable[[SmokeResult], None] = _ignore,
        clock: Clock = time.monotonic,
    ) -> None:
        self.client = client
        self.load = load
        self.request = replace(request, smoke=request.smoke or "changed")
        self.stamps = stamps
        self.secret_key = secret_key
        self.stop = stop or threading.Event()
        self.on_install = on_install
        self.on_smoke_result = on_smoke_result
        self.clock = clock
        self.phase: Phase = "idle"
        self.manifest: Manifest | None = None  # the last one that loaded
        self._applied_at: float | None = None
        self._lock = threading.Lock()  # the step into uploading vs. giving the round up

    def run_round(self, trigger: tuple[str, ...]) -> RoundReport:
        """Reload, plan, apply and smoke-test; the report of what happened."""
        start = self.clock()
        self._applied_at = None
        self.phase = "planning"
        try:
            manifest = self.load()
            self.manifest = manifest
            outcome = run_apply(
                self.client,
                manifest,
                self.request,
                self._hooks(),
                stamps=self.stamps(manifest),
                secret_key=self.secret_key,
            )
        except IronshipError as exc:
            return self._report(trigger, start, None, error=exc)
        except _Stopped:
            return self._report(trigger, start, None, stopped=True)
        finally:
            self.phase = "idle"
        return self._report(trigger, start, outcome)

    def _report(
        self,
        trigger: tuple[str, ...],
        start: float,
        outcome: ApplyOutcome | None,
        *,
        error: IronshipError | None = None,
        stopped: bool = False,
    ) -> RoundReport:
        applied = None if self._applied_at is None else self._applied_at - start
        return RoundReport(trigger, outcome, self.clock() - start, applied, error, stopped)

    def _hooks(self) -> ApplyHooks:
        return ApplyHooks(
            confirm=lambda _question, _what: True,
            on_install=self.on_install,
            on_plan=self._planned,
            on_upload_start=self._uploading,
            on_applied=self._applied,
            on_smoke_start=self._testing,
            on_smoke_result=self.on_smoke_result,
        )

    def try_abandon(self) -> bool:
        """Whether the round may be walked away from now (``stop`` being set): True unless
        an upload is under way. Once True, no upload of this round starts."""
        with self._lock:
            return self.phase != "uploading"

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def _planned(self, _: Plan) -> None:
        self._check_stop()

    def _uploading(self, _: int) -> None:
        with self._lock:
            self._check_stop()  # nothing uploaded yet: stopping here leaves the server as it was
            self.phase = "uploading"

    def _applied(self, _: ApplyResult) -> None:
        self._applied_at = self.clock()
        with self._lock:
            self.phase = "testing"

    def _testing(self, _: int) -> None:
        self._check_stop()  # uploads done; the smoke tests are what is given up
