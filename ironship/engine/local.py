"""What another ironship process needs to know about an engine's data folder, without
starting one or importing its HTTP server (uvicorn, Starlette): whether an engine runs on it
now (DATA/server.json), and the folder's project credentials."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ironship.engine.state.db import Db
from ironship.engine.state.folders import Folders
from ironship.engine.state.projects import ProjectRepo

# Written by a running engine (``EngineServer.start``), removed when it stops.
SERVER_JSON = "server.json"


def running_server(data_dir: Path) -> dict[str, Any] | None:
    """DATA/server.json of an engine that is running now, or None."""
    try:
        info = json.loads((data_dir / SERVER_JSON).read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None


def create_project(data_dir: Path, name: str = "project") -> tuple[str, str]:
    """Add a project with its own token to ``data_dir`` (works while an engine runs on it)."""
    folders = Folders(data_dir)
    db = Db(folders.db_file)
    try:
        return ProjectRepo(db, folders.token_file).create(name)
    finally:
        db.close()


def project_credentials(data_dir: Path) -> tuple[str, str]:
    """The data folder's own project id and token (created on first use; the token is read
    from DATA/token, the database holds only its hash)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    folders = Folders(data_dir)
    db = Db(folders.db_file)
    try:
        return ProjectRepo(db, folders.token_file).default()
    finally:
        db.close()
