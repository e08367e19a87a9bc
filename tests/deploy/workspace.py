"""A manifest on disk for deploy unit tests: worker folders plus the Manifest value.

Workers are written under a temporary folder and described as ``Worker`` values directly, so
the deploy core is tested without the manifest loader. ``desired`` gives the value the planner
computes for a worker, for building whole expected Plans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ironship.deploy.models import LocalWorker
from ironship.deploy.ports import CodeStore
from ironship.deploy.settings import local_worker, upload_data
from ironship.iron.types import Code
from ironship.manifest.models import Manifest, SmokeTest, Worker
from ironship.packaging.archive import write_zip
from ironship.packaging.fileset import select_fileset

SEP = "MAGICALSTDOUTSEPARATOR"


def prints(value: str) -> str:
    """The text of an entry file whose fake task "prints" ``value`` as one output block."""
    return f"{SEP}{value}{SEP}\n"


def smoke_test(name: str, expected: Any) -> SmokeTest:
    """A smoke test whose output block must equal ``expected``."""
    return SmokeTest(name=name, payload={}, timeout=30, output={"equals": expected})


PASSES = smoke_test("prints-1", 1)  # alpha's output in the workspaces below


class Workspace:
    """Worker folders under ``root`` and the manifest naming them (in name order)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.workers: dict[str, Worker] = {}

    def worker(self, name: str, files: Mapping[str, str], **settings: Any) -> Worker:
        """Write ``files`` (with ``main.py`` as the entry) and declare the worker."""
        folder = self.root / "workers" / name
        for rel, text in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        worker = Worker(name=name, root=folder, entry="main.py", runtime="python", **settings)
        self.workers[name] = worker
        return worker

    def change(self, name: str, **settings: Any) -> Worker:
        """Declare new settings for an existing worker."""
        self.workers[name] = replace(self.workers[name], **settings)
        return self.workers[name]

    @property
    def manifest(self) -> Manifest:
        ordered = tuple(self.workers[n] for n in sorted(self.workers))
        return Manifest(self.root / "ironship.yml", 1, ordered)

    def desired(self, name: str) -> LocalWorker:
        worker = self.workers[name]
        return local_worker(worker, select_fileset(worker))


class Uploader:
    """What ironship's own upload of a worker leaves on a server (for arranging tests)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def upload(self, server: CodeStore, desired: LocalWorker, *, stamped: bool = True) -> Code:
        """Upload ``desired`` with its zip; ``stamped=False`` uploads as another tool would."""
        zip_path = self.scratch / f"{desired.worker}.zip"
        write_zip(desired, zip_path)
        data = upload_data(desired, {}) if stamped else dict(desired.settings)
        return server.get_code(server.upload_code(data, zip_path))


def alpha_tested(root: Path) -> Workspace:
    """alpha (prints 1, with the smoke test PASSES) and beta (prints 2, no smoke test)."""
    space = Workspace(root)
    space.worker("alpha", {"main.py": prints("1")}, smoke=(PASSES,))
    space.worker("beta", {"main.py": prints("2")})
    return space
