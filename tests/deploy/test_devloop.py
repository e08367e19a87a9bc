"""dev's rounds (deploy/devloop.py) on the in-memory server: what each round uploads and
tests, a broken manifest reported and survived, and stopping between steps."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import Workspace, alpha_tested, prints

from ironship.deploy.devloop import DevSession, RoundReport
from ironship.deploy.models import WorkerResult
from ironship.deploy.pipeline import ApplyRequest, StampSource, no_stamps
from ironship.errors import IronshipError
from ironship.manifest.models import Manifest


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return alpha_tested(tmp_path / "project")


def _stamps(_: Manifest) -> StampSource:
    return no_stamps


def session(server: FakeIron, load: Any, **kwargs: Any) -> DevSession:
    ticks = itertools.count()
    return DevSession(
        server,
        load,
        ApplyRequest(parallelism=1),
        stamps=_stamps,
        clock=lambda: float(next(ticks)),
        **kwargs,
    )


def results(report: RoundReport) -> tuple[WorkerResult, ...]:
    assert report.outcome is not None and report.outcome.applied is not None
    return report.outcome.applied.results


def test_each_round_uploads_what_changed_and_tests_those_workers(
    ws: Workspace, server: FakeIron
) -> None:
    """The first round creates both workers and tests alpha; a round after an edit of beta
    uploads beta alone and runs no test of alpha; a round with nothing changed uploads nothing."""
    dev = session(server, lambda: ws.manifest)
    first = dev.run_round(("start",))
    assert [(r.name, r.outcome) for r in results(first)] == [
        ("alpha", "created"),
        ("beta", "created"),
    ]
    assert first.outcome is not None and first.outcome.smoke is not None
    assert [(r.worker, r.passed) for r in first.outcome.smoke.results] == [("alpha", True)]
    assert not first.failed and first.error is None and not first.stopped
    assert first.apply_seconds is not None and first.apply_seconds < first.seconds
    assert dev.phase == "idle"

    (ws.root / "workers/beta/main.py").write_text(prints("3"))
    second = dev.run_round(("workers/beta/main.py",))
    assert [(r.name, r.outcome) for r in results(second)] == [
        ("alpha", "unchanged"),
        ("beta", "updated"),
    ]
    assert second.outcome is not None and second.outcome.smoke is not None
    assert second.outcome.smoke.results == ()
    assert second.trigger == ("workers/beta/main.py",)

    third = dev.run_round(("workers/beta/main.py",))
    assert [r.outcome for r in results(third)] == ["unchanged", "unchanged"]
    assert len(server.queued) == 1  # alpha's one test, in the first round


def test_a_failing_smoke_test_fails_the_round_but_not_the_session(
    ws: Workspace, server: FakeIron
) -> None:
    """A wrong output marks the round failed (exit code 3); the fix passes in the next one."""
    dev = session(server, lambda: ws.manifest)
    dev.run_round(("start",))
    (ws.root / "workers/alpha/main.py").write_text(prints("7"))
    broken = dev.run_round(("workers/alpha/main.py",))
    assert broken.failed and broken.outcome is not None and broken.outcome.exit_code == 3
    (ws.root / "workers/alpha/main.py").write_text(prints("1"))
    fixed = dev.run_round(("workers/alpha/main.py",))
    assert not fixed.failed


def test_a_manifest_that_does_not_load_is_reported_and_the_last_good_one_kept(
    ws: Workspace, server: FakeIron
) -> None:
    """The load error is the round's report (nothing raised, nothing uploaded); the session
    keeps the last manifest that loaded (for the watch scope) and the next round works."""
    problem = IronshipError("ironship.yml:3:1: invalid YAML", hint="fix the line")
    answers: list[Manifest | IronshipError] = [ws.manifest, problem, ws.manifest]

    def load() -> Manifest:
        answer = answers.pop(0)
        if isinstance(answer, IronshipError):
            raise answer
        return answer

    dev = session(server, load)
    dev.run_round(("start",))
    revs = server.revs("alpha")
    report = dev.run_round(("ironship.yml",))
    assert report == RoundReport(("ironship.yml",), None, 1.0, None, problem)
    assert report.failed
    assert dev.manifest == ws.manifest and server.revs("alpha") == revs
    assert not dev.run_round(("ironship.yml",)).failed


def test_a_round_stopped_before_it_uploads_leaves_the_server_alone(
    ws: Workspace, server: FakeIron
) -> None:
    """With stop set, the round ends after planning: no upload, no test."""
    stop = threading.Event()
    stop.set()
    report = session(server, lambda: ws.manifest, stop=stop).run_round(("start",))
    assert report.stopped and report.outcome is None and report.error is None
    assert server.list_codes() == [] and server.queued == []


class StopDuringUpload(FakeIron):
    """Sets ``stop`` during the first upload, and records whether the round could then be
    walked away from."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop
        self.session: DevSession | None = None
        self.abandonable: list[bool] = []

    def upload_code(self, data: Any, zip_path: Path | None) -> str:
        self.stop.set()
        assert self.session is not None
        self.abandonable.append(self.session.try_abandon())
        return super().upload_code(data, zip_path)


def test_stop_during_an_upload_finishes_the_uploads_and_skips_the_smoke_tests(
    ws: Workspace,
) -> None:
    """Ctrl-C while uploading: every planned upload completes (no half-applied round), the
    smoke tests are given up, and the round could not be abandoned mid-upload."""
    stop = threading.Event()
    server = StopDuringUpload(stop)
    dev = session(server, lambda: ws.manifest, stop=stop)
    server.session = dev
    report = dev.run_round(("start",))
    assert report.stopped
    assert sorted(c.name for c in server.list_codes()) == ["alpha", "beta"]
    assert server.queued == []
    assert server.abandonable == [False, False]
    assert dev.try_abandon()  # the round is over
