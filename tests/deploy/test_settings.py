"""The stamps ironship writes keep their exact values across releases.

The digests below were computed before the Worker ↔ upload-data mapping moved to
``deploy/settings.py``. A different value here means every deployed worker would show as
changed after an upgrade (docs/architecture.md, Stamps).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ironship.deploy.diff import smoke_digest
from ironship.deploy.executor import upload_data
from ironship.deploy.models import WorkerPlan
from ironship.manifest.models import SmokeTest, Worker
from ironship.packaging.archive import build_fileset, content_digest

FULL_DIGEST = "sha256:8411e81e8ea142385fae242eb153a8bf7f73da04657d1c8dd8993721f6edf6ce"
FILES_DIGEST = "sha256:927cd201e71d292e4105ac0024e200a812997a8178a49a6620bad4bac707f070"
MINIMAL_DIGEST = "sha256:a3730e3cc17c8b102ae69ccd8aa01e52106e8713e798d937b991a626ed869653"
SMOKE_DIGEST = "sha256:0b11dfd3673ac16a3543e9f1ac894afb5beb1fe2b92a817d9b8216a89b433516"
TREE = {
    "main.py": (b"print('hi')\n", True),
    "lib/util.py": (b"X = 1\n", False),
    "données/é.txt": ("café\n".encode(), False),
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for rel, (content, executable) in TREE.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(0o755 if executable else 0o644)
    return tmp_path


def full_worker(root: Path) -> Worker:
    return Worker(
        name="fib",
        root=root,
        entry="main.py",
        runtime="python",
        config={"b": [1, 2], "a": "é"},
        env={"B": "2", "A": "1"},
        max_concurrency=5,
        retries=3,
        retries_delay=60,
        priority=2,
        timeout=300,
    )


def test_content_and_files_digests_are_pinned(root: Path) -> None:
    """IRONSHIP_DIGEST and IRONSHIP_FILES of a fixed tree and settings equal the pinned values."""
    fs = build_fileset(full_worker(root))
    assert (fs.digest, content_digest(fs.files, {})) == (FULL_DIGEST, FILES_DIGEST)
    minimal = Worker(name="min", root=root, entry="main.py", runtime="sh")
    assert build_fileset(minimal).digest == MINIMAL_DIGEST


def test_upload_data_is_pinned(root: Path) -> None:
    """The whole ``data`` of an upload (settings plus every stamp) equals the pinned document."""
    wp = WorkerPlan("fib", "create", local=build_fileset(full_worker(root)), smoke_digest="s")
    assert upload_data(wp, {"IRONSHIP_GIT_SHA": "abc"}) == {
        "name": "fib",
        "runtime": "python",
        "file_name": "main.py",
        "config": '{"a":"\\u00e9","b":[1,2]}',
        "max_concurrency": 5,
        "retries": 3,
        "retries_delay": 60,
        "default_priority": 2,
        "env_vars": {
            "A": "1",
            "B": "2",
            "IRONSHIP_GIT_SHA": "abc",
            "IRONSHIP_DIGEST": FULL_DIGEST,
            "IRONSHIP_FILES": FILES_DIGEST,
            "IRONSHIP_SMOKE": "s",
        },
    }


def test_smoke_digest_is_pinned() -> None:
    """IRONSHIP_SMOKE of fixed smoke tests equals the pinned value."""
    tests = (
        SmokeTest(name="first", payload={"max": 100}, timeout=30, output={"subset": {"n": 1}}),
        SmokeTest(
            name="log",
            payload=None,
            timeout=5.5,
            status="error",
            log={"contains": "x"},
            max_duration=2.0,
        ),
    )
    worker = Worker(name="fib", root=Path("/x"), entry="main.py", runtime="python", smoke=tests)
    assert smoke_digest(worker) == SMOKE_DIGEST
