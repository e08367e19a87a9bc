"""A worker's deployed revisions: list them, pick one, and upload one again (rollback).

The server keeps every revision of a code package, and ``rev`` only goes up
(docs/ironworker-api.md §2 (Code packages)). Each revision ironship uploaded carries its
stamps (``deploy/stamps.py``): the digests, the inputs' commit, dirty or not, the ref, who
and from which CI run. This module reads them back:

- ``load_history``: the revisions newest first, with the commit's subject when the local
  repository has the commit, and which ones match the working tree's digest;
- ``pick_revision``: ``previous``, a revision number, or a commit SHA (prefix of 7 or more)
  to the revision it names, or a refusal listing what exists;
- ``restore_revision``: the one way a revision is put back, shared by ``ironship rollback``
  and ``apply --rollback-on-failure`` (``executor.rollback``): download that revision's zip,
  upload it again with that revision's settings and stamps as a new revision, and check the
  server's checksum is that revision's again;
- ``task_revision``: the revision and commit that ran a task.

Git is reached through the ``Commits`` port (``GitCommits`` in production), so unit tests
pass plain functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ironship.deploy.ports import CodeSink, CodeSource, CodeStore
from ironship.deploy.settings import code_settings
from ironship.deploy.stamps import Provenance, read_stamps
from ironship.errors import ApiError, IronshipError
from ironship.iron.types import Code, Revision, Task
from ironship.packaging.gitinfo import commit_subject, inputs_commit, is_hex_sha, resolve_commit

PREVIOUS = "previous"
LATEST = "latest"
SHA_MIN = 7  # a commit named by fewer hex digits is read as a revision number
LISTED = 10  # revisions listed when a wanted one does not exist


class RevisionSource(CodeSource, Protocol):
    """Reads codes and their revisions: ``GET codes/{id}/revisions``."""

    def list_revisions(self, code_id: str) -> list[Revision]: ...


class RevisionStore(RevisionSource, CodeSink, Protocol):
    """Reads revisions and uploads one again: what ``rollback`` needs."""


class Commits(Protocol):
    """What the local git repository knows about commits (None: it does not know)."""

    def subject(self, sha: str) -> str | None: ...

    def resolve(self, prefix: str) -> str | None: ...

    def inputs_at(self, commit: str) -> str | None: ...


@dataclass(frozen=True)
class GitCommits:
    """``Commits`` answered by the repository holding ``directory``.

    ``inputs`` (a worker's root and the manifest) turn any commit into the inputs' commit of
    that worker as of it: the commit its stamps would carry.
    """

    directory: Path
    inputs: tuple[Path, ...] = ()

    def subject(self, sha: str) -> str | None:
        return commit_subject(self.directory, sha)

    def resolve(self, prefix: str) -> str | None:
        return resolve_commit(self.directory, prefix)

    def inputs_at(self, commit: str) -> str | None:
        return inputs_commit(self.directory, self.inputs, at=commit) if self.inputs else None


class NoCommits:
    """No repository: no subjects, nothing resolves."""

    def subject(self, sha: str) -> str | None:
        return None

    def resolve(self, prefix: str) -> str | None:
        return None

    def inputs_at(self, commit: str) -> str | None:
        return None


@dataclass(frozen=True)
class Entry:
    """One revision as ``history`` shows it."""

    rev: int
    created_at: str | None
    checksum: str | None
    stamps: Provenance
    subject: str | None = None  # the commit's subject, when the local repository has it
    current: bool = False  # its digest is the working tree's


@dataclass(frozen=True)
class History:
    code: Code
    entries: tuple[Entry, ...]  # newest first
    total: int  # revisions on the server (entries may be limited)


def find_code(source: CodeSource, name: str) -> Code:
    """The code called ``name``; a refusal naming the ones that exist."""
    codes = source.list_codes()
    found = next((c for c in codes if c.name == name), None)
    if found is None:
        names = ", ".join(sorted(c.name for c in codes)) or "none"
        raise IronshipError(
            f"no worker named {name!r} on the server", hint=f"workers deployed: {names}"
        )
    return found


def revisions_of(source: RevisionSource, code: Code) -> tuple[Revision, ...]:
    """Every revision of ``code``, newest first (whatever order the server lists them in)."""
    return tuple(sorted(source.list_revisions(code.id), key=lambda r: r.rev, reverse=True))


def code_at(code: Code, revision: Revision) -> Code:
    """Revision ``revision`` of ``code`` as a Code value: its settings, stamps and checksum."""
    return Code(
        id=code.id,
        name=code.name,
        rev=revision.rev,
        latest_checksum=revision.checksum,
        runtime=revision.runtime,
        file_name=revision.file_name,
        max_concurrency=revision.max_concurrency,
        retries=revision.retries,
        retries_delay=revision.retries_delay,
        priority=revision.priority,
        config=revision.config,
        env_vars=dict(revision.env_vars),
        latest_change=revision.created_at,
        created_at=code.created_at,
    )


def load_history(
    source: RevisionSource,
    name: str,
    commits: Commits,
    *,
    current_digest: str | None = None,
    limit: int | None = None,
) -> History:
    """The worker's revisions newest first (at most ``limit``), each with its provenance."""
    code = find_code(source, name)
    revisions = revisions_of(source, code)
    shown = revisions[:limit] if limit is not None else revisions
    subjects: dict[str, str | None] = {}
    entries = []
    for r in shown:
        stamps = read_stamps(r.env_vars)
        sha = stamps.git_sha
        if sha and sha not in subjects:
            subjects[sha] = commits.subject(sha)
        entries.append(
            Entry(
                r.rev,
                r.created_at,
                r.checksum,
                stamps,
                subjects.get(sha) if sha else None,
                current=current_digest is not None and stamps.digest == current_digest,
            )
        )
    return History(code, tuple(entries), len(revisions))


def describe(revision: Revision) -> str:
    """``7 (a1b2c3d)``: a revision number with its commit, ``-`` when ironship did not upload it."""
    stamps = read_stamps(revision.env_vars)
    commit = stamps.short_sha or ("unknown" if stamps.by_ironship else "-")
    return f"{revision.rev} ({commit})"


def _listing(revisions: Sequence[Revision]) -> str:
    shown = ", ".join(describe(r) for r in revisions[:LISTED])
    more = len(revisions) - LISTED
    return f"revisions (newest first): {shown}" + (f", and {more} older" if more > 0 else "")


def _unknown(message: str, revisions: Sequence[Revision]) -> IronshipError:
    return IronshipError(message, hint=_listing(revisions))


def _by_commit(
    label: str, name: str, prefix: str, revisions: Sequence[Revision], commits: Commits
) -> Revision:
    def stamped(wanted: str, exact: bool) -> list[Revision]:
        shas = [(r, read_stamps(r.env_vars).git_sha or "") for r in revisions]
        return [r for r, s in shas if (s == wanted if exact else s.lower().startswith(wanted))]

    hits = stamped(prefix.lower(), exact=False)
    distinct = {read_stamps(r.env_vars).git_sha for r in hits}
    if len(distinct) > 1:
        raise IronshipError(
            f"{label} {prefix}: names more than one commit of {name}",
            hint="give more digits: " + ", ".join(sorted(s or "" for s in distinct)),
        )
    if hits:
        return hits[0]
    full = commits.resolve(prefix)
    if full is None:
        raise _unknown(
            f"{label} {prefix}: no revision of {name} was uploaded from that commit, and the "
            "local repository has no such commit",
            revisions,
        )
    inputs = commits.inputs_at(full)
    hits = stamped(inputs, exact=True) if inputs else []
    if hits:
        return hits[0]  # the revision uploaded from the commit that last changed the worker
    subject = commits.subject(full)
    about = f"{full[:7]}" + (f" {subject!r}" if subject else "")
    raise IronshipError(
        f"{label} {prefix}: no revision of {name} was uploaded from commit {about}",
        hint=f"that commit is in the local repository: `ironship apply --ref {prefix} "
        f"--only {name}` builds it and uploads it as a new revision; {_listing(revisions)}",
    )


def pick_revision(
    name: str,
    revisions: Sequence[Revision],
    wanted: str,
    commits: Commits,
    *,
    label: str = "--to",
) -> Revision:
    """The revision ``wanted`` names: ``previous`` (the one before the latest), ``latest``, a
    revision number, or a commit (7+ hex digits: the newest revision stamped with it)."""
    if not revisions:
        raise IronshipError(f"{name} has no revisions on the server")
    spec = wanted.strip()
    if spec == PREVIOUS:
        if len(revisions) < 2:
            raise IronshipError(
                f"{label} previous: {name} has only revision {revisions[0].rev}",
                hint="there is nothing before it to go back to",
            )
        return revisions[1]
    if spec == LATEST:
        return revisions[0]
    if spec.isdigit() and len(spec) < SHA_MIN:
        found = next((r for r in revisions if r.rev == int(spec)), None)
        if found is None:
            raise _unknown(f"{label} {spec}: {name} has no revision {spec}", revisions)
        return found
    if is_hex_sha(spec, SHA_MIN):
        return _by_commit(label, name, spec, revisions, commits)
    raise IronshipError(
        f"{label} {wanted!r}: not a revision",
        hint="give a revision number, a commit SHA (7 or more hex digits), 'previous' or 'latest'",
    )


@dataclass(frozen=True)
class Restored:
    """What putting a revision back did: ``rev`` is the new revision (None: it failed)."""

    ok: bool
    message: str
    rev: int | None = None


def restore_revision(store: CodeStore, old: Code, scratch: Path) -> Restored:
    """Upload revision ``old`` (a Code value, see ``code_at``) again, as a new revision.

    Its zip is downloaded from the server and uploaded again with its settings and stamps,
    so the server's checksum is the old one again while ``rev`` keeps going up.
    """
    try:
        zip_path = None
        if old.latest_checksum:
            # Even when only settings differ: an upload with a zip replaces every setting,
            # while a settings-only upload keeps whatever it leaves out, so a config added
            # since would survive.
            dest = scratch / f"{old.name}.r{old.rev}.zip"
            zip_path = store.download_code(old.id, dest, revision=old.rev)
        now = store.get_code(store.upload_code(code_settings(old), zip_path))
    except IronshipError as exc:
        return Restored(False, f"rollback to revision {old.rev} failed: {exc}")
    if old.latest_checksum and now.latest_checksum != old.latest_checksum:
        return Restored(
            False,
            f"rollback to revision {old.rev} failed: the server's checksum is "
            f"{now.latest_checksum}, revision {old.rev}'s was {old.latest_checksum}",
            now.rev,
        )
    return Restored(
        True, f"rolled back to revision {old.rev} (uploaded again as revision {now.rev})", now.rev
    )


@dataclass(frozen=True)
class RollbackOutcome:
    """What ``rollback_worker`` did: ``restored`` is None when nothing was uploaded."""

    worker: str
    target: int  # the revision named
    latest: int  # the latest revision before the rollback
    restored: Restored | None = None
    cancelled: bool = False

    @property
    def message(self) -> str:
        if self.restored is not None:
            return self.restored.message
        if self.cancelled:
            return "cancelled; nothing was changed"
        return f"revision {self.target} is the latest already; nothing to do"


def rollback_worker(
    store: RevisionStore,
    name: str,
    wanted: str,
    commits: Commits,
    *,
    confirm: Callable[[str], bool],
    scratch: Path,
) -> RollbackOutcome:
    """Put revision ``wanted`` of worker ``name`` back (``ironship rollback``).

    ``confirm(question)`` approves the upload; the latest revision is left as it is.
    """
    code = find_code(store, name)
    target = pick_revision(name, revisions_of(store, code), wanted, commits)
    if target.rev == code.rev:
        return RollbackOutcome(name, target.rev, code.rev)
    question = f"Upload revision {target.rev} of {name} again, as revision {code.rev + 1}?"
    if not confirm(question):
        return RollbackOutcome(name, target.rev, code.rev, cancelled=True)
    restored = restore_revision(store, code_at(code, target), scratch)
    return RollbackOutcome(name, target.rev, code.rev, restored)


@dataclass(frozen=True)
class Ran:
    """The revision that ran a task, and the commit its stamps name."""

    worker: str
    rev: int
    found: bool  # the revision is still on the server
    stamps: Provenance
    subject: str | None = None

    @property
    def line(self) -> str:
        """``ran fib rev 7 = a1b2c3d 'Fix rounding' (clean)``."""
        head = f"ran {self.worker} rev {self.rev}"
        if not self.found:
            return f"{head} (that revision is no longer on the server)"
        if not self.stamps.by_ironship:
            return f"{head} (not uploaded by ironship)"
        what = self.stamps.short_sha or "unknown commit"
        if self.subject:
            what += f" {self.subject!r}"
        if self.stamps.git_dirty is not None:
            what += " (dirty)" if self.stamps.git_dirty else " (clean)"
        return f"{head} = {what}"


def task_revision(source: RevisionSource, task: Task, commits: Commits) -> Ran | None:
    """Which revision ran ``task``; None when the task does not say (no code or rev)."""
    if not task.code_id or not task.code_rev or not task.code_rev.isdigit():
        return None
    rev = int(task.code_rev)
    try:
        revisions = source.list_revisions(task.code_id)
    except ApiError as exc:
        if exc.status != 404:
            raise
        revisions = []  # the code was deleted since
    found = next((r for r in revisions if r.rev == rev), None)
    if found is None:
        return Ran(task.code_name, rev, False, read_stamps({}))
    stamps = read_stamps(found.env_vars)
    subject = commits.subject(stamps.git_sha) if stamps.git_sha else None
    return Ran(task.code_name, rev, True, stamps, subject)
