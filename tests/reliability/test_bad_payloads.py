"""Hostile --payload values: each is a located, clear error with exit 1, nothing queued."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Cli, Project, Run, write_tree

MANIFEST = "version: 1\nworkers:\n  quick:\n    root: q\n    entry: main.py\n"


@pytest.fixture
def cli(tmp_path: Path, project_cli: Cli) -> Cli:
    """`ironship ARGS` in a deployed one-worker project of this test's own."""
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "q/main.py": "print('hi')\n"})

    run = project_cli

    assert run("apply", "-y").code == 0
    return run


def _refused(res: Run, *needles: str) -> None:
    assert res.code == 1, (res.out, res.err)
    assert "internal error" not in res.err and "Traceback" not in res.err
    for needle in needles:
        assert needle in res.err, res.err


def _no_tasks(project: Project) -> None:
    assert project.client().list_tasks(code_name="quick") == []


@pytest.mark.parametrize(
    ("payload", "needles"),
    [
        ('{"a": 1e999}', ("--payload: not valid JSON", "too large")),
        ('{"a": NaN}', ("--payload: not valid JSON", "NaN is not a JSON value")),
        ('{"a": -Infinity}', ("--payload: not valid JSON", "-Infinity")),
        ('{"a": [1, 2,]}', ("--payload: not valid JSON", "line 1 column")),
        ("[" * 100_000 + "]" * 100_000, ("--payload: JSON nested more than 200 levels",)),
    ],
)
def test_inline_payloads_that_are_not_plain_json_are_refused(
    cli: Cli, project: Project, payload: str, needles: tuple[str, ...]
) -> None:
    """NaN, Infinity, 1e999, bad syntax and 100,000 levels of nesting are each refused clearly."""
    _refused(cli("queue", "quick", "--payload", payload), *needles)
    _no_tasks(project)


def test_payload_file_with_non_utf8_bytes_is_refused_at_its_place(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A payload file holding a non-UTF-8 byte is refused with its line and column."""
    (tmp_path / "p.json").write_bytes(b'{"a":\n  "\xff"}')
    _refused(cli("queue", "quick", "--payload", "@p.json"), "--payload @p.json:2:4: not UTF-8")
    _no_tasks(project)


def test_payload_from_an_endless_file_reads_at_most_64_kb(cli: Cli, project: Project) -> None:
    """`--payload @/dev/zero` stops after 64 KB + 1 byte and says the file is too large."""
    _refused(cli("queue", "quick", "--payload", "@/dev/zero"), "larger than 65536 bytes")
    _no_tasks(project)


def test_a_valid_payload_still_queues(cli: Cli, project: Project) -> None:
    """Ordinary JSON with floats and strings that look like constants still queues."""
    res = cli("queue", "quick", "--payload", '{"x": 1.5e3, "s": "NaN [[[", "n": [[1]]}')
    assert res.code == 0, res.err
    assert len(project.client().list_tasks(code_name="quick")) == 1
