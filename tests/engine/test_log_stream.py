"""Task logs stream from disk: whole, from ``?offset=``, or a ``Range``; memory stays bounded
however big the log is, and other requests are served meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path

import requests
from engine_helpers import Api
from engine_proc import engine_process

BIG_LOG = 300 * 1024 * 1024
READERS = 6
RSS_BOUND_KB = 200 * 1024


def _finished_task(api: Api, name: str, text: str) -> str:
    api.upload(name)
    task_id = api.queue(name, {"print": text})
    assert api.wait(task_id)["status"] == "complete"
    return task_id


def test_whole_log_is_200_with_size_and_status(api: Api, name: str) -> None:
    """Without offset or Range the whole log comes back as 200 text/plain with its size and
    the task's status in headers."""
    task_id = _finished_task(api, name, "0123456789")
    r = api.call("GET", f"/tasks/{task_id}/log")
    assert r.status_code == 200 and r.text == "0123456789\n"
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-ironship-log-size"] == "11"
    assert r.headers["x-ironship-task-status"] == "complete"
    assert "content-range" not in r.headers


def test_offset_returns_only_what_is_new(api: Api, name: str) -> None:
    """``?offset=N`` answers 200 with the bytes from N; at or past the end, an empty body."""
    task_id = _finished_task(api, name, "0123456789")
    tail = api.call("GET", f"/tasks/{task_id}/log", params={"offset": 4})
    assert (tail.status_code, tail.text) == (200, "456789\n")
    assert tail.headers["x-ironship-log-size"] == "11"
    for past in (11, 500):
        r = api.call("GET", f"/tasks/{task_id}/log", params={"offset": past})
        assert (r.status_code, r.content) == (200, b"")
    bad = api.call("GET", f"/tasks/{task_id}/log", params={"offset": -1})
    assert bad.status_code == 400 and "offset" in bad.json()["msg"]


def test_range_header_is_206_only_when_sent(api: Api, name: str) -> None:
    """``Range: bytes=N-`` and ``bytes=N-M`` answer 206 with Content-Range; a Range past the
    end is 416; a Range the engine does not understand is ignored (200, whole log)."""
    task_id = _finished_task(api, name, "0123456789")
    path = f"/tasks/{task_id}/log"
    r = api.call("GET", path, headers={"Range": "bytes=8-"})
    assert (r.status_code, r.text) == (206, "89\n")
    assert r.headers["content-range"] == "bytes 8-10/11"
    r = api.call("GET", path, headers={"Range": "bytes=2-4"})
    assert (r.status_code, r.text, r.headers["content-range"]) == (206, "234", "bytes 2-4/11")
    r = api.call("GET", path, headers={"Range": "bytes=11-"})
    assert r.status_code == 416 and "past the end" in r.json()["msg"]
    r = api.call("GET", path, headers={"Range": "lines=1-2"})
    assert (r.status_code, r.text) == (200, "0123456789\n")


def test_outlog_streams_too(api: Api, name: str) -> None:
    """outlog answers the finished task's log the same way (200, whole)."""
    task_id = _finished_task(api, name, "out")
    r = api.call("GET", f"/tasks/{task_id}/outlog")
    assert (r.status_code, r.text) == (200, "out\n")


def _read_all(api: Api, task_id: str, sizes: list[int]) -> None:
    with api.call("GET", f"/tasks/{task_id}/log", stream=True, timeout=120) as r:
        assert r.status_code == 200
        sizes.append(sum(len(c) for c in r.iter_content(1024 * 1024)))


def test_big_log_read_concurrently_keeps_rss_bounded(tmp_path: Path) -> None:
    """Six concurrent reads of a 300 MB log keep the engine's peak RSS under 200 MB, deliver
    every byte, and GET codes is answered while they run."""
    with engine_process(tmp_path) as eng:
        api = eng.api
        task_id = _finished_task(api, "big", "x")
        log = eng.data_dir / "logs" / f"{task_id}.log"
        with log.open("r+b") as fh:  # sparse: no disk needed, still read as bytes
            fh.truncate(BIG_LOG)
        sizes: list[int] = []
        readers = [
            threading.Thread(target=_read_all, args=(api, task_id, sizes)) for _ in range(READERS)
        ]
        for t in readers:
            t.start()
        codes = requests.get(
            f"{api.base}/codes", headers={"Authorization": f"OAuth {api.token}"}, timeout=60
        )
        assert codes.status_code == 200 and codes.json()["codes"][0]["name"] == "big"
        for t in readers:
            t.join(timeout=300)
        assert sizes == [BIG_LOG] * READERS
        peak = eng.status_kb("VmHWM")
        print(f"engine peak RSS with {READERS} x {BIG_LOG >> 20} MB log reads: {peak} kB")
        assert peak < RSS_BOUND_KB, peak
