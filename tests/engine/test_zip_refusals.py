"""Zips that can never be unpacked as their author meant are refused at upload, with why."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest
from engine_helpers import Api, make_zip


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


def _windows_symlink() -> bytes:
    info = zipfile.ZipInfo("link")
    info.create_system = 0  # MS-DOS: its mode bits are not Unix modes
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip([("worker.py", b"print(1)"), (info, b"/etc/passwd")])


def _duplicate() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("worker.py", b"print(1)")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("worker.py", b"print(2)")
    return buf.getvalue()


CASES = {
    "non-Unix symlink": (_windows_symlink, "not Unix"),
    "long component": (lambda: _zip([("a" * 256 + ".py", b"x")]), "259 bytes; the limit is 255"),
    "deep": (lambda: _zip([("d/" * 3000 + "f", b"x")]), "3001 levels deep"),
    "file and folder": (lambda: _zip([("a", b"x"), ("a/b.py", b"y")]), "both a file and a folder"),
    "file and dir entry": (
        lambda: _zip([("a/", b""), ("a", b"x")]),
        "both a file and a folder",
    ),
    "duplicate": (_duplicate, "appears more than once"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unfaithful_zip_refused_with_reason(api: Api, name: str, case: str) -> None:
    """Each kind of zip that cannot be unpacked faithfully is a 400 naming the reason."""
    build, reason = CASES[case]
    r = api.upload_raw({"name": name, "runtime": "python"}, build())
    assert r.status_code == 400, r.text
    assert reason in r.json()["msg"]
    listed = api.ok("GET", "/codes", params={"per_page": 100})["codes"]
    assert name not in [c["name"] for c in listed]


def test_truncated_zip_says_truncated(api: Api, name: str) -> None:
    """A zip cut short is reported as truncated or corrupt, not as 'not a zip file'."""
    whole = make_zip({"worker.py": "print(1)\n" * 200})
    r = api.upload_raw({"name": name, "runtime": "python"}, whole[: len(whole) // 2])
    assert r.status_code == 400
    assert "truncated or corrupt" in r.json()["msg"]
    assert "not a zip file" not in r.json()["msg"]


def test_ordinary_nested_zip_still_accepted(api: Api, name: str) -> None:
    """Folders with files, explicit folder entries and a Unix file mode are still accepted."""
    info = zipfile.ZipInfo("lib/run.sh")
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    z = _zip([("lib/", b""), ("worker.py", b"print(1)"), (info, b"echo"), ("lib/a/b.py", b"")])
    r = api.upload_raw({"name": name, "runtime": "python", "file_name": "worker.py"}, z)
    assert r.status_code == 200, r.text
