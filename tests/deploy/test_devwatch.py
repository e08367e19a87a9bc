"""What dev watches (deploy/devwatch.py): the scope, editor noise, and batches of real saves
seen by a real watcher in a temporary folder."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ironship.deploy.devwatch import Debounce, WatchScope, changes, force_polling, is_noise
from ironship.manifest.models import Environment, Manifest, Worker

DEADLINE = 30.0  # seconds: a fail-safe against a watcher that never answers


@pytest.mark.parametrize(
    "name",
    [".fib.py.swp", ".fib.py.swx", "fib.py~", ".#fib.py", "#fib.py#", "4913", "fib.py___jb_tmp___"],
)
def test_editor_scratch_files_are_noise(name: str) -> None:
    """vim, emacs and JetBrains scratch files never count as a saved change."""
    assert is_noise(name)


@pytest.mark.parametrize("name", ["fib.py", "requirements.txt", "package-lock.json", "swap.py"])
def test_real_files_are_not_noise(name: str) -> None:
    """Sources and lock files do count."""
    assert not is_noise(name)


@pytest.fixture
def scope(tmp_path: Path) -> WatchScope:
    """A manifest with one worker root holding sources, a sub-folder and ignored folders."""
    root = tmp_path / "workers/fib"
    for rel in ("fib.py", "lib/util.py", ".git/HEAD", "node_modules/x/index.js", ".ironship/a"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (tmp_path / "ironship.yml").write_text("version: 1\n")
    (tmp_path / "secrets").mkdir()
    return WatchScope(tmp_path / "ironship.yml", (root,), (tmp_path / "secrets/dev.yml",))


def test_the_scope_is_the_manifest_the_roots_and_the_secrets_file(scope: WatchScope) -> None:
    """Changes to the manifest, the secrets file and a root's sources count; the rest not."""
    base = scope.manifest.parent
    root = scope.roots[0]
    for path in (scope.manifest, base / "secrets/dev.yml", root / "fib.py", root / "lib/new.py"):
        assert scope.relevant(path), path
    for path in (
        base / "README.md",
        base / ".ironship/engine/engine.db",
        root / ".git/index",
        root / "node_modules/x/index.js",
        root / "lib/__pycache__/util.cpython-311.pyc",
        root / ".fib.py.swp",
        root / "4913",
    ):
        assert not scope.relevant(path), path
    assert scope.shown(root / "fib.py") == "workers/fib/fib.py"


def test_the_folders_watched_skip_ignored_ones(scope: WatchScope) -> None:
    """Each folder is watched on its own; ignored folders and what lies below are not."""
    base = scope.manifest.parent
    root = scope.roots[0]
    assert scope.directories() == (base, base / "secrets", root, root / "lib")


def test_an_engine_folder_inside_a_root_is_skipped(scope: WatchScope) -> None:
    """A --data folder inside a worker's root is neither watched nor a change."""
    root = scope.roots[0]
    (root / "data/blobs").mkdir(parents=True)
    skipping = WatchScope(scope.manifest, scope.roots, scope.files, (root / "data",))
    assert root / "data" not in skipping.directories()
    assert root / "data/blobs" not in skipping.directories()
    assert not skipping.relevant(root / "data/engine.db")
    assert skipping.relevant(root / "fib.py")


def test_the_scope_of_a_manifest(tmp_path: Path) -> None:
    """Roots once each, in manifest order (only those of --only's workers when given), and
    the environment's secrets file."""
    a = Worker(name="a", root=tmp_path / "w", entry="a.py", runtime="python")
    b = Worker(name="b", root=tmp_path / "w", entry="b.py", runtime="python")
    c = Worker(name="c", root=tmp_path / "v", entry="c.py", runtime="python")
    env = Environment("dev", secrets_file=tmp_path / "s.yml")
    manifest = Manifest(tmp_path / "ironship.yml", 1, (a, b, c), environment=env)
    assert WatchScope.of(manifest) == WatchScope(
        tmp_path / "ironship.yml", (tmp_path / "w", tmp_path / "v"), (tmp_path / "s.yml",)
    )
    only_c = WatchScope.of(manifest, ["c"])
    assert only_c.roots == (tmp_path / "v",)


def watch_batches(
    scope: Callable[[], WatchScope], edits: list[Callable[[], None]]
) -> list[tuple[str, ...]]:
    """Run ``changes`` on a real watcher; once it is ready, and after each batch, make the
    next edit; the batches seen (one per edit)."""
    stop = threading.Event()
    timer = threading.Timer(DEADLINE, stop.set)  # never hang: a missing batch fails below
    timer.start()
    pending = list(edits)
    seen: list[tuple[str, ...]] = []
    try:
        for batch in changes(scope, stop, Debounce(quiet_ms=50), on_ready=pending.pop(0)):
            seen.append(batch)
            if not pending:
                break
            pending.pop(0)()
    finally:
        timer.cancel()
    assert len(seen) == len(edits), seen
    return seen


def test_saves_come_in_batches_without_editor_noise(scope: WatchScope) -> None:
    """A swap file and ignored folders never start a batch; the save after them does, alone.
    A burst of saves is one batch; a file made and renamed away within it is left out."""
    root = scope.roots[0]

    def noise_then_save() -> None:
        (root / ".fib.py.swp").write_text("vim")
        (root / ".git/HEAD").write_text("y")
        (root / "fib.py").write_text("print(1)")

    def burst() -> None:
        (root / "lib/util.py").write_text("u")
        (root / "fib.py.tmp123").write_text("print(2)")
        (root / "fib.py.tmp123").rename(root / "fib.py")
        scope.manifest.write_text("version: 1 # saved\n")

    seen = watch_batches(lambda: scope, [noise_then_save, burst])
    assert seen[0] == (str(root / "fib.py"),)
    assert seen[1] == tuple(
        sorted(map(str, (root / "fib.py", root / "lib/util.py", scope.manifest)))
    )


def test_a_new_folder_is_watched_after_the_round_it_started(scope: WatchScope) -> None:
    """A folder made under a root is watched once its batch is handled, and a file saved in
    it while that batch's round ran (before the new watch) is not missed."""
    root = scope.roots[0]

    def save_in_it() -> None:
        (root / "sub/deep.py").write_text("x")

    seen = watch_batches(lambda: scope, [lambda: (root / "sub").mkdir(), save_in_it])
    assert seen == [(str(root / "sub"),), (str(root / "sub/deep.py"),)]


def test_polling_only_when_asked() -> None:
    """WATCHFILES_FORCE_POLLING turns polling on, as watchfiles reads it; unset or false, off."""
    assert not force_polling({})
    assert not force_polling({"WATCHFILES_FORCE_POLLING": "false"})
    assert force_polling({"WATCHFILES_FORCE_POLLING": "1"})


def test_polling_sees_saves_too(scope: WatchScope, monkeypatch: pytest.MonkeyPatch) -> None:
    """With polling forced, a save is still seen (on file systems without inotify)."""
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")
    root = scope.roots[0]
    stop = threading.Event()
    saving = threading.Event()

    def keep_saving() -> None:
        # A poller's first scan comes some time after it starts: save until one is seen.
        saving.wait(DEADLINE)
        n = 0
        while not stop.wait(0.2):
            n += 1
            (root / "fib.py").write_text(f"print({n})")

    saver = threading.Thread(target=keep_saving)
    saver.start()
    timer = threading.Timer(DEADLINE, stop.set)
    timer.start()
    batches = changes(lambda: scope, stop, Debounce(quiet_ms=50), on_ready=saving.set)
    try:
        first = next(batches, None)
    finally:
        batches.close()
        stop.set()
        saving.set()
        timer.cancel()
        saver.join()
    assert first == (str(root / "fib.py"),)
