"""A worker's zip is streamed to disk (.ironship/build/) and uploaded from disk: packaging and
uploading a worker many times larger than a memory cap stays under the cap.

Measured with ``tracemalloc`` around make_plan + apply_plan in this process (the engine that
receives the upload runs here too, so its side counts as well): a ratio of peak traced memory
to the zip's size, not a timing.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

from cli_support import Project

from ironship.deploy.executor import apply_plan
from ironship.deploy.planner import make_plan
from ironship.manifest.load import load_manifest

BIG = 40 * 1024 * 1024  # the worker's large file: incompressible, so the zip is as large
CAP = BIG // 8  # peak memory allowed while packaging and uploading it


def test_a_large_worker_is_packaged_and_uploaded_without_holding_its_zip(
    project: Project, tmp_path: Path
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "main.py").write_text("print('big')\n")
    with open(root / "weights.bin", "wb") as f:
        for _ in range(BIG // (1 << 20)):
            f.write(os.urandom(1 << 20))
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n  big:\n    root: big\n    entry: main.py\n"
    )
    manifest = load_manifest(tmp_path / "ironship.yml")
    build = tmp_path / ".ironship" / "build" / "apply"
    with project.client() as client:
        tracemalloc.start()
        try:
            plan = make_plan(client, manifest)
            result = apply_plan(client, plan, build_dir=build)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        (code,) = [c for c in client.list_codes() if c.name == "big"]
    assert [r.outcome for r in result.results] == ["created"]
    zip_size = (build / "big.zip").stat().st_size
    assert zip_size > BIG
    assert code.latest_checksum  # the engine stored the whole package
    assert peak < CAP, f"peak {peak} bytes while packaging and uploading a {zip_size}-byte zip"
