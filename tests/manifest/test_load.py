"""parse() builds the right frozen values from plain data; the shipped schema is sound.

parse() is pure (it only resolves roots), so most tests feed it dicts; a few go through
load_manifest to check locations and the whole read -> validate -> parse path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from ironship.errors import ManifestError
from ironship.manifest.defaults import deep_merge
from ironship.manifest.load import load_manifest, parse
from ironship.manifest.models import DEFAULT_SEPARATOR, Location, SmokeTest, Worker
from ironship.manifest.schema import load_schema, schema_text
from ironship.manifest.yamlpos import Document, format_path, parse_yaml

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
REPO = Path(__file__).resolve().parents[2]


def manifest(workers: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"version": 1, "workers": workers, **top}


def one(data: dict[str, Any], tmp_path: Path) -> Worker:
    [worker] = parse(data, tmp_path / "ironship.yml").workers
    return worker


def test_minimal_worker(tmp_path: Path) -> None:
    """A worker with only an entry gets the manifest's folder as root and every default."""
    worker = one(manifest({"fib": {"entry": "fib.py"}}), tmp_path)
    assert worker == Worker(name="fib", root=tmp_path.resolve(), entry="fib.py", runtime="python")
    assert worker.separator == DEFAULT_SEPARATOR


def test_root_is_resolved_absolute(tmp_path: Path) -> None:
    """root is taken relative to the manifest's folder and resolved."""
    data = manifest({"fib": {"root": "./workers/../workers/fib", "entry": "fib.py"}})
    assert one(data, tmp_path).root == (tmp_path / "workers" / "fib").resolve()


def test_manifest_path_and_sorting(tmp_path: Path) -> None:
    """The Manifest holds the absolute path and the workers sorted by name."""
    data = manifest({"zeta": {"entry": "z.py"}, "alpha": {"entry": "a.py"}})
    result = parse(data, tmp_path / "ironship.yml")
    assert result.path == (tmp_path / "ironship.yml").resolve()
    assert result.directory == tmp_path.resolve()
    assert [w.name for w in result.workers] == ["alpha", "zeta"]
    assert result.worker("zeta") is result.workers[1]


@pytest.mark.parametrize(
    ("entry", "runtime"),
    [
        ("fib.py", "python"),
        ("index.php", "php"),
        ("main.js", "node"),
        ("main.mjs", "node"),
        ("app.rb", "ruby"),
        ("run.sh", "sh"),
        ("RUN.SH", "sh"),
    ],
)
def test_runtime_inferred_from_entry(tmp_path: Path, entry: str, runtime: str) -> None:
    """Without runtime:, the entry's extension decides it."""
    assert one(manifest({"w": {"entry": entry}}), tmp_path).runtime == runtime


def test_explicit_and_default_runtime_win(tmp_path: Path) -> None:
    """A worker's runtime beats the default's, which beats the extension."""
    data = manifest(
        {"a": {"entry": "a.py"}, "b": {"entry": "b.py", "runtime": "sh"}},
        defaults={"runtime": "binary"},
    )
    workers = parse(data, tmp_path / "ironship.yml").workers
    assert [w.runtime for w in workers] == ["binary", "sh"]


def test_runtime_that_cannot_be_inferred(tmp_path: Path) -> None:
    """parse refuses an entry with no known extension and no runtime (validation says so too)."""
    with pytest.raises(ManifestError) as caught:
        parse(manifest({"tool": {"entry": "run"}}), tmp_path / "ironship.yml")
    assert caught.value.problems == ["workers.tool.entry: can't tell the runtime of 'run'"]


def test_entry_is_normalised(tmp_path: Path) -> None:
    """A leading ./ and doubled slashes are dropped: the entry is the package's file_name."""
    assert one(manifest({"w": {"entry": "./src//main.py"}}), tmp_path).entry == "src/main.py"


def test_defaults_apply_and_worker_values_replace_them(tmp_path: Path) -> None:
    """Defaults fill every unset key; a worker's own value replaces the default whole."""
    defaults = {
        "retries": 2,
        "timeout": 300,
        "payload": {"max": 100, "opts": {"a": 1}},
        "config": {"db": "x", "pool": {"size": 1}},
        "include": ["*.py"],
    }
    data = manifest(
        {
            "plain": {"entry": "p.py"},
            "own": {"entry": "o.py", "retries": 0, "config": {"pool": {"size": 5}}},
        },
        defaults=defaults,
    )
    plain, own = sorted(parse(data, tmp_path / "m.yml").workers, key=lambda w: w.name != "plain")
    assert (plain.retries, plain.timeout, plain.include) == (2, 300, ("*.py",))
    assert plain.payload == {"max": 100, "opts": {"a": 1}}
    assert plain.config == {"db": "x", "pool": {"size": 1}}
    assert (own.retries, own.timeout) == (0, 300)
    assert own.config == {"pool": {"size": 5}}  # replaced, not merged


def test_env_merges_key_by_key(tmp_path: Path) -> None:
    """env is the one mapping that merges with the default: the worker wins per key."""
    data = manifest(
        {"w": {"entry": "w.py", "env": {"LEVEL": "debug", "EXTRA": "1"}}},
        defaults={"env": {"LEVEL": "info", "REGION": "us"}},
    )
    assert one(data, tmp_path).env == {"LEVEL": "debug", "REGION": "us", "EXTRA": "1"}


def test_settings_and_integers(tmp_path: Path) -> None:
    """Upload settings are copied as integers, even when YAML wrote 3.0."""
    settings = {"max_concurrency": -1, "retries": 3.0, "retries_delay": 10, "priority": 2}
    worker = one(manifest({"w": {"entry": "w.py", "timeout": 60, **settings}}), tmp_path)
    values = (worker.max_concurrency, worker.retries, worker.retries_delay, worker.priority)
    assert values == (-1, 3, 10, 2)
    assert isinstance(worker.retries, int)
    assert worker.timeout == 60


def test_smoke_payload_deep_merges(tmp_path: Path) -> None:
    """A smoke payload merges recursively over the worker's, the test winning."""
    worker_payload = {"max": 100, "opts": {"fast": True, "depth": 1}, "tags": ["a"]}
    smoke = [
        {"name": "merge", "payload": {"opts": {"depth": 3}, "tags": ["b"]}},
        {"name": "inherit"},
        {"name": "replace", "payload": "raw"},
        {"name": "null", "payload": None},
    ]
    worker = one(
        manifest({"w": {"entry": "w.py", "payload": worker_payload, "smoke": smoke}}), tmp_path
    )
    payloads = {t.name: t.payload for t in worker.smoke}
    assert payloads == {
        "merge": {"max": 100, "opts": {"fast": True, "depth": 3}, "tags": ["b"]},
        "inherit": worker_payload,
        "replace": "raw",
        "null": None,
    }
    payloads["inherit"]["max"] = 1  # the tests' payloads are copies, never shared
    assert worker.payload == worker_payload


def test_smoke_defaults(tmp_path: Path) -> None:
    """A bare smoke test gets timeout 60, status complete and the worker's separator."""
    data = manifest({"w": {"entry": "w.py", "separator": "---", "smoke": [{"name": "t"}]}})
    [test] = one(data, tmp_path).smoke
    assert test == SmokeTest(name="t", payload=None, timeout=60.0, separator="---")


def test_smoke_expectations(tmp_path: Path) -> None:
    """output gets its block written out (default first); log strings become lists."""
    smoke = [
        {
            "name": "t",
            "timeout": 5,
            "status": "error",
            "separator": "##",
            "output": {"equals": [1, 2]},
            "log": {"contains": "fib", "not_contains": ["Traceback", "Killed"]},
            "max_duration": 2,
        },
        {"name": "u", "output": {"subset": {"a": 1}, "block": "all"}},
    ]
    first, second = one(manifest({"w": {"entry": "w.py", "smoke": smoke}}), tmp_path).smoke
    assert first == SmokeTest(
        name="t",
        payload=None,
        timeout=5.0,
        status="error",
        separator="##",
        output={"equals": [1, 2], "block": "first"},
        log={"contains": ["fib"], "not_contains": ["Traceback", "Killed"]},
        max_duration=2.0,
    )
    assert second.output == {"subset": {"a": 1}, "block": "all"}


def test_locations_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_manifest records where each worker and smoke test is declared, FILE as given."""
    monkeypatch.chdir(MANIFESTS)
    result = load_manifest(Path("full.yml"))
    fib = result.worker("fib")
    assert fib is not None
    assert fib.location == Location(Path("full.yml"), 13, 3)
    assert [str(t.location) for t in fib.smoke] == ["full.yml:24:9", "full.yml:28:9"]
    assert fib.root == MANIFESTS / "workers" / "fib"
    assert fib.include == ("*.py", "lib/") and fib.exclude == ("lib/skip.py",)
    assert fib.env == {"LEVEL": "debug", "REGION": "us"}


def test_no_locations_without_positions(tmp_path: Path) -> None:
    """parse on plain data leaves every location None."""
    worker = one(manifest({"w": {"entry": "w.py", "smoke": [{"name": "t"}]}}), tmp_path)
    assert worker.location is None and worker.smoke[0].location is None


def test_yaml_merge_keys_and_extension_keys() -> None:
    """`x-` keys may hold anchors that workers reuse with `<<:`; explicit keys win."""
    result = load_manifest(MANIFESTS / "yaml-features.yml")
    [fib] = result.workers
    assert (fib.entry, fib.retries, fib.root) == ("fib.py", 3, MANIFESTS / "workers" / "fib")


def test_yaml_dates_and_keys_stay_text() -> None:
    """Dates stay the text written and mapping keys are never converted."""
    doc = parse_yaml("when: 2024-01-02\n1: one\nyes: y\nnull: n\n", Path("f.yml"))
    assert doc.data == {"when": "2024-01-02", "1": "one", "yes": "y", "null": "n"}
    assert doc.problems == ()


def test_document_positions() -> None:
    """Keys and values are located 1-based; unknown paths fall back to their nearest parent."""
    doc = parse_yaml("a:\n  b: [x, {c: 1}]\n", Path("f.yml"))
    assert doc.at(("a",), key=True) == Location(Path("f.yml"), 1, 1)
    assert doc.at(("a", "b")) == Location(Path("f.yml"), 2, 6)
    assert doc.at(("a", "b", 1, "c")) == Location(Path("f.yml"), 2, 14)
    assert doc.at(("a", "b", 1, "c", "missing")) == Location(Path("f.yml"), 2, 14)
    assert Document(Path("f.yml"), None).at(("x",)) == Location(Path("f.yml"), 1, 1)


def test_format_path() -> None:
    """JSON paths print dotted, with indexes in brackets and odd keys quoted."""
    assert format_path(("workers", "fib", "smoke", 0, "name")) == "workers.fib.smoke[0].name"
    assert format_path(("workers", "my.worker")) == 'workers["my.worker"]'
    assert format_path(()) == ""


def test_deep_merge() -> None:
    """Objects merge recursively; lists and scalars replace; inputs are never modified."""
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    over = {"a": {"c": [2], "e": {"f": 1}}}
    assert deep_merge(base, over) == {"a": {"b": 1, "c": [2], "e": {"f": 1}}, "d": 1}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}
    assert deep_merge({"a": 1}, [1]) == [1]
    assert deep_merge(None, {"a": 1}) == {"a": 1}


# -- the schema -------------------------------------------------------------------------------


def subschemas(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from subschemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from subschemas(value, f"{path}/{i}")


def test_schema_is_valid_2020_12() -> None:
    """The shipped schema is itself a valid JSON Schema 2020-12 with an $id."""
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]


def test_schema_text_is_the_repo_file() -> None:
    """schema_text() serves schemas/ironship.schema.json in a checkout."""
    assert schema_text() == (REPO / "schemas" / "ironship.schema.json").read_text("utf-8")


def test_schema_objects_are_closed() -> None:
    """Every object with declared properties forbids unknown keys."""
    for where, node in subschemas(load_schema()):
        if "properties" in node:
            assert node.get("additionalProperties") is False, where


def test_schema_properties_have_descriptions() -> None:
    """Every property an editor can complete has a description, directly or through its $ref."""
    schema = load_schema()
    for where, node in subschemas(schema):
        for name, prop in node.get("properties", {}).items():
            if "description" not in prop and "$ref" in prop:
                prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[1]]
            assert prop.get("description"), f"{where}/properties/{name}"


def test_full_fixture_validates_with_plain_jsonschema() -> None:
    """An editor using only the schema accepts the valid fixture (no ironship needed)."""
    data = yaml.safe_load((MANIFESTS / "full.yml").read_text())
    assert list(Draft202012Validator(load_schema()).iter_errors(data)) == []
    assert json.loads(json.dumps(data)) == data
