"""Saved plans (deploy/planfile.py, deploy/planread.py) on the in-memory server and a real
temporary git repository: round trip, no secret in the file, stale-plan refusals, bad files."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from deploy.fakes import FakeIron
from deploy.gitrepo import git

from ironship.deploy.executor import apply_plan
from ironship.deploy.planfile import (
    PlanContext,
    PlanTarget,
    SavedPlan,
    SavedWorker,
    check_target,
    fresh_plan,
    keyed_hash,
    load_plan_file,
    plan_context,
    plan_key,
    upload_view,
    write_plan_file,
)
from ironship.deploy.planner import make_plan
from ironship.deploy.planread import SeenCode
from ironship.deploy.render import plan_lines
from ironship.errors import IronshipError
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Manifest

SECRET = "hunter2-do-not-print"
CONFIG_SECRET = "cfg-value-never-shown"
MANIFEST = (
    "version: 1\n"
    "workers:\n"
    "  alpha:\n    root: a\n    entry: main.py\n"
    f"    env: {{API_TOKEN: {SECRET}}}\n"
    f"    config: {{api_key: {CONFIG_SECRET}}}\n"
    "  beta:\n    root: b\n    entry: main.py\n"
)
LOCAL = PlanTarget("local", "p" * 24)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A committed project: ironship.yml with alpha (a secret env var and config) and beta."""
    root = tmp_path / "repo"
    for rel, text in {
        "ironship.yml": MANIFEST,
        "a/main.py": "print('a')\n",
        "b/main.py": "print('b')\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def manifest_of(repo: Path) -> Manifest:
    return load_manifest(repo / "ironship.yml")


def saved_plan(server: FakeIron, repo: Path) -> tuple[SavedPlan, Path]:
    """Plan ``repo`` against ``server``, write the plan file beside it and read it back."""
    manifest = manifest_of(repo)
    plan = make_plan(server, manifest)
    path = repo / "plan.json"
    context = PlanContext(manifest.path, LOCAL)
    write_plan_file(path, plan, context, now=NOW)
    return load_plan_file(path), path


def deployed(server: FakeIron, repo: Path, tmp_path: Path) -> None:
    """Apply the repository's current plan: both workers on the server at revision 1."""
    apply_plan(server, make_plan(server, manifest_of(repo)), build_dir=tmp_path / "seed")


def test_a_plan_file_reads_back_as_it_was_made(repo: Path, tmp_path: Path) -> None:
    """Every recorded fact comes back: workers, digests, revisions seen, manifest, git, target."""
    server = FakeIron()
    deployed(server, repo, tmp_path)
    server.upload_code({"name": "stray", "runtime": "sh"}, None)
    (repo / "b" / "main.py").write_text("print('b2')\n")
    manifest = manifest_of(repo)
    plan = make_plan(server, manifest)
    saved, path = saved_plan(server, repo)
    codes = {c.name: c for c in server.list_codes()}
    alpha, beta = (w.local for w in plan.workers[:2])
    assert alpha is not None and beta is not None
    assert saved.workers == (
        SavedWorker(
            "alpha",
            "unchanged",
            False,
            alpha.digest,
            alpha.files_digest,
            None,
            SeenCode(codes["alpha"].id, 1, None, codes["alpha"].latest_checksum),
        ),
        SavedWorker(
            "beta",
            "update",
            True,
            beta.digest,
            beta.files_digest,
            None,
            SeenCode(codes["beta"].id, 1, None, codes["beta"].latest_checksum),
        ),
        SavedWorker("stray", "orphan", False, remote=SeenCode(codes["stray"].id, 1)),
    )
    head = git(repo, "rev-parse", "HEAD")
    manifest_sha = hashlib.sha256((repo / "ironship.yml").read_bytes()).hexdigest()
    assert (saved.path, saved.manifest_path, saved.manifest_sha256) == (
        path,
        manifest.path,
        manifest_sha,
    )
    assert (saved.git_sha, saved.git_dirty, saved.environment) == (head, True, None)
    assert (saved.target, saved.only, saved.prune, saved.force) == (LOCAL, (), False, False)
    assert saved.created_at == "2024-05-01T12:00:00+00:00"
    assert plan_lines(saved.display, verbose=True) == plan_lines(plan, verbose=True)
    doc = json.loads(path.read_text())
    assert doc["plan_file"]["manifest"]["path"] == "ironship.yml"
    assert doc["plan_file"]["codes_seen"] == ["alpha", "beta", "stray"]
    assert doc["format_version"] == "1" and doc["summary"] == plan.summary


def test_the_plan_file_holds_names_and_keyed_hashes_never_secret_values(
    repo: Path, tmp_path: Path
) -> None:
    """Env and config values appear only as HMACs under .ironship/plan-key (mode 0600)."""
    saved, path = saved_plan(FakeIron(), repo)
    text = path.read_text()
    assert SECRET not in text and CONFIG_SECRET not in text
    key_file = repo / ".ironship" / "plan-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = plan_key(repo)
    assert key == key_file.read_bytes() and len(key) == 32
    upload = {w["name"]: w.get("upload") for w in json.loads(text)["workers"]}
    expected = "hmac-sha256:" + hmac.new(key, SECRET.encode(), hashlib.sha256).hexdigest()
    assert upload["alpha"] is not None and upload["alpha"]["env"] == {"API_TOKEN": expected}
    assert upload["alpha"]["config"].startswith("hmac-sha256:")
    assert upload["alpha"]["runtime"] == "python" and upload["alpha"]["file_name"] == "main.py"
    assert SECRET not in repr(saved) and git(repo, "status", "--porcelain") == "?? plan.json"


def test_an_unmoved_tree_and_server_give_the_saved_plan_back(repo: Path, tmp_path: Path) -> None:
    """With nothing moved, applying the plan file applies the plan that was saved."""
    server = FakeIron()
    saved, _ = saved_plan(server, repo)
    again = fresh_plan(server, manifest_of(repo), saved)
    assert again == make_plan(server, manifest_of(repo))
    result = apply_plan(server, again, build_dir=tmp_path / "build")
    assert [r.outcome for r in result.results] == ["created", "created"]


def stale_message(server: FakeIron, repo: Path, saved: SavedPlan) -> str:
    with pytest.raises(IronshipError) as caught:
        fresh_plan(server, manifest_of(repo), saved)
    assert caught.value.hint is not None and "ironship plan --out plan.json" in caught.value.hint
    return caught.value.message


def test_a_plan_is_stale_once_a_workers_files_changed(repo: Path) -> None:
    """Editing a worker's file after the plan refuses the plan, naming the worker."""
    server = FakeIron()
    saved, path = saved_plan(server, repo)
    (repo / "a" / "main.py").write_text("print('edited')\n")
    assert stale_message(server, repo, saved) == (
        f"{path}: stale plan: alpha's files changed; run plan again"
    )


def test_a_plan_is_stale_once_the_manifest_changed(repo: Path) -> None:
    """Any change to the manifest's bytes refuses the plan, even one that plans the same."""
    server = FakeIron()
    saved, path = saved_plan(server, repo)
    with (repo / "ironship.yml").open("a") as f:
        f.write("# reviewed\n")
    assert stale_message(server, repo, saved) == (
        f"{path}: stale plan: ironship.yml changed; run plan again"
    )


def test_a_plan_is_stale_once_the_server_moved(repo: Path, tmp_path: Path) -> None:
    """A revision uploaded by someone else, a new code and a create that now exists all
    refuse the plan, each named."""
    server = FakeIron()
    deployed(server, repo, tmp_path)
    shutil.rmtree(repo / "b")
    (repo / "ironship.yml").write_text(
        MANIFEST.split("  beta:")[0] + "  gamma:\n    root: a\n    entry: main.py\n"
    )
    saved, path = saved_plan(server, repo)
    (alpha,) = [c for c in server.list_codes() if c.name == "alpha"]
    server.upload_code({"name": "alpha", "max_concurrency": 3}, None)
    server.upload_code({"name": "gamma", "runtime": "sh"}, None)
    server.upload_code({"name": "stray", "runtime": "sh"}, None)
    assert stale_message(server, repo, saved) == (
        f"{path}: stale plan: alpha is at revision 2 on the server, the plan saw 1; "
        "gamma now exists on the server (revision 1); stray is new on the server; "
        "run plan again"
    )
    assert server.get_code(alpha.id).rev == 2


def test_a_plan_for_another_target_environment_or_manifest_is_refused(repo: Path) -> None:
    """Applying with other credentials, another --env or another manifest is refused."""
    saved, _ = saved_plan(FakeIron(), repo)
    check_target(saved, PlanTarget.of("local", "p" * 24, "127.0.0.1:4711"), None)  # the same
    assert PlanTarget.of("iron", "p", "h:1") == PlanTarget("iron", "p", "h:1")
    cases = [
        (PlanTarget("iron", "p" * 24, "h"), None, "made for local project pppp"),
        (PlanTarget("local", "q" * 24), None, "not local project qqqq"),
        (LOCAL, "staging", "made for no environment, not environment 'staging'"),
    ]
    for target, env, words in cases:
        with pytest.raises(IronshipError, match=words):
            check_target(saved, target, env)
    other = repo / "other.yml"
    shutil.copy(repo / "ironship.yml", other)
    with pytest.raises(IronshipError, match=r"this plan was made from .*ironship\.yml, not"):
        fresh_plan(FakeIron(), load_manifest(other), saved)


def test_a_moved_checkout_keeps_its_plan_files(repo: Path, tmp_path: Path) -> None:
    """The manifest path is stored relative to the plan file, so a moved checkout still
    applies its plan."""
    server = FakeIron()
    saved_plan(server, repo)
    moved = tmp_path / "elsewhere"
    shutil.move(repo, moved)
    saved = load_plan_file(moved / "plan.json")
    assert saved.manifest_path == (moved / "ironship.yml").resolve()
    assert fresh_plan(server, manifest_of(moved), saved) == make_plan(server, manifest_of(moved))


def test_broken_plan_files_are_refused_with_the_file_and_the_place(
    repo: Path, tmp_path: Path
) -> None:
    """Missing, not JSON, not a plan file, too new, or a damaged field: a located message."""
    _, path = saved_plan(FakeIron(), repo)
    good = json.loads(path.read_text())
    bad = tmp_path / "bad.json"

    def refused(text: str | None) -> str:
        if text is not None:
            bad.write_text(text)
        with pytest.raises(IronshipError) as caught:
            load_plan_file(bad)
        assert caught.value.hint
        return caught.value.message

    assert refused(None) == f"{bad}: no such plan file"
    assert refused('{"workers": [\n  1,,\n]}') == f"{bad}:2:5: not valid JSON: Expecting value"
    plain = {k: v for k, v in good.items() if k != "plan_file"}
    assert refused(json.dumps(plain)) == (
        f"{bad}: not an ironship plan file (it has no plan_file section)"
    )
    newer = {**good, "plan_file": {**good["plan_file"], "version": 2}}
    assert refused(json.dumps(newer)) == (
        f"{bad}: plan file version 2 is newer than this ironship reads (1)"
    )
    damaged = json.loads(json.dumps(good))
    damaged["workers"][1]["action"] = "explode"
    assert refused(json.dumps(damaged)) == (
        f"{bad}: workers[1].action: expected one of create, update, unchanged, orphan, delete"
    )
    damaged["workers"][1] = {**good["workers"][1], "before": {"id": "x", "rev": "2"}}
    assert refused(json.dumps(damaged)) == f"{bad}: workers[1].before.rev: expected a whole number"


class Masked:
    """A value that masks itself like ironship's Secret and hashes itself with ``digest``."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __str__(self) -> str:
        return "(sensitive)"

    def digest(self, key: bytes) -> str:
        return hmac.new(key, self._value.encode(), hashlib.sha256).hexdigest()


def test_masked_secret_values_are_hashed_by_their_own_digest() -> None:
    """A masked secret env or config value is hashed through its digest, never its mask."""
    key = b"k" * 32
    view = upload_view({"env_vars": {"A": Masked("v"), "B": "v"}, "config": Masked("c")}, key)
    assert view["env"]["A"] == view["env"]["B"] == keyed_hash(key, "v")
    assert view["config"] == keyed_hash(key, "c") != keyed_hash(key, "(sensitive)")


def test_secret_values_are_hashed_under_the_targets_key_and_replanned_with_it(
    repo: Path,
) -> None:
    """With ${secret:…} values, the plan file holds their HMAC under the target's key (the key
    their digests use) and never their text, and the same key re-plans it unchanged."""
    text = (repo / "ironship.yml").read_text().replace(SECRET, "'${secret:API_TOKEN}'")
    (repo / "ironship.yml").write_text(text)
    manifest = load_manifest(repo / "ironship.yml", environ={"API_TOKEN": SECRET})
    server, key = FakeIron(), b"t" * 32
    plan = make_plan(server, manifest, secret_key=key)
    path = repo / "plan.json"
    write_plan_file(path, plan, PlanContext(manifest.path, LOCAL), key=key)
    assert SECRET not in path.read_text() and not (repo / ".ironship" / "plan-key").exists()
    (alpha, _) = json.loads(path.read_text())["workers"]
    assert alpha["upload"]["env"] == {"API_TOKEN": keyed_hash(key, SECRET)}
    assert fresh_plan(server, manifest, load_plan_file(path), secret_key=key) == plan


def test_the_context_records_the_environment_and_options(repo: Path) -> None:
    """plan_context takes the environment from the manifest; the plan file keeps it and the
    options, and applying it in no environment is refused."""
    with (repo / "ironship.yml").open("a") as f:
        f.write("environments:\n  staging: {}\n")
    manifest = load_manifest(repo / "ironship.yml", "staging")
    server = FakeIron()
    plan = make_plan(server, manifest, only=["beta"], prune=True)
    context = plan_context(manifest, LOCAL, only=["beta"], prune=True)
    assert context == PlanContext(manifest.path, LOCAL, "staging", ("beta",), True, False)
    write_plan_file(repo / "plan.json", plan, context)
    saved = load_plan_file(repo / "plan.json")
    assert (saved.environment, saved.only, saved.prune, saved.force) == (
        "staging",
        ("beta",),
        True,
        False,
    )
    check_target(saved, LOCAL, "staging")
    with pytest.raises(IronshipError, match="made for environment 'staging', not no environ"):
        check_target(saved, LOCAL, None)
    assert fresh_plan(server, manifest, saved) == plan
