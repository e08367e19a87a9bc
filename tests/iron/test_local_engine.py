"""The local engine of one command (iron/target.py ``LocalEngine``): a plan's reads come from
the engine's state without starting it; anything else starts it, once, in this process."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

from ironship.engine.local import running_server
from ironship.engine.server import EngineServer
from ironship.iron.client import Client
from ironship.iron.target import LocalEngine, local_engine


def package(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("main.py", f"print({name!r})\n")
    return path


def deployed(tmp_path: Path, names: list[str]) -> Path:
    """An engine folder holding codes ``names`` (and a schedule), with no engine running."""
    data = tmp_path / "engine"
    with EngineServer(data) as server:
        client = Client(server.url, server.project_id, server.token)
        for name in names:
            data_ = {"name": name, "runtime": "python", "file_name": "main.py"}
            client.upload_code(data_, package(tmp_path, name))
        client.create_schedules([{"code_name": names[0], "payload": "{}", "run_every": 3600}])
        client.close()
    return data


def listed_by_the_server(data: Path) -> tuple[list[object], list[object]]:
    with EngineServer(data) as server:
        client = Client(server.url, server.project_id, server.token)
        try:
            return list(client.list_codes()), list(client.list_schedules())
        finally:
            client.close()


def test_reads_match_the_http_answers_without_starting(tmp_path: Path) -> None:
    """Codes (past one page of 100) and schedules read from the state equal what the
    engine's HTTP routes return; the engine never starts for them."""
    data = deployed(tmp_path, [f"w{i:03d}" for i in range(105)])
    codes, schedules = listed_by_the_server(data)
    engine = LocalEngine(data)
    try:
        assert engine.list_codes() == codes
        assert engine.list_schedules() == schedules
        assert "python" in engine.list_runtimes()
        assert not engine.started
        assert running_server(data) is None
    finally:
        engine.close()


def test_an_upload_starts_the_engine_and_later_reads_see_it(tmp_path: Path) -> None:
    """The first call that needs the server starts it; from then on the lists come from it."""
    data = deployed(tmp_path, ["alpha"])
    engine = LocalEngine(data)
    try:
        assert [c.name for c in engine.list_codes()] == ["alpha"]
        as_client: Client = engine  # type: ignore[assignment]
        spec = {"name": "beta", "runtime": "python", "file_name": "main.py"}
        as_client.upload_code(spec, package(tmp_path, "beta"))
        assert engine.started
        assert running_server(data) is not None
        assert sorted(c.name for c in engine.list_codes()) == ["alpha", "beta"]
    finally:
        engine.close()
    assert running_server(data) is None  # stopped with the command
    with EngineServer(data):  # and its lock released
        pass


def test_a_new_folder_gets_a_started_engine(tmp_path: Path) -> None:
    """With no state yet, the engine starts at once and creates its project and token."""
    with local_engine(tmp_path / "fresh") as target:
        assert target.client.list_codes() == []
        assert target.in_process and target.secret_key
        assert (tmp_path / "fresh" / "token").is_file()


def test_reads_racing_the_engine_start_never_see_a_closed_state(tmp_path: Path) -> None:
    """Apply's threads list codes while another starts the engine (which closes the state it
    read from): every list answers, from the state or from the server, never 'closed
    database'."""
    data = deployed(tmp_path, [f"w{i:03d}" for i in range(150)])
    engine = LocalEngine(data)
    errors: list[BaseException] = []
    counts: list[int] = []

    def lister() -> None:
        try:
            for _ in range(5):
                counts.append(len(engine.list_codes()))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=lister) for _ in range(4)]
        for thread in threads:
            thread.start()
        assert engine.host  # starts the engine while the listers read
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert counts == [150] * 20
        assert engine.started
    finally:
        engine.close()
