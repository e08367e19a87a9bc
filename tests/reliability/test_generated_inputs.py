"""Hypothesis-generated manifests and payloads: a located error or a valid result, never an
internal error (seeded with derandomize, so every run tries the same examples)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import Project, run_cli, write_tree
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ironship.cli.payload import payload_text, read_payload_arg
from ironship.errors import IronshipError

WORKER_KEYS = (
    *("root", "entry", "runtime", "include", "exclude", "payload", "config", "env"),
    *("max_concurrency", "retries", "retries_delay", "timeout", "priority", "stack"),
    *("smoke", "schedules", "requirements", "python", "pip_args", "separator"),
)
TOP_KEYS = ("version", "workers", "defaults", "environments", "worker_name")
LOCATED = re.compile(r"ironship\.yml:\d+:\d+: ")
BAD = ("internal error", "Traceback")
COMMON = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["main.py", "q", "q/main.py", "../x", "/etc", "q\x00", "e" * 300, "${env:X}"]),
    st.sampled_from(["${secret:S}", "python", "node", "* * *", "5m", "#/$defs/x", "."]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(WORKER_KEYS), st.text(max_size=8)), inner, max_size=4
        ),
    ),
    max_leaves=12,
)
small_json = st.dictionaries(
    st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=3
)
PLAUSIBLE = {
    "runtime": st.sampled_from(["python", "node", "ruby", "php", "binary", "sh", "cobol"]),
    "max_concurrency": st.integers(min_value=-2, max_value=50),
    "retries": st.integers(min_value=-1, max_value=5),
    "retries_delay": st.integers(min_value=-1, max_value=5000),
    "timeout": st.integers(min_value=0, max_value=4000),
    "priority": st.integers(min_value=-1, max_value=3),
    "env": st.dictionaries(
        st.sampled_from(["A_B", "IRONSHIP_X", "x y", "PATH"]), st.text(max_size=8)
    ),
    "payload": small_json,
    "config": small_json,
    "include": st.lists(st.sampled_from(["*.py", "**", "!main.py", "../x", "[", "q/"]), max_size=3),
    "exclude": st.lists(st.sampled_from(["*.pyc", "tests/", "main.py", "\\"]), max_size=2),
    "smoke": st.lists(
        st.fixed_dictionaries(
            {"name": st.text(max_size=6)},
            optional={
                "payload": small_json,
                "timeout": st.integers(min_value=-1, max_value=100),
                "output": st.one_of(
                    st.fixed_dictionaries({"equals": small_json}),
                    st.fixed_dictionaries({"contains": st.text(max_size=5)}),
                    st.fixed_dictionaries({"matches": st.sampled_from(["a+", "(", "x{2}"])}),
                    st.fixed_dictionaries(
                        {
                            "schema": st.sampled_from(
                                [{"type": "object"}, {"$ref": "#/x"}, {"type": 3}]
                            )
                        }
                    ),
                ),
            },
        ),
        max_size=2,
    ),
}
plausible_worker = st.fixed_dictionaries(
    {"root": st.just("q"), "entry": st.sampled_from(["main.py", "main.py", "nope.py"])},
    optional=PLAUSIBLE,
)
workers = st.dictionaries(
    st.one_of(st.sampled_from(["w", "fib", "a-b"]), st.text(max_size=12)),
    st.one_of(
        plausible_worker,
        st.fixed_dictionaries(
            {"root": st.just("q"), "entry": st.just("main.py")},
            optional={k: values for k in WORKER_KEYS if k not in ("root", "entry")},
        ),
        values,
    ),
    max_size=3,
)
manifests = st.fixed_dictionaries(
    {"version": st.one_of(st.just(1), scalars), "workers": st.one_of(workers, values)},
    optional={k: values for k in TOP_KEYS if k not in ("version", "workers")},
)
plausible_manifests = st.fixed_dictionaries(
    {
        "version": st.just(1),
        "workers": st.dictionaries(
            st.sampled_from(["w", "fib", "a-b", "x_1"]), plausible_worker, min_size=1, max_size=3
        ),
    }
)
any_manifest = st.one_of(plausible_manifests, manifests)
VALID = "version: 1\nworkers:\n  w:\n    root: q\n    entry: main.py\n    payload: {n: 1}\n"


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _check(code: int, err: str) -> None:
    event(f"exit {code}")
    for text in BAD:
        assert text not in err, err
    assert code in (0, 1), err
    if code == 1:
        assert "error: " in err, err
        assert LOCATED.search(err) or "ironship.yml" in err, err


def _prepare(tmp_path: Path, text: str) -> None:
    write_tree(tmp_path, {"q/main.py": "print(1)\n"})
    (tmp_path / "ironship.yml").write_text(text, encoding="utf-8", errors="surrogateescape")


@settings(COMMON, max_examples=300)
@given(data=any_manifest)
def test_generated_manifests_validate_or_give_located_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data: dict[str, Any],
) -> None:
    """A generated manifest is valid, or `validate` exits 1 naming ironship.yml and a place."""
    _prepare(tmp_path, _dump(data))
    res = run_cli(["validate"], capsys, monkeypatch, cwd=tmp_path)
    _check(res.code, res.err)


@settings(COMMON, max_examples=200)
@given(
    position=st.integers(min_value=0, max_value=len(VALID)),
    cut=st.integers(min_value=0, max_value=8),
    insert=st.text(max_size=6),
)
def test_mutated_manifest_text_validates_or_gives_located_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    position: int,
    cut: int,
    insert: str,
) -> None:
    """A valid manifest with characters cut and inserted anywhere never breaks `validate`."""
    _prepare(tmp_path, VALID[:position] + insert + VALID[position + cut :])
    res = run_cli(["validate"], capsys, monkeypatch, cwd=tmp_path)
    _check(res.code, res.err)


@settings(COMMON, max_examples=40)
@given(data=any_manifest)
def test_generated_manifests_plan_against_the_engine(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data: dict[str, Any],
) -> None:
    """`plan` against the real engine: a plan (exit 0) or a located error (exit 1)."""
    _prepare(tmp_path, _dump(data))
    res = run_cli(["plan"], capsys, monkeypatch, env=project.env, cwd=tmp_path)
    _check(res.code, res.err)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(COMMON, max_examples=300)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.text(alphabet='[]{}":,0123456789.eE+-NaInfity tfrunl\\', max_size=80),
        st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n + "]" * n),
        st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", '{"a": -Infinity}', "1e308"]),
    )
)
def test_generated_payload_text_parses_or_gives_a_clear_error(text: str) -> None:
    """Any --payload text is JSON of finite numbers, or an error naming --payload."""
    try:
        value = read_payload_arg(text)
    except IronshipError as exc:
        assert str(exc).startswith("--payload")
        return
    queued = payload_text(value, given=True) if _small(value) else None
    assert queued is None or isinstance(queued, str)
    _finite(value)


@settings(COMMON, max_examples=200)
@given(value=json_values)
def test_valid_json_payloads_round_trip(value: Any) -> None:
    """Every JSON document of finite numbers is accepted as it is."""
    assert read_payload_arg(json.dumps(value)) == value


def _small(value: Any) -> bool:
    return len(json.dumps(value)) < 60000


def _finite(value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, list):
        for item in value:
            _finite(item)
    elif isinstance(value, dict):
        for item in value.values():
            _finite(item)
