"""Entries added to an existing manifest as text: after the last line of its workers block, at
its indentation, with every other line kept; the forms that cannot take them are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ironship.errors import IronshipError
from ironship.onboard.manifest_text import add_entries, existing_workers, write_atomically

NEW = {"new": {"entry": "n.py", "include": ["/n.py", "/lib/"], "env": {"A": "1"}}}
F = Path("ironship.yml")


@pytest.mark.parametrize(
    "text",
    [
        "# top\nversion: 1\nworkers:\n  old:\n    entry: o.py\n    payload: |\n      text\n\n"
        "# about environments\nenvironments:\n  prod: {}\n",
        "version: 1\nworkers:\n    old: {entry: o.py}\n",
        "version: 1\nworkers:\n  old:\n    entry: o.py\n    include: [\n      a.py,\n    ]\n",
        "version: 1\nworkers:\n",
        "version: 1\nworkers: {}\ndefaults: {timeout: 3}\n",
        "version: 1\ndefaults: {timeout: 3}",
    ],
)
def test_entries_are_added_and_the_rest_is_kept(text: str) -> None:
    """The new worker parses as written, the old ones are unchanged, and every original
    line except an empty workers: value is still there, in order."""
    merged = add_entries(text, F, NEW)
    before = yaml.safe_load(text)
    after = yaml.safe_load(merged)
    assert after["workers"]["new"] == NEW["new"]
    for key, value in before.items():
        if key != "workers":
            assert after[key] == value
    for name, spec in (before.get("workers") or {}).items():
        assert after["workers"][name] == spec
    kept = [line for line in text.splitlines() if not line.startswith("workers:")]
    remaining = iter(merged.splitlines())
    assert all(any(line == m for m in remaining) for line in kept)


def test_flow_style_workers_are_refused_and_names_found() -> None:
    """A non-empty flow-style workers mapping is refused with a hint; existing names come
    with their lines; broken YAML is an error with its place."""
    with pytest.raises(IronshipError, match="flow style"):
        add_entries("version: 1\nworkers: {a: {entry: a.py}}\n", F, NEW)
    assert existing_workers("version: 1\nworkers:\n  a: {}\n  b: {}\n", F) == {"a": 3, "b": 4}
    with pytest.raises(IronshipError, match=r"ironship.yml:3:1: not valid YAML"):
        existing_workers("version: 1\nworkers: [\n", F)


def test_write_atomically_keeps_the_mode_and_leaves_no_scratch(tmp_path: Path) -> None:
    """The file is replaced whole, keeps its permissions, and no scratch file remains."""
    path = tmp_path / "ironship.yml"
    path.write_text("old\n")
    path.chmod(0o600)
    write_atomically(path, "new\n")
    assert path.read_text() == "new\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["ironship.yml"]
