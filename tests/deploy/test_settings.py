"""The one Worker ↔ upload-data mapping, and the stamps ironship writes, keep their values.

The pinned digests below were computed before the mapping moved to ``deploy/settings.py``. A
different value here means every deployed worker would show as changed after an upgrade
(docs/architecture.md, Stamps).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ironship.deploy.models import LocalWorker
from ironship.deploy.settings import (
    code_settings,
    content_digest,
    local_worker,
    smoke_digest,
    upload_data,
    upload_settings,
)
from ironship.errors import IronshipError
from ironship.iron.types import Code
from ironship.manifest.models import SmokeTest, Worker
from ironship.packaging.fileset import select_fileset
from ironship.secrets import Secret, digest_key

FULL_DIGEST = "sha256:8411e81e8ea142385fae242eb153a8bf7f73da04657d1c8dd8993721f6edf6ce"
FILES_DIGEST = "sha256:927cd201e71d292e4105ac0024e200a812997a8178a49a6620bad4bac707f070"
MINIMAL_DIGEST = "sha256:a3730e3cc17c8b102ae69ccd8aa01e52106e8713e798d937b991a626ed869653"
SMOKE_DIGEST = "sha256:0b11dfd3673ac16a3543e9f1ac894afb5beb1fe2b92a817d9b8216a89b433516"
TREE = {
    "main.py": (b"print('hi')\n", True),
    "lib/util.py": (b"X = 1\n", False),
    "données/é.txt": ("café\n".encode(), False),
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for rel, (content, executable) in TREE.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(0o755 if executable else 0o644)
    return tmp_path


def full_worker(root: Path) -> Worker:
    return Worker(
        name="fib",
        root=root,
        entry="main.py",
        runtime="python",
        config={"b": [1, 2], "a": "é"},
        env={"B": "2", "A": "1"},
        max_concurrency=5,
        retries=3,
        retries_delay=60,
        priority=2,
        timeout=300,
    )


def local(worker: Worker) -> LocalWorker:
    return local_worker(worker, select_fileset(worker))


def test_content_and_files_digests_are_pinned(root: Path) -> None:
    """IRONSHIP_DIGEST and IRONSHIP_FILES of a fixed tree and settings equal the pinned values."""
    full = local(full_worker(root))
    assert (full.digest, full.files_digest) == (FULL_DIGEST, FILES_DIGEST)
    assert local(Worker(name="min", root=root, entry="main.py", runtime="sh")).digest == (
        MINIMAL_DIGEST
    )


def test_upload_data_is_pinned(root: Path) -> None:
    """The whole ``data`` of an upload (settings plus every stamp) equals the pinned document."""
    desired = replace(local(full_worker(root)), smoke_digest="s")
    assert upload_data(desired, {"IRONSHIP_GIT_SHA": "abc"}) == {
        "name": "fib",
        "runtime": "python",
        "file_name": "main.py",
        "config": '{"a":"\\u00e9","b":[1,2]}',
        "max_concurrency": 5,
        "retries": 3,
        "retries_delay": 60,
        "default_priority": 2,
        "env_vars": {
            "A": "1",
            "B": "2",
            "IRONSHIP_GIT_SHA": "abc",
            "IRONSHIP_DIGEST": FULL_DIGEST,
            "IRONSHIP_FILES": FILES_DIGEST,
            "IRONSHIP_SMOKE": "s",
        },
    }


def test_smoke_digest_is_pinned() -> None:
    """IRONSHIP_SMOKE of fixed smoke tests equals the pinned value."""
    tests = (
        SmokeTest(name="first", payload={"max": 100}, timeout=30, output={"subset": {"n": 1}}),
        SmokeTest(
            name="log",
            payload=None,
            timeout=5.5,
            status="error",
            log={"contains": "x"},
            max_duration=2.0,
        ),
    )
    worker = Worker(name="fib", root=Path("/x"), entry="main.py", runtime="python", smoke=tests)
    assert smoke_digest(worker) == SMOKE_DIGEST
    assert smoke_digest(replace(worker, smoke=())) is None


def test_upload_settings_leave_out_unset_values_and_stamps(root: Path) -> None:
    """Unset settings are omitted, env_vars is always there, and IRONSHIP_ keys never are."""
    stamped = replace(full_worker(root), env={"A": "1", "IRONSHIP_DIGEST": "sha256:x"})
    assert upload_settings(stamped)["env_vars"] == {"A": "1"}
    assert upload_settings(Worker(name="w", root=root, entry="main.py", runtime="python")) == {
        "name": "w",
        "runtime": "python",
        "file_name": "main.py",
        "env_vars": {},
    }


def test_file_name_is_the_path_packaging_ships_the_entry_under(root: Path) -> None:
    """An entry spelled decomposed (NFD) uploads as file_name in the form the package holds."""
    (root / unicodedata.normalize("NFD", "café.py")).write_text("print(1)\n")
    worker = Worker(
        name="w", root=root, entry=unicodedata.normalize("NFD", "café.py"), runtime="python"
    )
    desired = local(worker)
    assert desired.settings["file_name"] == "café.py"
    assert "café.py" in [f.path for f in desired.files]


def test_code_settings_give_back_what_was_uploaded(root: Path) -> None:
    """A code carrying an upload's data (stamps included) maps back to that same data."""
    data = upload_data(local(full_worker(root)), {"IRONSHIP_GIT_SHA": "abc"})
    code = Code.from_json({**data, "id": "c" * 24, "rev": 4, "latest_checksum": "0" * 32})
    assert code_settings(code) == data


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "other"},
        {"runtime": "sh"},
        {"entry": "lib/util.py"},
        {"config": {"k": 1}},
        {"env": {"K": "v"}},
        {"max_concurrency": 2},
        {"retries": 1},
        {"retries_delay": 5},
        {"priority": 1},
    ],
)
def test_digest_changes_with_any_setting(root: Path, changes: dict[str, Any]) -> None:
    """Changing any upload setting changes IRONSHIP_DIGEST but not IRONSHIP_FILES."""
    before = local(full_worker(root))
    after = local(replace(full_worker(root), **changes))
    assert after.digest != before.digest
    assert after.files_digest == before.files_digest


def test_digest_ignores_stamps_in_the_settings(root: Path) -> None:
    """IRONSHIP_ env keys never change the digest, wherever they come from."""
    desired = local(full_worker(root))
    stamped = {**desired.settings, "env_vars": {"A": "1", "B": "2", "IRONSHIP_DIGEST": "x"}}
    assert content_digest(desired.files, stamped) == desired.digest


def test_digest_is_the_documented_canonical_encoding(root: Path) -> None:
    """The digest is sha256 of sorted (path, exec, sha256) triples plus settings, as JSON."""
    desired = local(full_worker(root))
    doc = {
        "files": [[f.path, f.executable, f.sha256] for f in desired.files],
        "format": 1,
        "settings": dict(desired.settings),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert desired.digest == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_files_digest_changes_with_content_exec_bit_and_rename(root: Path) -> None:
    """Content, the exec bit and a path rename each change IRONSHIP_FILES."""
    seen = {local(full_worker(root)).files_digest}
    (root / "lib/util.py").write_bytes(b"changed")
    seen.add(local(full_worker(root)).files_digest)
    (root / "lib/util.py").chmod(0o755)
    seen.add(local(full_worker(root)).files_digest)
    (root / "lib/util.py").rename(root / "lib/util2.py")
    seen.add(local(full_worker(root)).files_digest)
    assert len(seen) == 4


# -- secrets ------------------------------------------------------------------------------

KEY = digest_key("the-target-token")


def secret_worker(root: Path, api_key: str = "k-1", password: str = "p-1") -> Worker:
    """full_worker with a secret env value and a secret inside its config."""
    return replace(
        full_worker(root),
        env={"B": "2", "A": "1", "API_KEY": Secret(api_key)},
        config={"b": [1, 2], "a": "é", "db": {"password": Secret(password)}},
    )


def test_secrets_stay_masked_in_the_settings(root: Path) -> None:
    """A LocalWorker's settings hold Secrets: nothing in its repr shows their text."""
    desired = local_worker(secret_worker(root), select_fileset(full_worker(root)), KEY)
    assert desired.settings["env_vars"]["API_KEY"] == Secret("k-1")
    assert isinstance(desired.settings["config"], Secret)
    assert "k-1" not in repr(desired) and "p-1" not in repr(desired)


def test_upload_data_reveals_secrets_for_the_upload_only(root: Path) -> None:
    """The data sent holds the real values: the env value and the config JSON."""
    desired = local_worker(secret_worker(root), select_fileset(full_worker(root)), KEY)
    data = upload_data(desired, {})
    assert data["env_vars"]["API_KEY"] == "k-1"
    assert data["config"] == '{"a":"\\u00e9","b":[1,2],"db":{"password":"p-1"}}'
    assert isinstance(desired.settings["env_vars"]["API_KEY"], Secret)  # the value is untouched


def test_the_digest_of_secrets_is_keyed(root: Path) -> None:
    """The digest changes with a secret and with the key, and is the documented HMAC form."""
    files = select_fileset(full_worker(root))
    first = local_worker(secret_worker(root), files, KEY)
    assert local_worker(secret_worker(root), files, KEY).digest == first.digest
    assert local_worker(secret_worker(root, api_key="k-2"), files, KEY).digest != first.digest
    assert local_worker(secret_worker(root, password="p-2"), files, KEY).digest != first.digest
    assert local_worker(secret_worker(root), files, digest_key("other")).digest != first.digest
    settings = upload_settings(secret_worker(root))
    keyed = {
        **settings,
        "env_vars": {**settings["env_vars"], "API_KEY": {"hmac-sha256": Secret("k-1").digest(KEY)}},
        "config": {"hmac-sha256": settings["config"].digest(KEY)},
    }
    doc = {"files": [[f.path, f.executable, f.sha256] for f in files.files], "format": 1}
    encoded = {**doc, "settings": keyed}
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.digest == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_the_digest_never_hashes_a_secret_unkeyed(root: Path) -> None:
    """Without the target's key, a worker with secrets gets no digest at all."""
    with pytest.raises(IronshipError, match=r"fib: its settings hold \$\{secret:…\} values"):
        local_worker(secret_worker(root), select_fileset(full_worker(root)))


def test_digests_without_secrets_ignore_the_key(root: Path) -> None:
    """A worker without secrets keeps its pinned digest, whatever the key."""
    assert local_worker(full_worker(root), select_fileset(full_worker(root)), KEY).digest == (
        FULL_DIGEST
    )
