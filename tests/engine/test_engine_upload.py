"""Code packages: revisions, checksums, download, settings-only updates and hostile zips."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from engine_helpers import TOOL, Api, make_zip

from ironship.engine.server import EngineServer
from ironship.engine.zipcheck import Limits


def test_upload_revisions_checksum_and_download(api: Api, name: str) -> None:
    """Each upload adds a revision; checksum is the zip's MD5; any revision downloads."""
    z1, z2 = make_zip({"worker.py": "print(1)"}), make_zip({"worker.py": "print(2)"})
    data = {"name": name, "runtime": "python", "file_name": "worker.py"}
    r = api.upload_raw(data, z1)
    assert r.json()["msg"] == "Upload successful."
    code_id = r.json()["id"]
    assert api.upload_raw(data, z2).json()["id"] == code_id
    code = api.ok("GET", f"/codes/{code_id}")
    assert code["rev"] == 2 and code["latest_checksum"] == hashlib.md5(z2).hexdigest()
    revs = api.ok("GET", f"/codes/{code_id}/revisions")["revisions"]
    assert [(r["rev"], r["checksum"], r["code_size"]) for r in revs] == [
        (2, hashlib.md5(z2).hexdigest(), len(z2)),
        (1, hashlib.md5(z1).hexdigest(), len(z1)),
    ]
    assert code["latest_history_id"] == revs[0]["id"]
    old = api.call("GET", f"/codes/{code_id}/download", params={"revision": 1})
    assert old.content == z1 and old.headers["content-type"] == "application/zip"
    assert old.headers["content-disposition"] == f"filename={name}_1.zip"
    assert api.call("GET", f"/codes/{code_id}/download").content == z2
    assert api.call("GET", f"/codes/{code_id}/download?revision=9").status_code == 404


def test_settings_only_update_keeps_zip(api: Api, name: str) -> None:
    """An upload without a file keeps the previous zip and settings and adds a revision."""
    code_id = api.upload(name, max_concurrency=2, env_vars={"A": "1", "IRONSHIP_DIGEST": "x"})
    before = api.ok("GET", f"/codes/{code_id}")
    r = api.upload_raw({"name": name, "retries": 3}, None)
    assert r.status_code == 200 and r.json()["id"] == code_id
    after = api.ok("GET", f"/codes/{code_id}")
    assert after["rev"] == 2 and after["latest_checksum"] == before["latest_checksum"]
    assert (after["retries"], after["max_concurrency"]) == (3, 2)
    assert after["env_vars"] == {"A": "1", "IRONSHIP_DIGEST": "x"}
    assert after["file_name"] == "worker.py" and after["runtime"] == "python"
    listed = [c for c in api.ok("GET", "/codes", params={"per_page": 100})["codes"]]
    assert any(c["id"] == code_id and c["env_vars"]["IRONSHIP_DIGEST"] == "x" for c in listed)
    assert api.wait(api.queue(name))["code_rev"] == "2"


def test_delete_code(api: Api, name: str) -> None:
    """DELETE removes the code; it is then 404 and no longer listed."""
    code_id = api.upload(name)
    assert api.ok("DELETE", f"/codes/{code_id}") == {"msg": "Deleted"}
    assert api.call("GET", f"/codes/{code_id}").status_code == 404
    codes = api.ok("GET", "/codes", params={"per_page": 100})["codes"]
    assert code_id not in {c["id"] for c in codes}


def test_codes_paging(api: Api, name: str) -> None:
    """per_page and page split the code list without overlap."""
    for i in range(3):
        api.upload(f"{name}-{i}")
    first = api.ok("GET", "/codes", params={"per_page": 2, "page": 0})["codes"]
    second = api.ok("GET", "/codes", params={"per_page": 2, "page": 1})["codes"]
    assert len(first) == 2 and not {c["id"] for c in first} & {c["id"] for c in second}
    assert api.call("GET", "/codes", params={"per_page": 101}).status_code == 400


def test_big_upload_is_streamed(api: Api, name: str) -> None:
    """A 50 MB package is accepted (file parts are spooled, not capped like fields)."""
    big = make_zip(
        {"worker.py": TOOL, "blob.bin": os.urandom(50 * 1024 * 1024)},
        compression=zipfile.ZIP_STORED,
    )
    r = api.upload_raw({"name": name, "runtime": "python", "file_name": "worker.py"}, big)
    assert r.status_code == 200, r.text
    code = api.ok("GET", f"/codes/{r.json()['id']}")
    assert code["latest_checksum"] == hashlib.md5(big).hexdigest()


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("worker.py", "print(1)")
        info = zipfile.ZipInfo("link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _bomb() -> bytes:
    return make_zip({"worker.py": "print(1)", "zeros": b"\0" * (48 * 1024 * 1024)})


HOSTILE = {
    "not-a-zip": (b"this is not a zip", "not a zip"),
    "empty": (b"", "not a zip"),
    "absolute": (make_zip({"worker.py": "", "/etc/evil": "x"}), "absolute path"),
    "dotdot": (make_zip({"worker.py": "", "a/../../evil": "x"}), "'..'"),
    "backslash-dotdot": (make_zip({"worker.py": "", "a\\..\\..\\evil": "x"}), "'..'"),
    "drive-letter": (make_zip({"worker.py": "", "C:/evil": "x"}), "absolute path"),
    "symlink": (_symlink_zip(), "symlink"),
    "bomb": (_bomb(), "zip bomb"),
    "truncated": (make_zip({"worker.py": "print(1)" * 100})[:-30], "zip"),
    "py3-repr-garbled": (b"b'PK\\x03\\x04 not closed", "iron-worker 1.3.8"),
    "missing-entry": (make_zip({"other.py": ""}), "file_name 'worker.py' is not in the zip"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_upload_is_refused(api: Api, name: str, case: str) -> None:
    """A hostile or broken package gets 400 saying what is wrong, and no code or revision."""
    body, expected = HOSTILE[case]
    r = api.upload_raw({"name": name, "runtime": "python", "file_name": "worker.py"}, body)
    assert r.status_code == 400, r.text
    assert expected in r.json()["msg"]
    codes = api.ok("GET", "/codes", params={"per_page": 100})["codes"]
    assert name not in {c["name"] for c in codes}


def test_py3_repr_is_repaired(api: Api, name: str) -> None:
    """The b'PK...' repr that iron-worker 1.3.8 sends on Python 3 is decoded back to the zip."""
    real = make_zip({"worker.py": "print('repaired')"})
    r = api.upload_raw(
        {"name": name, "runtime": "python", "file_name": "worker.py"}, str(real).encode("ascii")
    )
    assert r.status_code == 200, r.text
    code = api.ok("GET", f"/codes/{r.json()['id']}")
    assert code["latest_checksum"] == hashlib.md5(real).hexdigest()
    assert api.log(api.wait(api.queue(name))["id"]) == "repaired\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({f"f{i}": "" for i in range(20)} | {"worker.py": ""}, "entries"),
        ({"worker.py": "", "big": os.urandom(3000)}, "more than"),
    ],
    ids=["too-many-entries", "too-big-unpacked"],
)
def test_limits(tmp_path: Path, files: dict[str, str | bytes], expected: str) -> None:
    """Entry count and unpacked size limits refuse the package with a 400."""
    limits = Limits(max_entries=10, max_unpacked_bytes=2048)
    with EngineServer(tmp_path / "d", limits=limits) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        data = {"name": "w", "runtime": "python", "file_name": "worker.py"}
        r = api.upload_raw(data, make_zip(files))
        assert r.status_code == 400 and expected in r.json()["msg"]
        assert api.ok("GET", "/codes")["codes"] == []
        assert list((tmp_path / "d" / "blobs").iterdir()) == []
        assert list((tmp_path / "d" / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        json.dumps(["a list"]),
        json.dumps({"runtime": "python"}),
        json.dumps({"name": "x", "retries": 11}),
        json.dumps({"name": "x", "env_vars": "A=1"}),
        json.dumps({"name": "x", "config": "c" * (64 * 1024 + 1)}),
    ],
    ids=["bad-json", "not-object", "no-name", "retries-11", "env-not-object", "config-64k"],
)
def test_bad_upload_data(api: Api, data: str) -> None:
    """A bad data part gets 400 with msg."""
    r = api.call("POST", "/codes", files={"data": (None, data)})
    assert r.status_code == 400 and r.json()["msg"]


def test_upload_needs_multipart(api: Api) -> None:
    """A JSON body on POST codes is a 400 explaining the multipart form."""
    r = api.call("POST", "/codes", json={"name": "x"})
    assert r.status_code == 400 and "multipart" in r.json()["msg"]
