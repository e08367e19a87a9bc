"""Two deploys of one worker at once, and saved plans, against the real engine over HTTP."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Project, write_tree
from faultproxy import HOLD_WAIT as WAIT
from faultproxy import Faults, faulty_proxy

from ironship import exitcodes
from ironship.deploy.executor import apply_plan
from ironship.deploy.guard import apply_exit_code
from ironship.deploy.models import ApplyResult, WorkerResult
from ironship.deploy.planfile import (
    PlanContext,
    PlanTarget,
    fresh_plan,
    load_plan_file,
    write_plan_file,
)
from ironship.deploy.planner import make_plan
from ironship.errors import IronshipError
from ironship.iron.client import Client
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Manifest

MANIFEST = "version: 1\nworkers:\n  alpha:\n    root: a\n    entry: main.py\n"
CI = {"IRONSHIP_GIT_SHA": "feedc0de" * 5, "IRONSHIP_CI_URL": "https://ci.example/runs/42"}


def checkout(root: Path, text: str) -> Manifest:
    """A project folder whose worker alpha prints ``text``."""
    write_tree(root, {"ironship.yml": MANIFEST, "a/main.py": f"print({text!r})\n"})
    return load_manifest(root / "ironship.yml")


def is_reread_of(code_id: str) -> Callable[[str, str], bool]:
    """Selects the guard's ``GET codes/{id}`` of that code (not a download or revision list)."""
    pattern = re.compile(rf"/2/projects/[^/]+/codes/{code_id}(\?.*)?$")
    return lambda method, path: method == "GET" and pattern.search(path) is not None


def test_two_applies_racing_on_one_worker_one_wins_the_other_conflicts(
    project: Project, tmp_path: Path
) -> None:
    """Two checkouts plan against revision 1; the first apply is held at its re-read while the
    second uploads revision 2; released, the first reports a conflict (exit 4) naming revision
    2 and its stamps, and revision 2 stays the one in force."""
    with project.client() as direct:
        first = checkout(tmp_path / "first", "v1")
        apply_plan(direct, make_plan(direct, first), build_dir=tmp_path / "b0")
        (alpha,) = direct.list_codes()
        first = checkout(tmp_path / "first", "from the first checkout")
        second = checkout(tmp_path / "second", "from the second checkout")
        plan_one, plan_two = make_plan(direct, first), make_plan(direct, second)
        results: dict[str, ApplyResult] = {}
        pause = Faults(hold=is_reread_of(alpha.id))
        with faulty_proxy(project.url, pause) as url:
            slow = Client(url, project.project_id, project.token, retries=1)

            def apply_first() -> None:
                results["first"] = apply_plan(slow, plan_one, build_dir=tmp_path / "b1")

            thread = threading.Thread(target=apply_first)
            thread.start()
            assert pause.arrived.wait(WAIT), "the first apply never re-read alpha"
            results["second"] = apply_plan(
                direct, plan_two, build_dir=tmp_path / "b2", stamps={"alpha": CI}
            )
            pause.release.set()
            thread.join(WAIT)
            slow.close()
        now = direct.get_code(alpha.id)
    assert results["second"].results == (
        WorkerResult("alpha", "update", "updated", 2, 1, code_uploaded=True),
    )
    assert results["first"].results == (
        WorkerResult(
            "alpha",
            "update",
            "conflict",
            2,
            1,
            message="the server has revision 2 (git feedc0d, CI https://ci.example/runs/42), "
            "but this plan was made against revision 1; another deploy got there first; "
            "run plan again",
        ),
    )
    assert apply_exit_code(results["first"]) == exitcodes.CONFLICT
    assert apply_exit_code(results["second"]) == exitcodes.OK
    assert plan_two.workers[0].local is not None
    assert (now.rev, now.env_vars["IRONSHIP_DIGEST"]) == (2, plan_two.workers[0].local.digest)


def test_a_saved_plan_is_refused_once_someone_else_uploaded(
    project: Project, tmp_path: Path
) -> None:
    """A plan file saved before another deploy's upload is stale at apply time, while the same
    plan file with nothing moved is applied as it was saved."""
    with project.client() as client:
        manifest = checkout(tmp_path / "repo", "v1")
        apply_plan(client, make_plan(client, manifest), build_dir=tmp_path / "b0")
        manifest = checkout(tmp_path / "repo", "v2")
        path = tmp_path / "repo" / "plan.json"
        target = PlanTarget("iron", project.project_id, project.url)
        write_plan_file(path, make_plan(client, manifest), PlanContext(manifest.path, target))
        saved = load_plan_file(path)
        assert fresh_plan(client, manifest, saved) == make_plan(client, manifest)
        other = checkout(tmp_path / "other", "v3")
        apply_plan(client, make_plan(client, other), build_dir=tmp_path / "b1")
        with pytest.raises(IronshipError) as caught:
            fresh_plan(client, manifest, saved)
    assert caught.value.message == (
        f"{path}: stale plan: alpha is at revision 2 on the server, the plan saw 1; run plan again"
    )
