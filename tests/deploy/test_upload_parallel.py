"""apply uploads several workers at once, and waits out a 429's Retry-After while the other
uploads carry on (docs/ironworker-api.md §1 (Transport): the hosted service answers 429 when
requests come too fast). Through tests/faultproxy.py in front of the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Project, run_cli, write_tree
from faultproxy import Faults, faulty_proxy

NAMES = tuple(f"w{i}" for i in range(8))
RETRY_AFTER = 1


def _workers(root: Path) -> None:
    manifest = "version: 1\nworkers:\n" + "".join(
        f"  {n}:\n    root: {n}\n    entry: main.py\n" for n in NAMES
    )
    write_tree(
        root, {"ironship.yml": manifest, **{f"{n}/main.py": f"print('{n}')\n" for n in NAMES}}
    )


def test_throttled_uploads_wait_out_retry_after_while_the_others_go_on(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first 3 uploads get 429 + Retry-After: 1. Every worker still lands, each throttled
    upload is sent again no sooner than Retry-After says, and meanwhile other workers'
    uploads went through (they did not wait in line behind the throttled ones)."""
    _workers(tmp_path)
    faults = Faults(throttle_uploads=3, retry_after=RETRY_AFTER, delay=0.05)
    with faulty_proxy(project.url, faults) as url:
        env = {**project.env, "IRON_WORKER_CLOUD": url}
        res = run_cli(
            ["apply", "-y", "--json", "--parallelism", "8"], capsys, monkeypatch, env, tmp_path
        )
    assert res.code == 0, res.err
    outcomes = {r["name"]: r["outcome"] for r in json.loads(res.out)["results"]}
    assert outcomes == dict.fromkeys(NAMES, "created")

    throttled = [(t, name) for t, name, status in faults.uploads if status == 429]
    assert len(throttled) == 3
    for when, name in throttled:
        later = [t for t, n, status in faults.uploads if n == name and status != 429 and t > when]
        assert later, f"{name} was not uploaded again after its 429"
        # A lower bound on a wait the server asked for, not a speed threshold.
        assert later[0] - when >= RETRY_AFTER - 0.05, (name, later[0] - when)
    first_429 = min(t for t, _ in throttled)
    last_retry = max(
        t for t, n, status in faults.uploads if status != 429 and n in {n for _, n in throttled}
    )
    others = [
        t
        for t, n, status in faults.uploads
        if status != 429 and n not in {n for _, n in throttled} and first_429 < t < last_retry
    ]
    assert others, faults.uploads
    assert sorted(n for _, n, status in faults.uploads if status != 429) == sorted(NAMES)
