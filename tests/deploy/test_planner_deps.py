"""make_plan with vendored Python dependencies on the in-memory server: the tree is part of
the package and its digests, installed once, and a requirements change is named by package
and version."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy.fakes import FakeIron
from deploy.wheelhouse import CountingRunner, isolate_pip, wheel
from deploy.workspace import Uploader, Workspace

from ironship.deploy.models import LocalWorker, SettingChange
from ironship.deploy.planner import make_plan, read_locals
from ironship.deploy.settings import local_worker, upload_settings
from ironship.packaging.contents import select_package
from ironship.packaging.deps.cache import DepsCache, deps_cache_dir


@pytest.fixture(autouse=True)
def _pip(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_pip(monkeypatch)


@pytest.fixture
def links(tmp_path: Path) -> Path:
    folder = tmp_path / "links"
    wheel(folder, "tinypure", "1.0.0", requires=["tinyextra"])
    wheel(folder, "tinypure", "1.1.0", requires=["tinyextra"])
    wheel(folder, "tinyextra", "2.0.0")
    return folder


@pytest.fixture
def space(tmp_path: Path, links: Path) -> Workspace:
    ws = Workspace(tmp_path / "project")
    ws.worker(
        "py",
        {"main.py": "import tinypure\n", "requirements.txt": "tinypure==1.0.0\n"},
        requirements="requirements.txt",
        python="3.11",
        pip_args=("--no-index", "--find-links", str(links)),
    )
    return ws


def desired(ws: Workspace) -> LocalWorker:
    worker = ws.workers["py"]
    return local_worker(worker, select_package(worker, ws.root))


def test_a_new_worker_ships_its_tree_and_runs_its_runner(space: Workspace) -> None:
    """The planned upload holds __pips__/ and runs __runner__.sh with runtime sh, and the plan
    lists the packages it installs."""
    plan = make_plan(FakeIron(), space.manifest)
    (wp,) = plan.workers
    assert wp.reasons[1:] == (
        "+ dependencies (requirements.txt: 2 packages)",
        "    + tinyextra 2.0.0",
        "    + tinypure 1.0.0",
    )
    assert wp.local is not None
    assert (wp.local.settings["runtime"], wp.local.settings["file_name"]) == ("sh", "__runner__.sh")
    assert "__pips__/tinypure/__init__.py" in [f.path for f in wp.local.files]
    assert wp.local == desired(space)


def test_uploaded_then_changed_requirements(space: Workspace, uploader: Uploader) -> None:
    """After ironship's upload the worker is unchanged; a new pin shows as one dependencies
    line with the upgraded package, plus the requirements file itself."""
    server = FakeIron()
    uploader.upload(server, desired(space))
    assert make_plan(server, space.manifest).workers[0].action == "unchanged"
    (space.root / "workers" / "py" / "requirements.txt").write_text("tinypure==1.1.0\n")
    (wp,) = make_plan(server, space.manifest).workers
    assert (wp.action, wp.reasons) == (
        "update",
        (
            "~ dependencies (requirements.txt changed)",
            "    ~ tinypure 1.0.0 → 1.1.0",
            "~ requirements.txt",
        ),
    )


def test_dropping_requirements_removes_tree_and_runner(
    space: Workspace, uploader: Uploader
) -> None:
    """A worker that no longer declares requirements loses its packages and its runner, and
    runs its own entry again."""
    server = FakeIron()
    uploader.upload(server, desired(space))
    space.change("py", requirements=None)
    (wp,) = make_plan(server, space.manifest).workers
    assert wp.reasons[:4] == (
        "- dependencies (2 packages)",
        "    - tinyextra 2.0.0",
        "    - tinypure 1.0.0",
        "- __runner__.sh",
    )
    assert SettingChange("runtime", "sh", "python") in wp.settings
    assert SettingChange("file_name", "__runner__.sh", "main.py") in wp.settings


def test_a_warm_plan_installs_nothing(space: Workspace) -> None:
    """Workers sharing the cache folder reuse the tree a previous run built: no process."""
    worker = space.workers["py"]
    first, second = CountingRunner(), CountingRunner()
    folder = deps_cache_dir(space.root)
    read_locals([worker], space.root, deps=DepsCache(folder, first))
    read_locals([worker, worker], space.root, deps=DepsCache(folder, second))
    assert len(first.calls) == 1 and second.calls == []


def test_stack_is_an_upload_setting(space: Workspace) -> None:
    """stack: goes into the upload's data (and so into the content digest) when set only."""
    worker = space.change("py", stack="python-3.11")
    assert upload_settings(worker)["stack"] == "python-3.11"
    assert "stack" not in upload_settings(space.change("py", stack=None))
