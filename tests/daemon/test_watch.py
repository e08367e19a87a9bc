"""The daemon's watcher (ironship/daemon/watch.py) on real folders and real inotify: what
stamps a root, what does not, and what makes it trust a root no more."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import write_tree
from inotify_simple import flags

from ironship.daemon.watch import Roots


@pytest.fixture
def roots(tmp_path: Path) -> Iterator[Roots]:
    cookies = tmp_path / "cookies"
    cookies.mkdir()
    write_tree(tmp_path, {"a/main.py": "1\n", "a/lib/x.py": "2\n", "b/main.py": "3\n"})
    watcher = Roots(cookies)
    reader = threading.Thread(target=watcher.run, daemon=True)
    reader.start()
    watcher.add(str(tmp_path / "a"))
    watcher.add(str(tmp_path / "b"))
    yield watcher
    watcher.stop()
    reader.join(timeout=5)


def settled(roots: Roots) -> int:
    generation = roots.sync()
    assert generation is not None
    return generation


def test_a_change_stamps_its_root_only(roots: Roots, tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    before = settled(roots)
    assert roots.clean_since(a, before) and roots.clean_since(b, before)
    (tmp_path / "a/lib/x.py").write_text("22\n")
    after = settled(roots)
    assert not roots.clean_since(a, before) and roots.clean_since(b, before)
    assert roots.clean_since(a, after)


def test_a_new_folder_is_watched_before_its_root_is_stamped(roots: Roots, tmp_path: Path) -> None:
    a = str(tmp_path / "a")
    write_tree(tmp_path, {"a/new/deep/f.py": "1\n"})
    seen = settled(roots)
    assert roots.clean_since(a, seen)
    (tmp_path / "a/new/deep/f.py").write_text("2\n")  # inside the folder made after the start
    settled(roots)
    assert not roots.clean_since(a, seen)


def test_version_control_folders_stamp_nothing(roots: Roots, tmp_path: Path) -> None:
    a = str(tmp_path / "a")
    write_tree(tmp_path, {"a/.git/HEAD": "ref\n"})  # the folder appears: not a change of a's
    before = settled(roots)
    (tmp_path / "a/.git/HEAD").write_text("other\n")
    (tmp_path / "a/.git/index").write_text("x\n")
    assert roots.clean_since(a, settled(roots)) and roots.clean_since(a, before)


def test_an_overflow_stamps_every_root_and_watches_again(tmp_path: Path) -> None:
    """Lost events: every root counts as changed, and folders made meanwhile get watched."""
    cookies = tmp_path / "cookies"
    cookies.mkdir()
    write_tree(tmp_path, {"a/main.py": "1\n", "b/main.py": "2\n"})
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    watcher = Roots(cookies)  # no reader thread: this test hands it the events
    watcher.add(a)
    watcher.add(b)
    before = watcher.generation
    (tmp_path / "b/lost").mkdir()
    list(watcher.inotify.read(timeout=1000))  # its creation event is lost
    watcher.handle([(-1, flags.Q_OVERFLOW, 0, "")])
    assert watcher.overflows == 1
    assert not watcher.clean_since(a, before) and not watcher.clean_since(b, before)
    after = watcher.generation
    (tmp_path / "b/lost/f.py").write_text("1\n")
    watcher.handle(list(watcher.inotify.read(timeout=1000)))
    assert not watcher.clean_since(b, after) and watcher.clean_since(a, after)
    watcher.inotify.close()


def test_a_root_that_goes_away_is_trusted_no_more(roots: Roots, tmp_path: Path) -> None:
    b = str(tmp_path / "b")
    (tmp_path / "b/main.py").unlink()
    (tmp_path / "b").rmdir()
    (tmp_path / "b").mkdir()  # a new folder at the same place: not watched
    assert not roots.clean_since(b, settled(roots) + 1)
    assert b not in roots.watched
    roots.add(b)  # watched again when a command plans it
    assert roots.clean_since(b, settled(roots))


def test_a_folder_that_cannot_be_watched_leaves_its_root_unwatched(tmp_path: Path) -> None:
    cookies = tmp_path / "cookies"
    cookies.mkdir()
    write_tree(tmp_path, {"a/main.py": "1\n", "a/deep/x.py": "2\n"})
    watcher = Roots(cookies)
    real = watcher.inotify.add_watch

    def limited(path: str, mask: int) -> int:
        if path.endswith("deep"):
            raise OSError(28, "No space left on device")  # fs.inotify.max_user_watches
        result: int = real(path, mask)
        return result

    watcher.inotify.add_watch = limited
    watcher.add(str(tmp_path / "a"))
    assert str(tmp_path / "a") not in watcher.watched
    assert not watcher.clean_since(str(tmp_path / "a"), watcher.generation)
    watcher.inotify.close()
