"""What `ironship validate` tells users about broken manifests: every problem, located, with a hint.

The fixtures live in tests/manifests/ (next to small worker trees they point at); manifests too
big or too odd to keep as files (64 KB payloads, symlinks, bad encodings) are written per test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ironship.errors import IronshipError, ManifestError
from ironship.manifest.load import load_manifest, validate_manifest

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"

ROOT_HINT = "paths are relative to the worker's root 'workers/fib'"
PATTERN_HINT = "patterns are gitignore-style, relative to the worker's root 'workers/fib'"
KEEP_ONE = "rename or remove one: YAML would silently keep only the last"
REMOVE_ONE = "remove one: YAML would silently keep only the last"
RETRIES_HINT = "How many times IronWorker re-queues a failed task (0 to 10)."
SCHEMA_HINT = "'ironship schema' prints the manifest's JSON Schema"
NOT_PACKAGED = "the package would not contain the file IronWorker runs"

# file -> every line `ironship validate` prints for it, in order (FILE is the path as given).
EXPECTED: dict[str, list[str]] = {
    "minimal.yml": [],
    "full.yml": [],
    "yaml-features.yml": [],
    "unknown-key.yml": [
        "unknown-key.yml:3:3: defaults.entry: 'entry' can't have a default"
        " (hint: set 'entry' on each worker)",
        "unknown-key.yml:8:5: workers.fib.max_concurency: unknown key 'max_concurency'"
        " (hint: did you mean 'max_concurrency'?)",
        "unknown-key.yml:9:5: workers.fib.envv: unknown key 'envv' (hint: did you mean 'env'?)",
        "unknown-key.yml:10:1: colour: unknown key 'colour'"
        " (hint: allowed keys: version, defaults, workers, environments)",
    ],
    "bad-yaml.yml": [
        "bad-yaml.yml:4:18: invalid YAML: mapping values are not allowed here"
        " (hint: check the indentation and quoting on this line and the one before)",
    ],
    "tabs.yml": [
        "tabs.yml:3:1: invalid YAML: found character '\\t' that cannot start any token"
        " (while scanning for the next token) (hint: YAML indents with spaces, not tabs)",
    ],
    "empty.yml": [
        "empty.yml: the manifest is empty (hint: start with 'version: 1' and 'workers:')",
    ],
    "bad-version.yml": [
        "bad-version.yml:1:10: version: unsupported manifest version 2"
        " (hint: this ironship reads 'version: 1')",
    ],
    "missing-entry.yml": [
        f"missing-entry.yml:5:12: workers.fib.entry: 'fibb.py' does not exist"
        f" (hint: {ROOT_HINT}; did you mean 'fib.py'?)",
        f"missing-entry.yml:8:12: workers.folder.entry: 'lib' is not a file (hint: {ROOT_HINT})",
        "missing-entry.yml:10:3: workers.noentry: missing required key 'entry' (hint: name the"
        " file IronWorker runs, relative to the worker's root (e.g. 'entry: fib.py'))",
    ],
    "no-runtime.yml": [
        "no-runtime.yml:5:12: workers.tool.entry: can't tell the runtime of 'run'"
        " (hint: add 'runtime:' (python, php, node, ruby, sh, binary))",
    ],
    # Both blocks of `fib` are validated, each at its own lines; both duplicates at both lines.
    "duplicate-worker.yml": [
        "duplicate-worker.yml:3:3: workers.fib: worker 'fib' is declared twice,"
        f" at lines 3 and 9 (hint: {KEEP_ONE})",
        f"duplicate-worker.yml:5:12: workers.fib.entry: 'fibb.py' does not exist"
        f" (hint: {ROOT_HINT}; did you mean 'fib.py'?)",
        "duplicate-worker.yml:6:14: workers.fib.runtime: 'pyhton' is not one of: python, php,"
        " node, ruby, sh, binary (hint: did you mean 'python'?)",
        "duplicate-worker.yml:7:14: workers.fib.retries: 11 is more than the maximum 10"
        f" (hint: {RETRIES_HINT})",
        "duplicate-worker.yml:8:5: workers.fib.colour: unknown key 'colour' (hint: allowed keys:"
        " root, entry, runtime, include, exclude, payload, config, env, max_concurrency,"
        " retries, retries_delay, priority, timeout, requirements, python, build_from_source,"
        " pip_args, stack, separator, smoke, schedules)",
        "duplicate-worker.yml:9:3: workers.fib: worker 'fib' is declared twice,"
        f" at lines 3 and 9 (hint: {KEEP_ONE})",
        "duplicate-worker.yml:12:5: workers.fib.retries: key 'retries' appears twice,"
        f" at lines 12 and 13 (hint: {REMOVE_ONE})",
        "duplicate-worker.yml:12:14: workers.fib.retries: 12 is more than the maximum 10"
        f" (hint: {RETRIES_HINT})",
        "duplicate-worker.yml:13:5: workers.fib.retries: key 'retries' appears twice,"
        f" at lines 12 and 13 (hint: {REMOVE_ONE})",
    ],
    "path-escape.yml": [
        "path-escape.yml:4:11: workers.up.root: '..' leaves the manifest's folder"
        " (hint: keep every worker in the manifest's folder or below it)",
        "path-escape.yml:7:11: workers.abs.root: '/tmp' is an absolute path"
        " (hint: root is relative to the manifest's folder (the current folder))",
        "path-escape.yml:11:12: workers.sibling.entry: '../hello/hello.sh' leaves the worker's"
        f" root (hint: {ROOT_HINT})",
        "path-escape.yml:15:23: workers.pattern.include[1]: pattern '../hello/*' leaves the"
        f" worker's root (hint: {PATTERN_HINT})",
    ],
    "bad-root.yml": [
        "bad-root.yml:4:11: workers.typo.root: folder 'workers/fibb' does not exist (hint: root"
        " is relative to the manifest's folder (the current folder); did you mean 'workers/fib'?)",
        "bad-root.yml:7:11: workers.file.root: 'workers/fib/fib.py' is not a folder"
        " (hint: root is relative to the manifest's folder (the current folder))",
    ],
    "bad-pattern.yml": [
        f"bad-pattern.yml:8:9: workers.fib.include[1]: pattern '*.txt' matches no file under"
        f" 'workers/fib' (hint: {PATTERN_HINT})",
        "bad-pattern.yml:9:9: workers.fib.include[2]: invalid pattern 'lib\\':"
        f" Invalid git pattern: 'lib\\\\' (hint: {PATTERN_HINT})",
        f"bad-pattern.yml:11:7: workers.fib.exclude: excludes the entry 'fib.py'"
        f" (hint: {NOT_PACKAGED})",
        f"bad-pattern.yml:12:9: workers.fib.exclude[1]: pattern '*.md' matches no file under"
        f" 'workers/fib' (hint: {PATTERN_HINT})",
        f"bad-pattern.yml:16:14: workers.lib.include: no pattern includes the entry 'fib.py'"
        f" (hint: {NOT_PACKAGED})",
    ],
    "bad-defaults.yml": [
        "bad-defaults.yml:3:9: defaults.root: folder 'workers/nope' does not exist"
        " (hint: root is relative to the manifest's folder (the current folder))",
    ],
    "default-patterns.yml": [
        "default-patterns.yml:3:13: defaults.exclude[0]: pattern '*.pyc' matches no file"
        " under any worker's root (hint: default patterns are relative to each worker's root)",
    ],
    "wrong-types.yml": [
        "wrong-types.yml:6:14: workers.fib.retries: expected an integer, got a string ('3')"
        " (hint: remove the quotes)",
        "wrong-types.yml:7:22: workers.fib.max_concurrency: 0 is not allowed here (hint: How"
        " many tasks of this worker may run at once: an integer of at least 1, or -1 for no"
        " limit.)",
        "wrong-types.yml:8:15: workers.fib.priority: 5 is not one of: 0, 1, 2",
        "wrong-types.yml:9:14: workers.fib.timeout: 7200 is more than the maximum 3600"
        " (hint: Seconds a task may run before IronWorker stops it (1 to 3600).)",
        "wrong-types.yml:10:14: workers.fib.runtime: 'pyhton' is not one of: python, php, node,"
        " ruby, sh, binary (hint: did you mean 'python'?)",
        "wrong-types.yml:12:13: workers.fib.env.PORT: expected a string, got a number (8080)"
        ' (hint: quote it to keep it a string: "8080")',
        "wrong-types.yml:13:14: workers.fib.env.DEBUG: expected a string, got a boolean (true)"
        ' (hint: quote it to keep it a string: "yes")',
        "wrong-types.yml:14:7: workers.fib.env.IRONSHIP_DIGEST: environment variable"
        " 'IRONSHIP_DIGEST' is reserved (hint: ironship stamps every upload with IRONSHIP_*"
        " variables; pick another name)",
        "wrong-types.yml:15:7: workers.fib.env.2BAD: invalid environment variable name '2BAD'"
        " (hint: use letters, digits and '_', not starting with a digit)",
        "wrong-types.yml:16:13: workers.fib.config: expected a mapping, got a list",
        "wrong-types.yml:17:14: workers.fib.include: expected a list, got a string ('*.py')",
        "wrong-types.yml:18:3: workers[\"bad name\"]: invalid worker name 'bad name' (hint: use"
        " letters, digits, '_', '.' and '-': the name is the code package's name)",
        "wrong-types.yml:21:8: workers.str: expected a mapping, got a string ('fib.py')"
        " (hint: a worker is a mapping of settings, e.g. 'entry: fib.py')",
    ],
    # One problem per value: a word where 0, 1 or 2 goes is a wrong type, not also a wrong value.
    "wrong-words.yml": [
        "wrong-words.yml:4:13: defaults.priority: expected an integer, got a number (1.5)"
        " (hint: use one of: 0, 1, 2)",
        "wrong-words.yml:9:15: workers.fib.priority: expected an integer, got a string ('high')"
        " (hint: give 0, 1 or 2)",
    ],
    "bad-smoke.yml": [
        "bad-smoke.yml:11:18: workers.fib.smoke[0].output.block: 'middle' is not one of:"
        " first, last, all",
        "bad-smoke.yml:12:15: workers.fib.smoke[1].name: smoke test name 'one' is already used"
        " on line 8 (hint: give each test of a worker its own name)",
        "bad-smoke.yml:13:17: workers.fib.smoke[1].status: 'done' is not one of: complete,"
        " error, timeout",
        "bad-smoke.yml:15:26: workers.fib.smoke[1].output.schema.type: not a valid JSON Schema:"
        " type: 'strin' is not a JSON Schema type (string, number, integer, boolean, object,"
        " array, null) (hint: see https://json-schema.org/draft/2020-12)",
        "bad-smoke.yml:16:20: workers.fib.smoke[1].output.matches: invalid regular expression:"
        " unterminated character set at position 1"
        " (hint: Python re syntax; quote the value with ' in YAML)",
        "bad-smoke.yml:18:9: workers.fib.smoke[2].output: no matcher: the output would not be"
        " checked (hint: add one of: equals, subset, schema, contains, matches)",
        "bad-smoke.yml:21:27: workers.fib.smoke[2].log.matches[1]: invalid regular expression:"
        " missing ), unterminated subpattern at position 0"
        " (hint: Python re syntax; quote the value with ' in YAML)",
        "bad-smoke.yml:22:11: workers.fib.smoke[2].log.contain: unknown key 'contain'"
        " (hint: did you mean 'contains'?)",
        "bad-smoke.yml:23:23: workers.fib.smoke[2].max_duration: max_duration 120 is longer"
        " than the test's timeout 60 (hint: raise the timeout or lower max_duration)",
        "bad-smoke.yml:24:9: workers.fib.smoke[3]: missing required key 'name'"
        " (hint: give every smoke test a name)",
        "bad-smoke.yml:25:18: workers.fib.smoke[3].timeout: 0 must be more than 0 (hint: Seconds"
        " the whole test may take, from queueing to the finished log. Default: 60.)",
    ],
    "odd-values.yml": [
        "odd-values.yml:7:12: workers.fib.payload.ref: YAML tag '!Ref' has no JSON equivalent"
        " (hint: use plain strings, numbers, lists and mappings)",
        "odd-values.yml:9:12: workers.fib.payload.nan: not a finite number"
        " (hint: use plain strings, numbers, lists and mappings)",
    ],
}
# Fixtures with a problem the JSON Schema found: only their errors point to `ironship schema`.
FROM_SCHEMA = {
    "bad-smoke.yml",
    "bad-version.yml",
    "duplicate-worker.yml",
    "missing-entry.yml",
    "unknown-key.yml",
    "wrong-types.yml",
    "wrong-words.yml",
}


@pytest.fixture
def in_manifests(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from tests/manifests so FILE in the messages is the bare name the user typed."""
    monkeypatch.chdir(MANIFESTS)
    return MANIFESTS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_messages(in_manifests: Path, name: str) -> None:
    """Each fixture manifest yields exactly the located messages users must see, in file order."""
    assert validate_manifest(Path(name)) == EXPECTED[name]


def test_every_fixture_is_in_the_table() -> None:
    """No fixture manifest in tests/manifests goes unchecked."""
    assert sorted(p.name for p in MANIFESTS.glob("*.yml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(n for n, lines in EXPECTED.items() if lines))
def test_load_raises_with_every_problem(in_manifests: Path, name: str) -> None:
    """load_manifest raises one ManifestError holding the same problems validate reports."""
    with pytest.raises(ManifestError) as caught:
        load_manifest(Path(name))
    assert caught.value.problems == EXPECTED[name]
    count = len(EXPECTED[name])
    assert str(caught.value).startswith(
        f"{count} problem{'s' if count > 1 else ''} in the manifest"
    )
    assert caught.value.hint == (SCHEMA_HINT if name in FROM_SCHEMA else None)


def test_schema_hint_only_for_schema_problems(in_manifests: Path) -> None:
    """`ironship schema` is suggested for a wrong key or type, not for bad YAML or missing files."""
    for name in ("bad-yaml.yml", "empty.yml", "missing-entry.yml", "wrong-types.yml"):
        with pytest.raises(ManifestError) as caught:
            load_manifest(Path(name))
        assert caught.value.hint == (SCHEMA_HINT if name in FROM_SCHEMA else None), name
    with pytest.raises(IronshipError) as missing:
        load_manifest(Path("nowhere.yml"))
    assert missing.value.hint is not None and "ironship schema" not in missing.value.hint


def test_messages_name_the_file_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """FILE in a message is the path exactly as the user passed it, not an absolute one."""
    monkeypatch.chdir(MANIFESTS.parent)
    [line] = validate_manifest(Path("manifests/bad-version.yml"))
    assert line.startswith("manifests/bad-version.yml:1:10: version: ")
    [line] = validate_manifest(Path("manifests/bad-root.yml"))[1:]
    assert line.endswith("(hint: root is relative to the manifest's folder 'manifests')")


def test_missing_file_is_an_ironship_error(tmp_path: Path) -> None:
    """A missing manifest is one IronshipError naming the file, with a hint to pass -f."""
    missing = tmp_path / "ironship.yml"
    with pytest.raises(IronshipError) as caught:
        validate_manifest(missing)
    assert caught.value.message == f"{missing} not found"
    assert caught.value.hint is not None and "pass -f FILE" in caught.value.hint
    with pytest.raises(IronshipError, match="not found"):
        load_manifest(missing)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    """Passing a folder says so and suggests the manifest inside it."""
    with pytest.raises(IronshipError) as caught:
        validate_manifest(tmp_path)
    assert caught.value.message == f"{tmp_path} is a folder, not a manifest"
    assert caught.value.hint == f"pass -f {tmp_path / 'ironship.yml'}"


def write(folder: Path, text: str, name: str = "ironship.yml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def worker_tree(folder: Path) -> None:
    (folder / "w").mkdir()
    (folder / "w" / "main.py").write_text("print('hi')\n")


def test_not_utf8(tmp_path: Path) -> None:
    """A manifest that isn't UTF-8 is a problem, not a traceback."""
    path = tmp_path / "ironship.yml"
    path.write_bytes(b"version: 1\nworkers: {}\n# \xff\n")
    [line] = validate_manifest(path)
    assert line == f"{path}:3:3: not UTF-8 text (invalid start byte) (hint: save the file as UTF-8)"


def test_two_documents_are_located(tmp_path: Path) -> None:
    """A second YAML document is reported where it starts."""
    path = write(tmp_path, "version: 1\nworkers: {}\n---\nversion: 1\n")
    [line] = validate_manifest(path)
    assert line.startswith(f"{path}:3:1: invalid YAML: but found another document")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """A manifest that is a list says what it should be, at its first line."""
    path = write(tmp_path, "- version: 1\n")
    assert validate_manifest(path) == [f"{path}:1:1: expected a mapping, got a list"]


def test_empty_workers_key(tmp_path: Path) -> None:
    """`workers:` with nothing under it is located and explained."""
    path = write(tmp_path, "version: 1\nworkers:\n")
    assert validate_manifest(path) == [
        f"{path}:2:9: workers: expected a mapping, got nothing (null)"
        " (hint: add the keys, indented under this one, or remove it)"
    ]


def test_missing_version_and_workers(tmp_path: Path) -> None:
    """Both required top-level keys are reported at once."""
    path = write(tmp_path, "defaults: {}\n")
    assert validate_manifest(path) == [
        f"{path}:1:1: missing required key 'version' (hint: start the manifest with 'version: 1')",
        f"{path}:1:1: missing required key 'workers'"
        " (hint: declare the workers under 'workers:', keyed by name)",
    ]


def test_big_payload_and_config(tmp_path: Path) -> None:
    """Payload and config over 64 KB as JSON are errors, reported once when from defaults."""
    worker_tree(tmp_path)
    big = "x" * 65536
    text = (
        "version: 1\n"
        "defaults:\n"
        f"  config: {{blob: {big}}}\n"
        "workers:\n"
        "  a:\n    root: w\n    entry: main.py\n"
        f"    payload: {{blob: {big}}}\n"
        "  b:\n    root: w\n    entry: main.py\n"
        f"    payload: {{blob: {big[:65000]}}}\n"
    )
    path = write(tmp_path, text)
    hint = "hint: keep the {} under 64 KB: pass large data by reference"
    assert validate_manifest(path) == [
        f"{path}:3:11: defaults.config: config is 65548 bytes as JSON; IronWorker accepts"
        f" at most 65536 ({hint.format('config')})",
        f"{path}:8:14: workers.a.payload: payload is 65548 bytes as JSON; IronWorker accepts"
        f" at most 65536 ({hint.format('payload')})",
    ]


def test_big_smoke_payload_after_merge(tmp_path: Path) -> None:
    """A smoke test's payload is measured after merging it over the worker's payload."""
    worker_tree(tmp_path)
    text = (
        "version: 1\n"
        "workers:\n"
        "  a:\n"
        "    root: w\n"
        "    entry: main.py\n"
        f"    payload: {{big: {'y' * 40000}}}\n"
        "    smoke:\n"
        "      - name: t\n"
        f"        payload: {{more: {'z' * 30000}}}\n"
    )
    path = write(tmp_path, text)
    [line] = validate_manifest(path)
    assert line.startswith(f"{path}:9:18: workers.a.smoke[0].payload: payload is 70023 bytes")


def test_symlinked_root_leaving_the_manifest_folder(tmp_path: Path) -> None:
    """A root that is a symlink to a folder outside the manifest's folder is refused."""
    outside = tmp_path / "outside"
    outside.mkdir()
    worker_tree(outside)
    project = tmp_path / "project"
    project.mkdir()
    (project / "link").symlink_to(outside / "w")
    path = write(project, "version: 1\nworkers:\n  a:\n    root: link\n    entry: main.py\n")
    assert validate_manifest(path) == [
        f"{path}:4:11: workers.a.root: 'link' leaves the manifest's folder through a symlink"
        " (hint: keep every worker in the manifest's folder or below it)"
    ]


def test_symlinked_entry_leaving_the_root(tmp_path: Path) -> None:
    """An entry that is a symlink to a file outside the worker's root is refused."""
    worker_tree(tmp_path)
    (tmp_path / "w" / "evil.py").symlink_to(tmp_path / "ironship.yml")
    path = write(tmp_path, "version: 1\nworkers:\n  a:\n    root: w\n    entry: evil.py\n")
    assert validate_manifest(path) == [
        f"{path}:5:12: workers.a.entry: 'evil.py' leaves the worker's root through a symlink"
        " (hint: paths are relative to the worker's root 'w')"
    ]


def test_absolute_entry(tmp_path: Path) -> None:
    """An absolute entry is refused even when the file exists."""
    worker_tree(tmp_path)
    entry = tmp_path / "w" / "main.py"
    path = write(tmp_path, f"version: 1\nworkers:\n  a:\n    root: w\n    entry: {entry}\n")
    [line] = validate_manifest(path)
    assert line.startswith(f"{path}:5:12: workers.a.entry: '{entry}' is an absolute path")


def test_recursive_alias(tmp_path: Path) -> None:
    """A YAML alias that contains itself is a located problem, not a RecursionError."""
    worker_tree(tmp_path)
    path = write(
        tmp_path,
        "version: 1\nworkers:\n  a:\n    root: w\n    entry: main.py\n    payload: &p [*p]\n",
    )
    assert validate_manifest(path) == [
        f"{path}:6:14: workers.a.payload[0]: an alias refers to itself"
        " (hint: remove the recursive alias)"
    ]


def test_alias_bomb(tmp_path: Path) -> None:
    """Exponentially expanding aliases stop with one problem instead of eating memory."""
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert validate_manifest(path) == [
        f"{path}:1:1: too many values (aliases expand too far) (hint: use fewer aliases)"
    ]


def test_worker_names_are_taken_literally(tmp_path: Path) -> None:
    """Keys that YAML would read as numbers or booleans stay strings (a worker named 2024)."""
    worker_tree(tmp_path)
    path = write(tmp_path, "version: 1\nworkers:\n  2024:\n    root: w\n    entry: main.py\n")
    manifest = load_manifest(path)
    assert [w.name for w in manifest.workers] == ["2024"]


def test_problems_from_all_workers_at_once(tmp_path: Path) -> None:
    """A schema error in one worker doesn't hide a missing entry in another."""
    worker_tree(tmp_path)
    text = (
        "version: 1\nworkers:\n"
        "  a:\n    root: w\n    entry: main.py\n    retries: many\n"
        "  b:\n    root: w\n    entry: nope.py\n"
    )
    path = write(tmp_path, text)
    problems = validate_manifest(path)
    assert [p.split(": ")[1] for p in problems] == ["workers.a.retries", "workers.b.entry"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file(tmp_path: Path) -> None:
    """A manifest without read permission is an IronshipError, not a traceback."""
    path = write(tmp_path, "version: 1\n")
    path.chmod(0)
    with pytest.raises(IronshipError, match="can't read"):
        validate_manifest(path)


def test_every_occurrence_of_a_duplicate_is_validated(tmp_path: Path) -> None:
    """Three blocks of one worker, a duplicate inside a hidden block and one under defaults:
    each occurrence is checked at its own lines and each duplicate is reported at every line."""
    worker_tree(tmp_path)
    text = (
        "version: 1\n"  # 1
        "defaults:\n"  # 2
        "  retries: x\n"  # 3
        "  retries: 1\n"  # 4
        "workers:\n"  # 5
        "  a:\n"  # 6
        "    root: w\n"  # 7
        "    entry: main.py\n"  # 8
        "    env: {A: 1, A: b}\n"  # 9
        "  a:\n"  # 10
        "    root: nope\n"  # 11
        "    entry: main.py\n"  # 12
        "  a:\n"  # 13
        "    root: w\n"  # 14
        "    entry: main.py\n"  # 15
    )
    path = write(tmp_path, text)
    twice = f"key 'A' appears twice, on line 9 (hint: {REMOVE_ONE})"
    thrice = f"worker 'a' is declared 3 times, at lines 6, 10 and 13 (hint: {KEEP_ONE})"
    retries = f"key 'retries' appears twice, at lines 3 and 4 (hint: {REMOVE_ONE})"
    assert validate_manifest(path) == [
        f"{path}:3:3: defaults.retries: {retries}",
        f"{path}:3:12: defaults.retries: expected an integer, got a string ('x')"
        " (hint: give a whole number from 0 to 10, e.g. 3)",
        f"{path}:4:3: defaults.retries: {retries}",
        f"{path}:6:3: workers.a: {thrice}",
        f"{path}:9:11: workers.a.env.A: {twice}",
        f"{path}:9:14: workers.a.env.A: expected a string, got a number (1)"
        ' (hint: quote it to keep it a string: "1")',
        f"{path}:9:17: workers.a.env.A: {twice}",
        f"{path}:10:3: workers.a: {thrice}",
        f"{path}:11:11: workers.a.root: folder 'nope' does not exist"
        " (hint: root is relative to the manifest's folder"
        f" '{tmp_path}')",
        f"{path}:13:3: workers.a: {thrice}",
    ]


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    """A key overriding one brought in by `<<: *anchor` is no duplicate and isn't checked twice."""
    worker_tree(tmp_path)
    text = (
        "version: 1\n"
        "base: &base {root: w, entry: nope.py}\n"
        "workers:\n"
        "  a:\n"
        "    <<: *base\n"
        "    entry: main.py\n"
    )
    path = write(tmp_path, text)
    assert validate_manifest(path) == [
        f"{path}:2:1: base: unknown key 'base'"
        " (hint: allowed keys: version, defaults, workers, environments)"
    ]


@pytest.mark.parametrize(
    ("setting", "hint"),
    [
        # Quoted text that is the expected number: the quotes are the problem.
        ("max_duration: '45'", "remove the quotes"),
        ('max_duration: "1.5"', "remove the quotes"),
        ('timeout: "30"', "remove the quotes"),
        # Not a number, quoted or not: say what a number looks like.
        ("max_duration: abc", "give a number of seconds, e.g. 30"),
        ("max_duration: 30s", "give a number of seconds, e.g. 30"),
        ("max_duration: 'abc'", "give a number of seconds, e.g. 30"),
        ("max_duration: |\n          45", "give a number of seconds, e.g. 30"),
        ("timeout: soon", "give a number of seconds, e.g. 60"),
    ],
)
def test_string_for_a_smoke_number(tmp_path: Path, setting: str, hint: str) -> None:
    """A string for a smoke test's number says "remove the quotes" only when that fixes it."""
    worker_tree(tmp_path)
    text = (
        "version: 1\nworkers:\n  a:\n    root: w\n    entry: main.py\n"
        f"    smoke:\n      - name: t\n        {setting}\n"
    )
    path = write(tmp_path, text)
    [line] = validate_manifest(path)
    assert line.endswith(f" (hint: {hint})")


@pytest.mark.parametrize(
    ("setting", "hint"),
    [
        ('retries: "3"', "remove the quotes"),
        ("retries: '3.0'", "remove the quotes"),
        ("retries: '3.5'", "give a whole number from 0 to 10, e.g. 3"),
        ("retries: three", "give a whole number from 0 to 10, e.g. 3"),
        ("retries: 'yes'", "give a whole number from 0 to 10, e.g. 3"),
        ("retries_delay: 5m", "give a whole number of seconds, e.g. 30"),
        ("timeout: 1h", "give a whole number of seconds from 1 to 3600, e.g. 300"),
        ("max_concurrency: many", "give a whole number of at least 1, e.g. 5, or -1 for no limit"),
        ("priority: high", "give 0, 1 or 2"),
    ],
)
def test_string_for_a_worker_integer(tmp_path: Path, setting: str, hint: str) -> None:
    """A string where a worker wants an integer gets the hint that fixes it."""
    worker_tree(tmp_path)
    text = f"version: 1\nworkers:\n  a:\n    root: w\n    entry: main.py\n    {setting}\n"
    path = write(tmp_path, text)
    [line] = [p for p in validate_manifest(path) if "expected an integer" in p]
    assert line.startswith(f"{path}:6:")
    assert line.endswith(f" (hint: {hint})")
