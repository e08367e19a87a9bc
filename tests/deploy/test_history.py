"""deploy/history.py on the in-memory server: listing, picking and restoring revisions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import Uploader, Workspace, prints

from ironship.deploy.history import (
    Entry,
    NoCommits,
    Ran,
    Restored,
    RollbackOutcome,
    code_at,
    find_code,
    load_history,
    pick_revision,
    restore_revision,
    revisions_of,
    rollback_worker,
    task_revision,
)
from ironship.deploy.revdiff import compare
from ironship.deploy.settings import upload_data
from ironship.deploy.stamps import GIT_DIRTY_KEY, GIT_SHA_KEY, Provenance, read_stamps
from ironship.errors import IronshipError
from ironship.iron.types import Code, Revision, Task
from ironship.packaging.archive import write_zip

SHA = {n: f"{n:x}" * 40 for n in range(1, 13)}  # revision n was uploaded from commit SHA[n]


class RevisionsFake(FakeIron):
    """The in-memory server plus ``GET codes/{id}/revisions`` (oldest first, as a server may)."""

    def list_revisions(self, code_id: str) -> list[Revision]:
        with self._lock:
            codes = list(self.revisions.get(code_id, []))
        return [
            Revision(
                id=f"{code_id}-{c.rev}",
                code_id=code_id,
                rev=c.rev,
                checksum=c.latest_checksum,
                created_at=f"2024-01-01T00:00:{c.rev:02d}Z",
                file_name=c.file_name,
                runtime=c.runtime,
                env_vars=c.env_vars,
                config=c.config,
                max_concurrency=c.max_concurrency,
                retries=c.retries,
                retries_delay=c.retries_delay,
                priority=c.priority,
            )
            for c in codes
        ]


class Commits:
    """A local repository that knows ``subjects`` and maps commits to a worker's inputs."""

    def __init__(self, subjects: dict[str, str], inputs: dict[str, str] | None = None) -> None:
        self.subjects = subjects
        self.inputs = inputs or {}

    def subject(self, sha: str) -> str | None:
        return self.subjects.get(sha)

    def resolve(self, prefix: str) -> str | None:
        return next((s for s in self.subjects if s.startswith(prefix)), None)

    def inputs_at(self, commit: str) -> str | None:
        return self.inputs.get(commit, commit)


@pytest.fixture
def server() -> RevisionsFake:
    return RevisionsFake()


def stamped_revision(rev: int, sha: str | None, dirty: bool = False) -> Revision:
    env = {"IRONSHIP_DIGEST": f"sha256:{rev}"}
    if sha:
        env |= {GIT_SHA_KEY: sha, GIT_DIRTY_KEY: "1" if dirty else "0"}
    return Revision(id=str(rev), code_id="c", rev=rev, checksum=f"md5-{rev}", env_vars=env)


REVS = tuple(stamped_revision(n, SHA[(n + 1) // 2]) for n in range(12, 0, -1))  # newest first


def upload_versions(ws: Workspace, server: FakeIron, tmp_path: Path, *texts: str) -> list[Code]:
    """Upload alpha once per text, stamped with SHA[1], SHA[2], ...; the codes after each."""
    codes = []
    for n, text in enumerate(texts, start=1):
        (ws.root / "workers" / "alpha" / "main.py").write_text(prints(text))
        desired = ws.desired("alpha")
        zip_path = tmp_path / f"v{n}.zip"
        write_zip(desired, zip_path)
        data = upload_data(desired, {GIT_SHA_KEY: SHA[n], GIT_DIRTY_KEY: "0"})
        codes.append(server.get_code(server.upload_code(data, zip_path)))
    return codes


def test_previous_latest_and_numbers() -> None:
    """previous is the revision before the latest; a short number is a revision number."""
    commits = NoCommits()
    assert pick_revision("alpha", REVS, "previous", commits).rev == 11
    assert pick_revision("alpha", REVS, "latest", commits).rev == 12
    assert pick_revision("alpha", REVS, "3", commits).rev == 3
    with pytest.raises(IronshipError, match="alpha has only revision 12"):
        pick_revision("alpha", REVS[:1], "previous", commits)


def test_a_commit_names_the_newest_revision_stamped_with_it() -> None:
    """Revisions 5 and 6 both came from SHA[3]: a 7-digit prefix picks 6, the newest."""
    assert pick_revision("alpha", REVS, SHA[3][:7], NoCommits()).rev == 6
    assert pick_revision("alpha", REVS, SHA[3].upper(), NoCommits()).rev == 6


def test_a_commit_that_did_not_touch_the_worker_names_its_inputs_commit() -> None:
    """A local commit no revision carries maps to the worker's inputs' commit as of it."""
    other = "f00d" * 10
    commits = Commits({other: "Touch beta only"}, inputs={other: SHA[2]})
    assert pick_revision("alpha", REVS, other[:9], commits).rev == 4


def test_unknown_revisions_list_what_exists() -> None:
    """An unknown number or commit is refused with the ten newest revisions and their commits."""
    with pytest.raises(IronshipError) as caught:
        pick_revision("alpha", REVS, "99", NoCommits())
    assert caught.value.message == "--to 99: alpha has no revision 99"
    assert caught.value.hint == (
        "revisions (newest first): "
        + ", ".join(f"{n} ({SHA[(n + 1) // 2][:7]})" for n in range(12, 2, -1))
        + ", and 2 older"
    )
    with pytest.raises(IronshipError, match="local repository has no such commit"):
        pick_revision("alpha", REVS, "abcdef1", NoCommits())
    with pytest.raises(IronshipError, match="not a revision"):
        pick_revision("alpha", REVS, "yesterday", NoCommits())


def test_a_local_commit_never_deployed_points_at_apply_ref() -> None:
    """A commit only the local repository has: the hint says how to build and upload it."""
    local = "bead" * 10
    commits = Commits({local: "Not deployed yet"})
    with pytest.raises(IronshipError) as caught:
        pick_revision("alpha", REVS, local[:8], commits, label="REV_A")
    assert caught.value.message == (
        f"REV_A {local[:8]}: no revision of alpha was uploaded from commit "
        f"{local[:7]} 'Not deployed yet'"
    )
    assert f"`ironship apply --ref {local[:8]} --only alpha`" in (caught.value.hint or "")


def test_an_ambiguous_prefix_is_refused() -> None:
    """Two commits sharing the prefix: the refusal lists both."""
    revs = (stamped_revision(2, "abcdef1" + "1" * 33), stamped_revision(1, "abcdef1" + "2" * 33))
    with pytest.raises(IronshipError, match="names more than one commit"):
        pick_revision("alpha", revs, "abcdef1", NoCommits())


def test_restoring_a_revision_brings_back_its_zip_settings_and_stamps(
    ws: Workspace, server: RevisionsFake, tmp_path: Path
) -> None:
    """Revision 1 uploaded again is revision 3 with revision 1's checksum, settings, stamps."""
    v1, _ = upload_versions(ws, server, tmp_path, "1", "2")
    code = find_code(server, "alpha")
    first = revisions_of(server, code)[-1]
    done = restore_revision(server, code_at(code, first), tmp_path / "scratch")
    assert done == Restored(True, "rolled back to revision 1 (uploaded again as revision 3)", 3)
    assert server.get_code(v1.id) == replace(v1, rev=3)
    assert v1.max_concurrency == 5 and v1.env_vars[GIT_SHA_KEY] == SHA[1]


def test_a_restore_the_server_does_not_match_is_a_failure(
    ws: Workspace, server: RevisionsFake, tmp_path: Path
) -> None:
    """When the server's checksum is not the old one after the upload, the restore failed."""
    v1, v2 = upload_versions(ws, server, tmp_path, "1", "2")
    code = find_code(server, "alpha")
    wrong = replace(code_at(code, revisions_of(server, code)[-1]), latest_checksum="0" * 32)
    done = restore_revision(server, wrong, tmp_path / "scratch")
    assert done == Restored(
        False,
        f"rollback to revision 1 failed: the server's checksum is {v1.latest_checksum}, "
        f"revision 1's was {'0' * 32}",
        3,
    )
    assert v2.rev == 2


def test_history_marks_the_working_tree_and_names_commits(
    ws: Workspace, server: RevisionsFake, tmp_path: Path, uploader: Uploader
) -> None:
    """Newest first, with subjects of local commits, the working tree's digest marked."""
    upload_versions(ws, server, tmp_path, "1", "2")
    current = ws.desired("alpha").digest
    (ws.root / "workers" / "alpha" / "main.py").write_text(prints("3"))
    uploader.upload(server, ws.desired("alpha"), stamped=False)  # another tool's upload
    found = load_history(
        server, "alpha", Commits({SHA[1]: "First"}), current_digest=current, limit=2
    )
    revs = revisions_of(server, found.code)
    assert found.total == 3
    assert found.entries == (
        Entry(3, revs[0].created_at, revs[0].checksum, Provenance(by_ironship=False)),
        Entry(2, revs[1].created_at, revs[1].checksum, read_stamps(revs[1].env_vars), None, True),
    )
    whole = load_history(server, "alpha", Commits({SHA[1]: "First"}))
    assert whole.entries[-1].subject == "First" and not whole.entries[-1].current


def test_an_unknown_worker_names_the_deployed_ones(server: RevisionsFake) -> None:
    """history of a worker the server does not have lists the ones it has."""
    with pytest.raises(IronshipError) as caught:
        find_code(server, "ghost")
    assert (caught.value.message, caught.value.hint) == (
        "no worker named 'ghost' on the server",
        "workers deployed: none",
    )


def test_which_revision_ran_a_task(
    ws: Workspace, server: RevisionsFake, tmp_path: Path, uploader: Uploader
) -> None:
    """A task names its revision and commit; unstamped and vanished revisions say so."""
    (v1,) = upload_versions(ws, server, tmp_path, "1")
    commits = Commits({SHA[1]: "Fix rounding"})
    task = Task("t1", "alpha", v1.id, "1", "complete")
    ran = task_revision(server, task, commits)
    assert ran == Ran("alpha", 1, True, read_stamps(v1.env_vars), "Fix rounding")
    assert ran.line == f"ran alpha rev 1 = {SHA[1][:7]} 'Fix rounding' (clean)"
    uploader.upload(server, ws.desired("alpha"), stamped=False)
    other = task_revision(server, Task("t2", "alpha", v1.id, "2", "complete"), commits)
    assert other is not None and other.line == "ran alpha rev 2 (not uploaded by ironship)"
    gone = task_revision(server, Task("t3", "alpha", v1.id, "9", "complete"), commits)
    assert (
        gone is not None
        and gone.line == "ran alpha rev 9 (that revision is no longer on the server)"
    )
    assert task_revision(server, Task("t4", "alpha", None, None, "queued"), commits) is None
    dirty = Ran("alpha", 4, True, Provenance(True, git_sha=SHA[4], git_dirty=True))
    assert dirty.line == f"ran alpha rev 4 = {SHA[4][:7]} (dirty)"
    assert Ran("alpha", 5, True, Provenance(True)).line == "ran alpha rev 5 = unknown commit"


def test_rollback_worker_asks_then_restores_and_leaves_the_latest_alone(
    ws: Workspace, server: RevisionsFake, tmp_path: Path
) -> None:
    """A refusal uploads nothing; the latest revision needs no upload; otherwise it restores."""
    upload_versions(ws, server, tmp_path, "1", "2")
    asked: list[str] = []

    def refuse(question: str) -> bool:
        asked.append(question)
        return False

    no = rollback_worker(server, "alpha", "1", NoCommits(), confirm=refuse, scratch=tmp_path)
    assert no == RollbackOutcome("alpha", 1, 2, cancelled=True)
    assert asked == ["Upload revision 1 of alpha again, as revision 3?"]
    same = rollback_worker(server, "alpha", "latest", NoCommits(), confirm=refuse, scratch=tmp_path)
    assert same.message == "revision 2 is the latest already; nothing to do"
    assert server.revs("alpha") == [1, 2]
    done = rollback_worker(
        server, "alpha", "previous", NoCommits(), confirm=lambda q: True, scratch=tmp_path
    )
    assert done.restored == Restored(
        True, "rolled back to revision 1 (uploaded again as revision 3)", 3
    )


def test_compare_revisions_and_the_working_tree(
    ws: Workspace, server: RevisionsFake, tmp_path: Path
) -> None:
    """Two revisions differ by a file; the working tree can stand in for the second side."""
    upload_versions(ws, server, tmp_path, "1", "2")
    both = compare(server, "alpha", "1", "2", NoCommits(), local=None, scratch=tmp_path)
    assert (both.files.changed, both.settings, both.before.rev, both.after.rev) == (
        ("main.py",),
        (),
        1,
        2,
    )
    same = compare(
        server, "alpha", "2", None, NoCommits(), local=ws.desired("alpha"), scratch=tmp_path
    )
    assert same.empty and same.after.label == "working tree"
    with pytest.raises(IronshipError, match="no worker 'alpha' in a manifest here"):
        compare(server, "alpha", "1", None, NoCommits(), local=None, scratch=tmp_path)
