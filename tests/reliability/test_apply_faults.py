"""apply through a fault-injecting proxy: honest results on every path, and convergence.

Each scenario runs two rounds (create, then update every worker) through
``tests/faultproxy.py`` in front of the real engine. After each faulty apply, a plan made
straight against the engine is the judge: a worker reported created/updated/unverified must
be unchanged there (it landed), a worker reported failed must still need its change (it did
not). Then one apply without faults converges, and a plan shows no changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import Project, Run, run_cli, write_tree
from faultproxy import Faults, faulty_proxy

from ironship.engine.server import EngineServer

NAMES = ("w0", "w1", "w2", "w3")
LANDED = {"created", "updated", "unverified"}

Cli = Callable[..., Run]


def _write_workers(root: Path, version: int) -> None:
    manifest = "version: 1\nworkers:\n" + "".join(
        f"  {n}:\n    root: {n}\n    entry: main.py\n" for n in NAMES
    )
    files = {f"{n}/main.py": f"print('{n} v{version}')\n" for n in NAMES}
    write_tree(root, {"ironship.yml": manifest, **files})


@pytest.fixture
def cli(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """`ironship ARGS` in this test's project; ``via=URL`` sends it through a proxy."""

    def run(*args: str, via: str | None = None) -> Run:
        env = {**project.env, **({"IRON_WORKER_CLOUD": via} if via else {})}
        return run_cli(list(args), capsys, monkeypatch, env=env, cwd=tmp_path)

    return run


def _planned(cli: Cli) -> dict[str, str]:
    res = cli("plan", "--json")
    assert res.code == 0, res.err
    return {w["name"]: w["action"] for w in json.loads(res.out)["workers"]}


def _faulty_apply(
    cli: Cli, engine: EngineServer, faults: Faults, *extra: str
) -> tuple[int, dict[str, Any]]:
    with faulty_proxy(engine.url, faults) as url:
        res = cli("apply", "-y", "--json", *extra, via=url)
    assert "internal error" not in res.err and "Traceback" not in res.err, res.err
    doc = json.loads(res.out)
    return res.code, {r["name"]: r for r in doc["results"]}


def _check_honest(cli: Cli, results: dict[str, Any]) -> None:
    """What apply said about each worker is what the server holds."""
    planned = _planned(cli)
    for name, r in results.items():
        if r["outcome"] in LANDED:
            assert planned[name] == "unchanged", (name, r, planned)
        else:
            assert r["outcome"] == "failed", (name, r)
            assert planned[name] in ("create", "update"), (name, r, planned)


def _converge(cli: Cli) -> None:
    res = cli("apply", "-y")
    assert res.code == 0, res.err
    assert set(_planned(cli).values()) == {"unchanged"}


def _rounds(
    cli: Cli,
    engine: EngineServer,
    tmp_path: Path,
    make: Callable[[], Faults],
    check: Callable[[int, dict[str, Any], Faults], None],
    *extra: str,
) -> None:
    for version in (1, 2):
        _write_workers(tmp_path, version)
        faults = make()
        code, results = _faulty_apply(cli, engine, faults, *extra)
        assert set(results) == set(NAMES)
        _check_honest(cli, results)
        check(code, results, faults)
        _converge(cli)


def test_a_failed_read_back_still_reports_every_upload_and_exits_5(
    cli: Cli, engine: EngineServer, tmp_path: Path
) -> None:
    """A 500 on the read-back list: every upload is `unverified` in the table, exit 5."""

    def check(code: int, results: dict[str, Any], faults: Faults) -> None:
        assert code == 5
        assert {r["outcome"] for r in results.values()} == {"unverified"}
        assert all("uploaded, not verified" in r["message"] for r in results.values())
        assert any(i.startswith("500") for i in faults.injected)

    _rounds(cli, engine, tmp_path, lambda: Faults(fail_read_back=True), check)


def test_the_text_table_comes_out_when_the_read_back_fails(
    cli: Cli, engine: EngineServer, tmp_path: Path
) -> None:
    """Without --json too, the result table lists each worker as uploaded, not verified."""
    _write_workers(tmp_path, 1)
    with faulty_proxy(engine.url, Faults(fail_read_back=True)) as url:
        res = cli("apply", "-y", via=url)
    assert res.code == 5
    for name in NAMES:
        line = next(x for x in res.out.splitlines() if x.strip().startswith(name))
        assert "unverified" in line and "uploaded, not verified" in line, res.out
    assert "could not be verified" in res.err


@pytest.mark.slow
def test_the_engine_dying_mid_apply_gives_each_worker_its_true_state(
    cli: Cli, engine: EngineServer, tmp_path: Path
) -> None:
    """After 3 of 4 uploads every request is cut: 3 unverified, 1 failed, exit 5.

    One round only: each cut GET is retried with backoff (~15 s) before it counts as failed.
    """
    _write_workers(tmp_path, 1)
    faults = Faults(die_after_uploads=3)
    code, results = _faulty_apply(cli, engine, faults, "--parallelism", "1")
    _check_honest(cli, results)
    assert code == 5
    outcomes = sorted(r["outcome"] for r in results.values())
    assert outcomes == ["failed", "unverified", "unverified", "unverified"], results
    _converge(cli)


def test_a_lost_answer_after_a_landed_upload_is_a_success(
    cli: Cli, engine: EngineServer, tmp_path: Path
) -> None:
    """The server stored w1's upload but its answer was lost: the read-back says it landed."""

    def check(code: int, results: dict[str, Any], faults: Faults) -> None:
        assert code == 0, results
        assert results["w1"]["outcome"] in ("created", "updated")
        assert "answer was lost" in results["w1"]["message"]
        assert any(i.startswith("drop answer to upload w1") for i in faults.injected)

    _rounds(cli, engine, tmp_path, lambda: Faults(drop_after_upload={"w1"}), check)


def test_an_upload_cut_mid_body_is_a_failure_and_the_others_land(
    cli: Cli, engine: EngineServer, tmp_path: Path
) -> None:
    """w2's upload is reset before the server saw it: w2 failed, the rest landed, exit 5."""

    def check(code: int, results: dict[str, Any], faults: Faults) -> None:
        assert code == 5
        assert results["w2"]["outcome"] == "failed"
        assert {results[n]["outcome"] for n in NAMES if n != "w2"} <= {"created", "updated"}

    _rounds(cli, engine, tmp_path, lambda: Faults(reset_uploads={"w2"}), check)


@pytest.mark.parametrize("status", [503, 429])
def test_bursts_of_try_again_later_are_retried(
    cli: Cli, engine: EngineServer, tmp_path: Path, status: int
) -> None:
    """Three 503/429 answers with Retry-After are waited out: every upload lands, exit 0."""

    def check(code: int, results: dict[str, Any], faults: Faults) -> None:
        assert code == 0, results
        assert len(faults.injected) == 3

    _rounds(cli, engine, tmp_path, lambda: Faults(burst=3, burst_status=status), check)


@pytest.mark.slow
def test_a_stalled_upload_is_waited_for(cli: Cli, engine: EngineServer, tmp_path: Path) -> None:
    """An upload held 10 s by the proxy still completes and is verified, exit 0."""

    def check(code: int, results: dict[str, Any], faults: Faults) -> None:
        assert code == 0, results
        assert faults.injected == ["stall upload w3"]

    _write_workers(tmp_path, 1)
    faults = Faults(stall_uploads={"w3"})
    code, results = _faulty_apply(cli, engine, faults)
    _check_honest(cli, results)
    check(code, results, faults)
    _converge(cli)
