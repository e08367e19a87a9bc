"""What differs between two deployed revisions of a worker, or a revision and the working tree;
and whether two environments run the same package with the same settings.

Files are compared by the zips' indexes (path -> exec bit and content sha256,
``packaging.archive.files_of_zip``), settings with the plan's own comparison
(``deploy.diff.setting_changes``): env vars and config are named, never shown. Each side is
a ``Side``: a revision (as a Code value, ``history.code_at``) or the working tree's
``LocalWorker``. Two environments are compared from their code lists alone (one call each):
the package by ``latest_checksum`` and ``IRONSHIP_FILES``, the settings as deployed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ironship.deploy.diff import diff_files, local_index, setting_changes
from ironship.deploy.history import (
    Commits,
    RevisionSource,
    code_at,
    find_code,
    pick_revision,
    revisions_of,
)
from ironship.deploy.models import FileChanges, LocalWorker, SettingChange
from ironship.deploy.settings import code_settings
from ironship.deploy.stamps import FILES_KEY, SMOKE_KEY, Provenance, read_stamps
from ironship.errors import IronshipError
from ironship.iron.types import Code
from ironship.packaging.archive import files_of_zip

FileIndex = dict[str, tuple[bool, str]]


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a revision, or the working tree (``rev`` None)."""

    rev: int | None
    stamps: Provenance
    checksum: str | None = None

    @property
    def label(self) -> str:
        if self.rev is None:
            return "working tree"
        commit = self.stamps.short_sha or ("unknown" if self.stamps.by_ironship else "-")
        return f"rev {self.rev} ({commit})"


@dataclass(frozen=True)
class RevisionDiff:
    worker: str
    before: Side
    after: Side
    files: FileChanges  # known=False when a side has no zip to list
    settings: tuple[SettingChange, ...]

    @property
    def empty(self) -> bool:
        return self.files.known and self.files.empty and not self.settings


def _index_of(source: RevisionSource, code: Code, scratch: Path) -> FileIndex | None:
    if not code.latest_checksum:
        return None  # no zip in this revision (an image, or never uploaded with one)
    dest = scratch / f"{code.name}.r{code.rev}.zip"
    return files_of_zip(source.download_code(code.id, dest, revision=code.rev))


def _smoke_change(before: str | None, after: str | None) -> tuple[SettingChange, ...]:
    if before == after:
        return ()
    return (SettingChange("smoke tests", None, None, sensitive=True),)


def diff_revisions(
    source: RevisionSource, before: Code, after: Code | LocalWorker, scratch: Path
) -> RevisionDiff:
    """Compare revision ``before`` with revision ``after`` or the working tree's ``after``."""
    old_index = _index_of(source, before, scratch)
    if isinstance(after, LocalWorker):
        new_index: FileIndex | None = local_index(after)
        desired = after.settings
        after_side = Side(None, read_stamps({}))
        after_smoke = after.smoke_digest
    else:
        new_index = _index_of(source, after, scratch)
        desired = code_settings(after)
        after_side = Side(after.rev, read_stamps(after.env_vars), after.latest_checksum)
        after_smoke = after.env_vars.get(SMOKE_KEY)
    files = (
        diff_files(new_index, old_index)
        if old_index is not None and new_index is not None
        else FileChanges(known=False)
    )
    settings = setting_changes(desired, before)
    settings += _smoke_change(before.env_vars.get(SMOKE_KEY), after_smoke)
    return RevisionDiff(
        before.name,
        Side(before.rev, read_stamps(before.env_vars), before.latest_checksum),
        after_side,
        files,
        settings,
    )


def compare(
    source: RevisionSource,
    name: str,
    rev_a: str,
    rev_b: str | None,
    commits: Commits,
    *,
    local: LocalWorker | None,
    scratch: Path,
) -> RevisionDiff:
    """``ironship diff``: revision ``rev_a`` against ``rev_b``, or the working tree's ``local``
    when ``rev_b`` is None. Revisions are named as ``history.pick_revision`` reads them."""
    code = find_code(source, name)
    revisions = revisions_of(source, code)
    before = code_at(code, pick_revision(name, revisions, rev_a, commits, label="REV_A"))
    after: Code | LocalWorker | None = local
    if rev_b is not None:
        after = code_at(code, pick_revision(name, revisions, rev_b, commits, label="REV_B"))
    if after is None:
        raise IronshipError(
            f"no worker {name!r} in a manifest here to compare revision {before.rev} with",
            hint="pass REV_B to compare two revisions, or -f FILE for the manifest",
        )
    return diff_revisions(source, before, after, scratch)


# -- two environments -------------------------------------------------------------------------

PackageMatch = Literal["same", "same-files", "different"]


@dataclass(frozen=True)
class Deployed:
    """What one environment runs for a worker: its latest code (None: not deployed there)."""

    environment: str
    code: Code | None

    @property
    def stamps(self) -> Provenance:
        return read_stamps(self.code.env_vars if self.code else {})

    @property
    def commit(self) -> str:
        """``a1b2c3d``, or what stands in for it when the stamps do not name a commit."""
        s = self.stamps
        return s.short_sha or ("no commit" if s.by_ironship else "not uploaded by ironship")

    @property
    def label(self) -> str:
        """``staging rev 4 = a1b2c3d`` (``staging: not deployed``)."""
        if self.code is None:
            return f"{self.environment}: not deployed"
        return f"{self.environment} rev {self.code.rev} = {self.commit}"


@dataclass(frozen=True)
class EnvironmentDiff:
    """One worker in two environments: the same package or not, and the settings that
    differ (env and config by name only). ``package`` is None when a side is not deployed."""

    worker: str
    before: Deployed
    after: Deployed
    package: PackageMatch | None
    settings: tuple[SettingChange, ...] = ()

    @property
    def same(self) -> bool:
        return self.package == "same" and not self.settings


def package_match(before: Code, after: Code) -> PackageMatch:
    """The same bytes (``latest_checksum``), the same files in other bytes (``IRONSHIP_FILES``),
    or different packages."""
    if before.latest_checksum and before.latest_checksum == after.latest_checksum:
        return "same"
    files = before.env_vars.get(FILES_KEY)
    if files is not None and files == after.env_vars.get(FILES_KEY):
        return "same-files"
    return "different"


def deployed_settings(code: Code) -> dict[str, Any]:
    """A code's settings as the upload ``data`` that would set them (stamps included: the
    comparison drops them); an unlimited concurrency (``-1``) as unset."""
    data = code_settings(code)
    if data.get("max_concurrency") == -1:
        del data["max_concurrency"]
    return data


def environment_diff(worker: str, before: Deployed, after: Deployed) -> EnvironmentDiff:
    """Compare what two environments run for ``worker`` (pure)."""
    if before.code is None or after.code is None:
        return EnvironmentDiff(worker, before, after, None)
    settings = setting_changes(deployed_settings(after.code), before.code)
    settings += _smoke_change(
        before.code.env_vars.get(SMOKE_KEY), after.code.env_vars.get(SMOKE_KEY)
    )
    return EnvironmentDiff(worker, before, after, package_match(before.code, after.code), settings)


def compare_environments(
    workers: Sequence[str],
    before: tuple[str, Sequence[Code]],
    after: tuple[str, Sequence[Code]],
) -> tuple[EnvironmentDiff, ...]:
    """``ironship diff --env A --env B``: each of ``workers`` as environment A's code list and
    environment B's (name, codes) have it."""
    a = {c.name: c for c in before[1]}
    b = {c.name: c for c in after[1]}
    return tuple(
        environment_diff(w, Deployed(before[0], a.get(w)), Deployed(after[0], b.get(w)))
        for w in workers
    )
