"""Tokens are stored hashed: the database holds no usable token, the data folder's own token is
in DATA/token (0600), and a database made before hashing is migrated when it is opened."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from engine_helpers import Api

from ironship.engine.local import create_project, project_credentials
from ironship.engine.server import EngineServer
from ironship.engine.state.projects import token_hash

# The tables a data folder had before tokens were hashed (only those this test needs).
_OLD_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE projects(id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE tokens(token TEXT NOT NULL, project_id TEXT NOT NULL, PRIMARY KEY(token, project_id));
"""
OLD_PID, OLD_TOKEN = "5f0000000000000000000001", "0123456789abcdef0123456789abcdef"
OTHER_PID, OTHER_TOKEN = "5f0000000000000000000002", "fedcba9876543210fedcba9876543210"


def _old_data_folder(data: Path) -> None:
    data.mkdir(mode=0o700)
    conn = sqlite3.connect(data / "engine.db")
    conn.executescript(_OLD_SCHEMA)
    conn.execute("INSERT INTO projects VALUES (?, 'local', 0)", (OLD_PID,))
    conn.execute("INSERT INTO projects VALUES (?, 'other', 0)", (OTHER_PID,))
    conn.execute("INSERT INTO tokens VALUES (?, ?)", (OLD_TOKEN, OLD_PID))
    conn.execute("INSERT INTO tokens VALUES (?, ?)", (OTHER_TOKEN, OTHER_PID))
    conn.execute("INSERT INTO meta VALUES ('default_project', ?)", (OLD_PID,))
    conn.commit()
    conn.close()


def _stored(data: Path) -> tuple[set[str], bytes]:
    """The token table's columns, and every byte of the database files."""
    conn = sqlite3.connect(data / "engine.db")
    try:
        columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(tokens)")}
    finally:
        conn.close()
    raw = b"".join(p.read_bytes() for p in data.glob("engine.db*"))
    return columns, raw


def test_database_holds_only_hashes(data_dir: Path) -> None:
    """Neither the default token nor a created project's token is in engine.db (nor its WAL);
    the default token is in DATA/token, mode 0600; both tokens work over HTTP."""
    with EngineServer(data_dir, poll_interval=0.02) as eng:
        pid, token = create_project(data_dir, "second")
        columns, raw = _stored(data_dir)
        assert columns == {"token_hash", "project_id"}
        for secret in (eng.token, token):
            assert secret.encode() not in raw
            assert token_hash(secret).encode() in raw
        token_file = data_dir / "token"
        assert token_file.read_text().strip() == eng.token
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert project_credentials(data_dir) == (eng.project_id, eng.token)
        Api(eng.url, eng.project_id, eng.token).ok("GET", "/codes")
        Api(eng.url, pid, token).ok("GET", "/codes")
        assert Api(eng.url, pid, "x" + token[1:]).call("GET", "/codes").status_code == 401


def test_plaintext_tokens_are_migrated(data_dir: Path) -> None:
    """A database with plaintext tokens is rewritten to hashes on open (the default token
    saved to DATA/token first); every old token keeps working; opening again changes nothing."""
    _old_data_folder(data_dir)
    for _ in range(2):  # idempotent
        with EngineServer(data_dir, poll_interval=0.02) as eng:
            assert (eng.project_id, eng.token) == (OLD_PID, OLD_TOKEN)
            columns, raw = _stored(data_dir)
            assert columns == {"token_hash", "project_id"}
            assert OLD_TOKEN.encode() not in raw and OTHER_TOKEN.encode() not in raw
            Api(eng.url, OLD_PID, OLD_TOKEN).ok("GET", "/codes")
            Api(eng.url, OTHER_PID, OTHER_TOKEN).ok("GET", "/codes")
            other = Api(eng.url, OLD_PID, OTHER_TOKEN).call("GET", "/codes")
            assert other.status_code == 404  # another project's token: not found
    assert (data_dir / "token").read_text().strip() == OLD_TOKEN
    assert stat.S_IMODE((data_dir / "token").stat().st_mode) == 0o600


def test_lost_token_file_gets_a_new_token(data_dir: Path) -> None:
    """Without DATA/token (or with a token the database does not know) the data folder's
    project gets a new token; the project and its codes stay."""
    pid, token = project_credentials(data_dir)
    (data_dir / "token").unlink()
    pid2, token2 = project_credentials(data_dir)
    assert pid2 == pid and token2 != token
    (data_dir / "token").write_text("not-a-known-token\n")
    pid3, token3 = project_credentials(data_dir)
    assert pid3 == pid and token3 not in (token, token2, "not-a-known-token")
    assert project_credentials(data_dir) == (pid3, token3)
