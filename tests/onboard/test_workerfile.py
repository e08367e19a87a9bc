"""The .worker reader: plain directives in every literal form, everything else reported with
its line and never evaluated, unreadable text an error naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironship.errors import IronshipError
from ironship.onboard.workerfile import Directive, Symbol, parse_workerfile, read_workerfile

WF = Path("w.worker")


def directives(text: str) -> list[tuple[str, tuple[object, ...], tuple[object, ...], int]]:
    return [(d.name, d.args, d.kwargs, d.line) for d in parse_workerfile(text, WF).directives]


def test_plain_forms_quotes_symbols_parentheses_and_comments() -> None:
    """Both quote styles, symbols, numbers, booleans, parentheses and # comments parse."""
    text = (
        "# a comment\n"
        "runtime 'python'   # trailing comment\n"
        'exec("worker.py")\n'
        'set_env :MODE, "it\'s #1"\n'
        "set_env 'N', 3\n"
        "full_remote_build true\n"
        "remote\n"
    )
    assert directives(text) == [
        ("runtime", ("python",), (), 2),
        ("exec", ("worker.py",), (), 3),
        ("set_env", (Symbol("MODE"), "it's #1"), (), 4),
        ("set_env", ("N", 3), (), 5),
        ("full_remote_build", (True,), (), 6),
        ("remote", (), (), 7),
    ]


def test_hash_arguments_in_every_spelling() -> None:
    """Hash arguments: ``:k => v``, ``"k" => v``, ``k: v`` and a braced hash, arrays too."""
    text = "zip 'a.zip', :dest => 'x', 'n' => 1, deep: [1, 'two']\ngem 'g', {'require' => false}\n"
    assert directives(text) == [
        ("zip", ("a.zip",), ((Symbol("dest"), "x"), ("n", 1), (Symbol("deep"), [1, "two"])), 1),
        ("gem", ("g", {"require": False}), (), 2),
    ]


def test_escapes_follow_ruby_quote_rules() -> None:
    """Single quotes keep backslashes except before ' and \\; double quotes interpret them."""
    (d,) = parse_workerfile("set_env 'A', 'a\\nb\\'c'\n", WF).directives
    assert d.args == ("A", "a\\nb'c")
    (d,) = parse_workerfile('set_env "A", "a\\tb\\"c"\n', WF).directives
    assert d.args == ("A", 'a\tb"c')


def test_statements_continue_over_lines_and_split_on_semicolons() -> None:
    """A trailing comma, an open bracket or a backslash continues a statement; ';' splits."""
    text = "gemfile 'Gemfile',\n  'default'\nzip('a.zip',\n 'b')\nfile \\\n 'x'\ndeb 'a'; deb 'b'\n"
    assert [(d.name, d.args, d.line) for d in parse_workerfile(text, WF).directives] == [
        ("gemfile", ("Gemfile", "default"), 1),
        ("zip", ("a.zip", "b"), 3),
        ("file", ("x",), 5),
        ("deb", ("a",), 7),
        ("deb", ("b",), 7),
    ]


def test_ruby_expressions_are_reported_with_their_lines_never_run(tmp_path: Path) -> None:
    """Interpolation, method calls, variables and blocks are skipped with their lines; a
    directive inside an if is skipped with the block, and =begin/=end is a comment."""
    marker = tmp_path / "ran"
    text = (
        "runtime 'ruby'\n"
        f"exec File.write('{marker}', 'x') && 'w.rb'\n"
        'set_env "WHEN", "#{Time.now}"\n'
        "if ENV['STAGING']\n"
        "  pip 'debug'\n"
        "  [1].each do |x|\n"
        "    gem 'x'\n"
        "  end\n"
        "end\n"
        "=begin\n"
        "gem 'commented'\n"
        "=end\n"
        "base = 'lib'\n"
        "dir 'lib' if ENV['X']\n"
        "exec 'w.rb'\n"
    )
    wf = parse_workerfile(text, WF)
    assert [(d.name, d.line) for d in wf.directives] == [("runtime", 1), ("exec", 15)]
    assert [(s.line, s.end_line) for s in wf.skipped] == [
        (2, 2),
        (3, 3),
        (4, 9),
        (13, 13),
        (14, 14),
    ]
    assert "interpolation" in wf.skipped[1].why
    assert "'if' block" in wf.skipped[2].why
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("runtime 'python'\nexec 'w.py\n", 2, "never closed"),
        ("runtime 'python'\nzip('a',\n  'b'\n", 2, "'(' is never closed"),
        ("exec 'a')\n", 1, "closes nothing"),
        ("runtime 'ruby'\nif x\n  exec 'a'\n", 2, "has no 'end'"),
    ],
)
def test_unreadable_syntax_is_an_error_with_file_and_line(text: str, line: int, what: str) -> None:
    """An unterminated string, bracket or block is an error naming the file and line."""
    with pytest.raises(IronshipError) as caught:
        parse_workerfile(text, WF)
    assert caught.value.message.startswith(f"w.worker:{line}:")
    assert what in caught.value.message
    assert caught.value.hint


def test_unreadable_files_are_errors(tmp_path: Path) -> None:
    """A missing file, a folder and non-UTF-8 bytes are errors naming the path."""
    with pytest.raises(IronshipError, match="no such file"):
        read_workerfile(tmp_path / "nope.worker")
    with pytest.raises(IronshipError, match="is a folder"):
        read_workerfile(tmp_path)
    bad = tmp_path / "bad.worker"
    bad.write_bytes(b"runtime 'ruby'\nexec '\xff'\n")
    with pytest.raises(IronshipError, match=r"bad.worker:2: not UTF-8"):
        read_workerfile(bad)


def test_directive_keeps_its_text() -> None:
    """Each directive remembers the statement it came from, for messages."""
    (d,) = parse_workerfile("  stack 'python-3.11'\n", WF).directives
    assert d == Directive("stack", ("python-3.11",), (), 1, "stack 'python-3.11'")


def test_a_heredoc_is_skipped_whole() -> None:
    """A heredoc's body is not read as directives; the statement holding it is reported."""
    text = "build <<-EOS\n  exec 'not.rb'\nEOS\nexec 'a.rb'\n"
    wf = parse_workerfile(text, WF)
    assert [(d.name, d.args, d.line) for d in wf.directives] == [("exec", ("a.rb",), 4)]
    assert [s.line for s in wf.skipped] == [1]
