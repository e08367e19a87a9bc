"""The engine's data folder is private to its user, and the engine says how tasks are run."""

from __future__ import annotations

import stat
from pathlib import Path

from ironship.engine.server import EngineServer


def test_data_folder_is_private(tmp_path: Path) -> None:
    """A started engine's data folder is mode 0700, even if it existed with wider modes."""
    data = tmp_path / "engine"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    with EngineServer(data, poll_interval=0.02) as engine:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert engine.sandbox.describe()  # probed before the engine read any token
