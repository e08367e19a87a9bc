"""The walk's compiled selection (one expression per pattern list) decides exactly as the
pattern-by-pattern gitignore check it stands in for (packaging/fileset.py, ``_Rules``)."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from pathlib import Path

import pytest

from ironship.manifest.models import Worker
from ironship.packaging.fileset import IGNORE_FILE, _Rules, select_files

PATTERNS = [
    "*.log",
    "build/",
    "/dist",
    "docs/**",
    "**/cache",
    "lib/*.py",
    "a?c.txt",
    "[ab]*.md",
    "*.pyc",
    "__pycache__/",
    "!keep.log",
    "!lib/keep.py",
    "node_modules/",
    "*.DS_Store",
    "deep/**/x.txt",
    "\\#hash",
    "# a comment",
    "",
    "spaced\\ name",
]
NAMES = ["main.py", "x.log", "keep.log", "abc.txt", "a.md", "c.md", "x.pyc", "x.txt", ".DS_Store"]
FOLDERS = ["", "lib/", "build/", "dist/", "docs/", "a/cache/", "deep/b/", "__pycache__/", "src/"]
FILES = [f + n for f, n in itertools.product(FOLDERS, NAMES)] + [
    IGNORE_FILE,
    ".git/config",
    "sub/.ironship/state",
    "node_modules/pkg/index.js",
    "lib/keep.py",
    "#hash",
    "spaced name",
]


def rules_for(tmp_path: Path, include: list[str], exclude: list[str], ignore: str) -> _Rules:
    (tmp_path / IGNORE_FILE).write_text(ignore)
    worker = Worker(name="w", root=tmp_path, entry="main.py", runtime="python")
    worker = replace(worker, include=tuple(include), exclude=tuple(exclude))
    return _Rules(worker, str(tmp_path), replaced=("node_modules/",))


def test_compiled_selection_matches_the_gitignore_check(tmp_path: Path) -> None:
    """Seeded random pattern lists (with and without '!' lines, include lists, ignore
    files): every path ships under the fast check exactly when no pattern excludes it."""
    rng = random.Random(20261201)
    for _ in range(300):
        include = rng.sample(PATTERNS, rng.randint(0, 2)) if rng.random() < 0.4 else []
        exclude = rng.sample(PATTERNS, rng.randint(0, 4))
        ignore = "\n".join(rng.sample(PATTERNS, rng.randint(0, 3)))
        rules = rules_for(tmp_path, include, exclude, ignore)
        for rel in FILES:
            assert rules.ships(rel) == (rules.why_excluded(rel) is None), (
                rel,
                include,
                exclude,
                ignore,
            )
        for folder in [f.rstrip("/") for f in FOLDERS if f] + [".git", "a", "deep", "sub"]:
            pruned = rules.hard.match_file(folder + "/") or (
                rules.can_prune and rules.ignore.match_file(folder + "/")
            )
            assert rules.prune(folder) == pruned, (folder, exclude, ignore)


@pytest.mark.parametrize(
    ("exclude", "expected"),
    [
        (["*.log"], ["keep.md", "main.py", "x.pyc.md"]),
        (["*.log", "!keep.log"], ["keep.log", "keep.md", "main.py", "x.pyc.md"]),
        (["lib/"], ["keep.log", "keep.md", "main.py", "x.log", "x.pyc.md"]),
    ],
)
def test_selected_files_are_unchanged(
    tmp_path: Path, exclude: list[str], expected: list[str]
) -> None:
    """Whole selections through the walk, with and without negation."""
    for rel in ["main.py", "x.log", "keep.log", "keep.md", "x.pyc.md", "lib/a.log"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / "lib" / "x.pyc").write_text("")
    worker = Worker(name="w", root=tmp_path, entry="main.py", runtime="python")
    files = select_files(replace(worker, exclude=tuple(exclude)))
    shipped = [f.path for f in files if not f.path.startswith("lib/")]
    assert shipped == expected
    assert all(f.source == tmp_path / f.path for f in files)


def test_the_default_lists_expressions_are_pathspecs_own() -> None:
    """A worker with only the default lists is selected without loading pathspec, through
    expressions written down once: each must be exactly what pathspec builds today."""
    import pathspec

    from ironship.packaging import fileset

    for pattern, written in fileset._DEFAULT_EXPRESSIONS.items():
        (compiled,) = pathspec.GitIgnoreSpec.from_lines([pattern]).patterns
        assert compiled.regex is not None and compiled.include
        built = fileset._NAMED_GROUP.sub("(?:", compiled.regex.pattern)
        assert built == written, pattern
    assert set(fileset._DEFAULT_EXPRESSIONS) == set(fileset.DEFAULT_EXCLUDES)
