"""iron_worker_ng ``.worker`` files read without Ruby: the plain directive forms only.

A ``.worker`` file is Ruby evaluated by the iron_worker_ng gem
(https://github.com/iron-io/iron_worker_ruby_ng, ``lib/iron_worker_ng/code/base.rb``); in
practice it is a list of directives such as ``runtime "python"``, ``exec 'worker.py'``,
``dir "lib"``, ``set_env "KEY", "value"``. This module reads exactly that subset: a directive
name followed by literal arguments (strings in either quote style, symbols, numbers, ``true``/
``false``/``nil``, arrays and hashes of those, ``key => value`` and ``key: value`` pairs), with
or without parentheses, ``#`` and ``=begin``/``=end`` comments, statements continued over
lines inside brackets or after a trailing comma or backslash.

Anything else (an ``if``, a variable, ``File.join(…)``, string interpolation, a heredoc) is
*reported* as a ``Skipped`` statement with its line, and never evaluated. Text the reader
cannot take apart at all (an unterminated string or bracket) raises IronshipError naming the
file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironship.errors import IronshipError

MAX_WORKERFILE_BYTES = 1 * 2**20
PLAIN_HINT = (
    "ironship reads .worker files without running Ruby: write the value as a literal "
    "(a quoted string, a symbol, a number), or add the setting to ironship.yml by hand"
)


@dataclass(frozen=True)
class Symbol:
    """A Ruby symbol (``:python``); converts like its name."""

    name: str


@dataclass(frozen=True)
class Directive:
    """One plain directive: ``name`` with its positional and ``key => value`` arguments."""

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[Any, Any], ...]
    line: int
    text: str


@dataclass(frozen=True)
class Skipped:
    """A statement that is not a plain directive: reported, never evaluated."""

    line: int
    end_line: int
    text: str
    why: str


@dataclass(frozen=True)
class WorkerFile:
    path: Path
    directives: tuple[Directive, ...]
    skipped: tuple[Skipped, ...] = field(default=())


@dataclass(frozen=True)
class _Tok:
    kind: str  # str, sym, num, name, label, arrow, op, nl
    value: Any
    line: int


_NAME = r"[A-Za-z_][A-Za-z0-9_]*[?!]?"
_PATTERNS = [
    ("ws", r"[ \t\r\f]+"),
    ("cont", r"\\\n"),
    ("comment", r"#[^\n]*"),
    ("nl", r"\n|;"),
    ("heredoc", r"<<[~-]?(?P<hq>['\"]?)(?P<hd>[A-Za-z_][A-Za-z0-9_]*)(?P=hq)"),
    ("arrow", r"=>"),
    ("label", rf"(?P<lb>{_NAME}):(?!:)"),
    ("sym", rf":(?P<sy>{_NAME}|\"[^\"\\]*\"|'[^'\\]*')"),
    ("num", r"-?\d[\d_]*(?:\.\d+)?"),
    ("name", rf"{_NAME}"),
    ("dq", r"\""),
    ("sq", r"'"),
    ("op", r"[()\[\]{},]"),
    ("other", r"."),
]
_LEXER = re.compile("|".join(f"(?P<{k}>{p})" for k, p in _PATTERNS))
_DQ_ESCAPES = {"n": "\n", "t": "\t", "s": " ", "0": "\0", "e": "\x1b", "r": "\r"}
_OPENERS = ("if", "unless", "case", "while", "until", "begin", "def", "class", "module", "for")


def read_workerfile(path: Path) -> WorkerFile:
    """Read and parse one ``.worker`` file; IronshipError when it can't be read at all."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IronshipError(
            f"{path}: no such file", hint="name an existing .worker file (a path, not a name)"
        ) from None
    except IsADirectoryError:
        raise IronshipError(
            f"{path} is a folder", hint=f"name the .worker files in it: {path}/*.worker"
        ) from None
    except OSError as exc:
        raise IronshipError(f"can't read {path}: {exc.strerror}") from None
    if len(raw) > MAX_WORKERFILE_BYTES:
        raise IronshipError(f"{path}: larger than 1 MB; not a .worker file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise IronshipError(f"{path}:{line}: not UTF-8 text", hint="save it as UTF-8") from None
    return parse_workerfile(text, path)


def parse_workerfile(text: str, path: Path) -> WorkerFile:
    """The directives and skipped statements of ``text`` (which came from ``path``).

    A Ruby block (``if`` … ``end``, ``… do`` … ``end``) is skipped whole, with everything in
    it: a directive inside a condition must not be imported as if it always ran.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    directives: list[Directive] = []
    skipped: list[Skipped] = []
    block: list[list[_Tok]] = []
    depth = 0
    for statement in _statements(_tokens(_strip_block_comments(lines), path), path):
        depth += _opens(statement) - (statement[0].value == "end" and statement[0].kind == "name")
        if block or depth > 0:
            block.append(statement)
            if depth <= 0:
                first, last = block[0][0].line, block[-1][-1].line
                why = f"a Ruby '{block[0][0].value}' block is not evaluated"
                skipped.append(Skipped(first, last, _text(lines, first, last), why))
                block, depth = [], 0
            continue
        item = _classify(statement, lines)
        if isinstance(item, Directive):
            directives.append(item)
        else:
            skipped.append(item)
    if block:
        first = block[0][0].line
        raise IronshipError(
            f"{path}:{first}: the '{block[0][0].value}' started here has no 'end'",
            hint="close the block with 'end' (ironship skips Ruby blocks without running them)",
        )
    return WorkerFile(path, tuple(directives), tuple(skipped))


def _opens(statement: list[_Tok]) -> int:
    """How many blocks a statement opens: a leading keyword, and each ``do``."""
    head = statement[0]
    leading = head.kind == "name" and head.value in _OPENERS
    return int(leading) + sum(1 for t in statement if t.kind == "name" and t.value == "do")


def _text(lines: list[str], first: int, last: int) -> str:
    text = " ".join(s.strip() for s in lines[first - 1 : last] if s.strip())
    return text if len(text) <= 120 else text[:117] + "..."


def _strip_block_comments(lines: list[str]) -> str:
    """``=begin`` … ``=end`` blanked out, keeping the line count."""
    out, inside = [], False
    for line in lines:
        if not inside and line.startswith("=begin"):
            inside = True
        if inside:
            out.append("")
            if line.startswith("=end"):
                inside = False
        else:
            out.append(line)
    return "\n".join(out)


def _tokens(text: str, path: Path) -> Iterator[_Tok]:
    pos, line = 0, 1
    heredocs: list[str] = []
    while pos < len(text):
        match = _LEXER.match(text, pos)
        assert match is not None  # "other" matches any character
        kind, start = match.lastgroup or "other", pos
        pos = match.end()
        if kind in ("dq", "sq"):
            value, pos, interpolated = _string(text, pos, text[start], path, line)
            yield _Tok("interp" if interpolated else "str", value, line)
        elif kind == "nl" and match.group() == "\n" and heredocs:
            pos = _skip_heredocs(text, pos, heredocs)
            heredocs = []
            yield _Tok("nl", None, line)
        elif kind == "heredoc":
            heredocs.append(match.group("hd"))
            yield _Tok("other", match.group(), line)
        else:
            tok = _simple(kind, match, line)
            if tok is not None:
                yield tok
        line += text.count("\n", start, pos)
    yield _Tok("nl", None, line)


def _simple(kind: str, match: re.Match[str], line: int) -> _Tok | None:
    """The token of a match that needs no look beyond itself (None: nothing to yield)."""
    if kind in ("ws", "comment", "cont"):  # a backslash-newline joins the lines
        return None
    if kind == "label":
        return _Tok("label", match.group("lb"), line)
    if kind == "sym":
        return _Tok("sym", Symbol(match.group("sy").strip("'\"")), line)
    if kind == "num":
        raw = match.group().replace("_", "")
        return _Tok("num", float(raw) if "." in raw else int(raw), line)
    return _Tok(kind, match.group(), line)


def _string(text: str, pos: int, quote: str, path: Path, line: int) -> tuple[str, int, bool]:
    """A quoted string from just after its opening quote: (value, end, interpolated)."""
    out: list[str] = []
    interpolated = False
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return "".join(out), pos + 1, interpolated
        if char == "\\" and pos + 1 < len(text):
            nxt = text[pos + 1]
            if quote == "'":
                out.append(nxt if nxt in "\\'" else char + nxt)
            else:
                out.append(_DQ_ESCAPES.get(nxt, nxt))
            pos += 2
            continue
        if quote == '"' and text.startswith("#{", pos):
            interpolated = True
        out.append(char)
        pos += 1
    raise IronshipError(
        f"{path}:{line}: a string opened with {quote} is never closed",
        hint=f"close it with {quote} on the same statement",
    )


def _skip_heredocs(text: str, pos: int, terminators: list[str]) -> int:
    for term in terminators:
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            body, pos = text[pos:end], end + 1
            if body.strip() == term:
                break
    return min(pos, len(text))


def _statements(tokens: Iterator[_Tok], path: Path) -> Iterator[list[_Tok]]:
    """Tokens grouped into statements: a newline ends one unless brackets are open or the
    line ends with a ',' or an '=>'."""
    current: list[_Tok] = []
    depth: list[_Tok] = []
    for tok in tokens:
        if tok.kind == "nl":
            continued = bool(current) and (current[-1].kind == "arrow" or current[-1].value == ",")
            if tok.value is not None and (depth or continued):
                continue
            if current and not depth:
                yield current
                current = []
            continue
        if tok.kind == "op" and tok.value in "([{":
            depth.append(tok)
        elif tok.kind == "op" and tok.value in ")]}":
            if not depth:
                raise IronshipError(
                    f"{path}:{tok.line}: '{tok.value}' closes nothing",
                    hint="remove it, or open the bracket it closes",
                )
            depth.pop()
        current.append(tok)
    if depth:
        opened = depth[-1]
        raise IronshipError(
            f"{path}:{opened.line}: '{opened.value}' is never closed",
            hint="close the bracket (or remove it)",
        )
    if current:
        yield current


def _classify(statement: list[_Tok], lines: list[str]) -> Directive | Skipped:
    first, last = statement[0].line, statement[-1].line
    text = _text(lines, first, last)
    try:
        name, args, kwargs = _directive(statement)
    except _NotPlain as exc:
        return Skipped(first, last, text, exc.why)
    return Directive(name, args, kwargs, first, text)


class _NotPlain(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _directive(toks: list[_Tok]) -> tuple[str, tuple[Any, ...], tuple[tuple[Any, Any], ...]]:
    head = toks[0]
    if head.kind != "name":
        raise _NotPlain("not a directive (a directive starts with its name)")
    if head.value == "end":
        raise _NotPlain("an 'end' without a block")
    rest = toks[1:]
    if rest and rest[0].value == "(" and _closing(rest, 0) == len(rest) - 1:
        rest = rest[1:-1]
    args, kwargs = _arguments(rest)
    return head.value, tuple(args), tuple(kwargs)


def _closing(toks: list[_Tok], start: int) -> int:
    depth = 0
    for i in range(start, len(toks)):
        if toks[i].kind == "op" and toks[i].value in "([{":
            depth += 1
        elif toks[i].kind == "op" and toks[i].value in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _arguments(toks: list[_Tok]) -> tuple[list[Any], list[tuple[Any, Any]]]:
    args: list[Any] = []
    kwargs: list[tuple[Any, Any]] = []
    pos = 0
    while pos < len(toks):
        key: Any
        if toks[pos].kind == "label":
            key = Symbol(str(toks[pos].value))
            value, pos = _value(toks, pos + 1)
            kwargs.append((key, value))
        else:
            value, pos = _value(toks, pos)
            if pos < len(toks) and toks[pos].kind == "arrow":
                key = value
                value, pos = _value(toks, pos + 1)
                kwargs.append((key, value))
            elif kwargs:
                raise _NotPlain("a positional argument after key => value pairs")
            else:
                args.append(value)
        if pos < len(toks):
            if toks[pos].value != ",":
                raise _NotPlain(f"'{toks[pos].value}' where a ',' or the end was expected")
            pos += 1
            if pos == len(toks):
                raise _NotPlain("a trailing ',' with nothing after it")
    return args, kwargs


def _value(toks: list[_Tok], pos: int) -> tuple[Any, int]:
    if pos >= len(toks):
        raise _NotPlain("a value is missing")
    tok = toks[pos]
    if tok.kind in ("str", "sym", "num"):
        return tok.value, pos + 1
    if tok.kind == "interp":
        raise _NotPlain('string interpolation ("#{…}") is not evaluated')
    if tok.kind == "name" and tok.value in ("true", "false", "nil"):
        return {"true": True, "false": False, "nil": None}[tok.value], pos + 1
    if tok.kind == "op" and tok.value == "[":
        return _array(toks, pos + 1)
    if tok.kind == "op" and tok.value == "{":
        return _hash(toks, pos + 1)
    if tok.kind == "name":
        raise _NotPlain(f"'{tok.value}' is a Ruby expression, not a literal value")
    raise _NotPlain(f"'{tok.value}' is not a literal value")


def _array(toks: list[_Tok], pos: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while pos < len(toks) and toks[pos].value != "]":
        item, pos = _value(toks, pos)
        items.append(item)
        if pos < len(toks) and toks[pos].value == ",":
            pos += 1
        elif pos < len(toks) and toks[pos].value != "]":
            raise _NotPlain(f"'{toks[pos].value}' inside an array")
    return items, pos + 1


def _hash(toks: list[_Tok], pos: int) -> tuple[dict[Any, Any], int]:
    out: dict[Any, Any] = {}
    while pos < len(toks) and toks[pos].value != "}":
        if toks[pos].kind == "label":
            key: Any = Symbol(str(toks[pos].value))
            pos += 1
        else:
            key, pos = _value(toks, pos)
            if pos >= len(toks) or toks[pos].kind != "arrow":
                raise _NotPlain("a hash entry without '=>'")
            pos += 1
        out[key], pos = _value(toks, pos)
        if pos < len(toks) and toks[pos].value == ",":
            pos += 1
        elif pos < len(toks) and toks[pos].value != "}":
            raise _NotPlain(f"'{toks[pos].value}' inside a hash")
    return out, pos + 1
