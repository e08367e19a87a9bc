"""GET /2/engine (an ironship extension): the sandbox kind and reason, containment and limits,
behind the same auth as every endpoint, and listed in /openapi.json."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from engine_helpers import Api

from ironship.engine.run import sandbox
from ironship.engine.server import EngineServer


def test_engine_info_says_how_tasks_are_contained(engine: EngineServer, api: Api) -> None:
    """The answer matches the engine's own sandbox probe and caps."""
    r = requests.get(f"{engine.url}/2/engine", headers={"Authorization": f"OAuth {api.token}"})
    assert r.status_code == 200, r.text
    info = r.json()
    box = sandbox.probe()
    assert info["engine"] == "ironship"
    assert info["sandbox"] == {
        "kind": box.kind,
        "reason": box.reason or None,
        "description": box.describe(),
    }
    assert info["containment"]["task_host"] is True
    assert info["containment"]["engine_non_dumpable"] is True
    limits = info["limits"]
    assert limits["task_memory_mb"] == (engine.task_memory or None)
    assert limits["task_log_mb"] == 100 and limits["task_disk_mb"] == 1024
    assert limits["package_bytes"] == engine.limits.max_zip_bytes
    assert engine.token not in r.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "OAuth wrong"}])
def test_engine_info_needs_a_token(engine: EngineServer, headers: dict[str, str]) -> None:
    r = requests.get(f"{engine.url}/2/engine", headers=headers)
    assert r.status_code == 401 and "msg" in r.json()


def test_engine_info_without_sandbox_gives_the_reason(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IRONSHIP_SANDBOX=none: kind "none" and the reason; the memory cap as configured."""
    monkeypatch.setenv(sandbox.ENV_SWITCH, "none")
    sandbox.probe.cache_clear()
    try:
        with EngineServer(data_dir, poll_interval=0.02, task_memory=0) as eng:
            api = Api(eng.url, eng.project_id, eng.token)
            r = requests.get(f"{eng.url}/2/engine", headers={"Authorization": f"OAuth {api.token}"})
            info = r.json()
            assert info["sandbox"]["kind"] == "none"
            assert info["sandbox"]["reason"] == f"disabled by {sandbox.ENV_SWITCH}=none"
            assert info["limits"]["task_memory_mb"] is None
    finally:
        sandbox.probe.cache_clear()


def test_openapi_lists_engine_info(engine: EngineServer) -> None:
    doc = requests.get(f"{engine.url}/openapi.json").json()
    assert doc["paths"]["/2/engine"]["get"]["x-ironship-extension"] is True
