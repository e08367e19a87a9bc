"""The engine's data folder on disk: where the database, package blobs and task logs live.

Layout of DATA:
  engine.db      projects, token hashes, codes, revisions, tasks, schedules (see ``db``)
  token          the default project's token, mode 0600 (see ``projects``)
  blobs/<sha256>.zip   one file per distinct package, written via tmp/ + rename after checks
  logs/<task_id>.log   combined stdout+stderr of a task
  tmp/           uploads in flight; emptied on start (an interrupted upload leaves nothing)
  work/          per-task directories while tasks run
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

DB_FILE = "engine.db"
TOKEN_FILE = "token"


@dataclass(frozen=True)
class Blob:
    """A stored package: its file name under blobs/, MD5 (the wire checksum) and size."""

    sha256: str
    md5: str
    size: int


@dataclass(frozen=True)
class Folders:
    """The paths under one data folder; ``create`` makes the folders that must exist."""

    root: Path

    @classmethod
    def create(cls, root: Path) -> Folders:
        folders = cls(root)
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)  # tokens and every project's code live here
        for d in (folders.blobs_dir, folders.logs_dir, folders.tmp_dir, folders.work_dir):
            d.mkdir(parents=True, exist_ok=True)
        return folders

    @property
    def db_file(self) -> Path:
        return self.root / DB_FILE

    @property
    def token_file(self) -> Path:
        return self.root / TOKEN_FILE

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    def blob_path(self, sha256: str) -> Path:
        return self.blobs_dir / f"{sha256}.zip"

    def log_path(self, task_id: str) -> Path:
        return self.logs_dir / f"{task_id}.log"

    def clean_leftovers(self, used_blobs: Collection[str]) -> None:
        """Empty tmp/ and work/, and remove blobs not in ``used_blobs`` (no revision has them)."""
        for d in (self.tmp_dir, self.work_dir):
            for p in d.iterdir():
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        for p in self.blobs_dir.glob("*.zip"):
            if p.stem not in used_blobs:
                p.unlink(missing_ok=True)
