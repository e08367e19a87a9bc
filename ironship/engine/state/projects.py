"""Projects and their tokens: who may use which project.

A token names the projects it may use. A project another token owns is simply not found for
this one, never "forbidden": a caller cannot even learn that another project's ids exist.

The database keeps only the SHA-256 of each token (``token_hash``): a copy of ``engine.db``
gives no usable token. A token is 128 random bits, so an unsalted hash cannot be reversed by
guessing, and a lookup by hash leaks nothing through timing about the stored tokens. The data
folder's own project's token, which the CLI needs to talk to its engine, is kept in
``DATA/token`` (mode 0600, in the 0700 data folder); ``create`` returns a new project's token
once and keeps no copy. A database made before hashing (a ``tokens.token`` column holding
plaintext) is migrated when it is opened, in one transaction (``migrate_plaintext``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
from pathlib import Path

from ironship.engine.state.db import Db
from ironship.engine.state.model import NotFound, Row, new_id

DEFAULT_PROJECT_NAME = "local"


def token_hash(token: str) -> str:
    """What the database stores for ``token``: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def write_token_file(path: Path, token: str) -> None:
    """``path`` holds ``token`` (mode 0600 from the start), replaced atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (token + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_token_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def _columns(c: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in c.execute(f"PRAGMA table_info({table})")}


def migrate_plaintext(db: Db, token_file: Path) -> int:
    """Replace a pre-hashing ``tokens`` table (plaintext ``token`` column) by hashes, first
    saving the default project's token to ``token_file``; returns how many tokens were
    hashed (0 when there was nothing to do: the migration is idempotent). Afterwards the
    database is rebuilt (VACUUM) and its WAL emptied, so no freed page keeps a plaintext."""
    if "token" not in {str(r["name"]) for r in db.all("PRAGMA table_info(tokens)")}:
        return 0
    hashed = _hash_tokens(db, token_file)
    db.scrub()
    return hashed


def _hash_tokens(db: Db, token_file: Path) -> int:
    with db.tx() as c:
        if "token" not in _columns(c, "tokens"):
            return 0  # another process migrated it meanwhile
        rows = c.execute("SELECT token, project_id FROM tokens").fetchall()
        meta = c.execute("SELECT value FROM meta WHERE key='default_project'").fetchone()
        if meta is not None:
            own = [str(t) for t, pid in rows if pid == meta[0]]
            if own:
                # Written before the commit: a crash in between leaves the plaintext table,
                # and the next open writes the same token again.
                write_token_file(token_file, own[0])
        c.execute("DROP TABLE IF EXISTS tokens_hashed")
        c.execute(
            "CREATE TABLE tokens_hashed(token_hash TEXT NOT NULL, project_id TEXT NOT NULL, "
            "PRIMARY KEY(token_hash, project_id))"
        )
        c.executemany(
            "INSERT OR IGNORE INTO tokens_hashed VALUES (?, ?)",
            [(token_hash(str(t)), str(pid)) for t, pid in rows],
        )
        c.execute("DROP TABLE tokens")
        c.execute("ALTER TABLE tokens_hashed RENAME TO tokens")
        return len(rows)


class ProjectRepo:
    """Projects, token hashes and the data folder's own default project (whose token is
    kept in ``token_file``)."""

    def __init__(self, db: Db, token_file: Path | None = None) -> None:
        self._db = db
        self._token_file = token_file or db.path.with_name("token")
        migrate_plaintext(db, self._token_file)

    def create(self, name: str) -> tuple[str, str]:
        """A new project and a token scoped to it (returned once: only its hash is kept)."""
        pid, token = new_id(), secrets.token_hex(16)
        with self._db.tx() as c:
            c.execute("INSERT INTO projects VALUES (?, ?, ?)", (pid, name, self._db.now()))
            c.execute("INSERT INTO tokens VALUES (?, ?)", (token_hash(token), pid))
        return pid, token

    def default(self) -> tuple[str, str]:
        """The data folder's own project and token, created on first use. When the token
        file is gone or does not hold a token of that project, a new token is issued."""
        with self._db.tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key='default_project'").fetchone()
            if row is None:
                pid = new_id()
                c.execute(
                    "INSERT INTO projects VALUES (?, ?, ?)",
                    (pid, DEFAULT_PROJECT_NAME, self._db.now()),
                )
                c.execute("INSERT INTO meta VALUES ('default_project', ?)", (pid,))
            else:
                pid = str(row[0])
                token = read_token_file(self._token_file)
                if token is not None:
                    wanted = token_hash(token)
                    stored = c.execute("SELECT token_hash FROM tokens WHERE project_id=?", (pid,))
                    if any(hmac.compare_digest(wanted, str(h)) for (h,) in stored.fetchall()):
                        return pid, token
            token = secrets.token_hex(16)
            c.execute("INSERT INTO tokens VALUES (?, ?)", (token_hash(token), pid))
            # Before the commit: a token in the database that no file holds would be lost.
            write_token_file(self._token_file, token)
            return pid, token

    def token_known(self, token: str) -> bool:
        found = self._db.one("SELECT 1 AS x FROM tokens WHERE token_hash=?", (token_hash(token),))
        return found is not None

    def for_token(self, token: str, pid: str) -> Row:
        """The project ``pid`` if ``token`` may use it; NotFound otherwise."""
        row = self._db.one(
            "SELECT p.* FROM projects p JOIN tokens t ON t.project_id = p.id "
            "WHERE t.token_hash=? AND p.id=?",
            (token_hash(token), pid),
        )
        if row is None:
            raise NotFound("Project not found")
        return row

    def get(self, pid: str) -> Row:
        row = self._db.one("SELECT * FROM projects WHERE id=?", (pid,))
        if row is None:
            raise NotFound("Project not found")
        return row
