"""Valid verdicts of the schema are remembered beside the manifest (manifest/verdicts.py): the
next check of the same data is a lookup, a manifest with problems is checked in full every
time, and nothing about the memory can make an invalid manifest pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli_support import hello_project

from ironship.manifest.verdicts import FILE_NAME, KEEP, Verdicts, key_of

PROBE = r"""
import json, sys
from pathlib import Path
from ironship.manifest.load import validate_manifest
problems = validate_manifest(Path(sys.argv[1]))
print(json.dumps({"problems": problems, "jsonschema": "jsonschema" in sys.modules}))
"""


def project(folder: Path, *, state: bool = True) -> Path:
    """A manifest and its worker; ``state``: with the ``.ironship/`` a plan or apply makes."""
    if state:
        (folder / ".ironship").mkdir(exist_ok=True)
    return hello_project(folder, "    retries: 2\n")


def fresh_check(path: Path) -> dict[str, object]:
    """``validate_manifest`` in a new interpreter: its problems, and whether jsonschema loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRON")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_valid_manifest_is_checked_once_then_looked_up(tmp_path: Path) -> None:
    path = project(tmp_path)
    first = fresh_check(path)
    assert first == {"problems": [], "jsonschema": True}
    remembered = tmp_path / ".ironship" / "cache" / FILE_NAME
    assert remembered.stat().st_size > 0
    before = remembered.stat().st_mtime_ns
    second = fresh_check(path)
    assert second == {"problems": [], "jsonschema": False}
    assert remembered.stat().st_mtime_ns == before  # nothing new: nothing written


def test_an_edit_is_checked_again_and_its_problems_reported_every_time(tmp_path: Path) -> None:
    path = project(tmp_path)
    assert fresh_check(path)["problems"] == []
    path.write_text(path.read_text().replace("retries: 2", "retries: lots"))
    for _ in range(2):
        found = fresh_check(path)
        assert found["jsonschema"] is True
        problems = found["problems"]
        assert isinstance(problems, list) and len(problems) == 1
        assert "workers.hello.retries" in problems[0] and "lots" in problems[0]
    # Back to the valid text: the verdict remembered for it holds again.
    path.write_text(path.read_text().replace("retries: lots", "retries: 2"))
    assert fresh_check(path) == {"problems": [], "jsonschema": False}


def test_values_that_look_alike_have_different_keys() -> None:
    """1, True, 1.0 and "1" are different values to the schema: never one verdict."""
    keys = {key_of({"retries": v}) for v in (1, True, 1.0, "1", [1], None)}
    assert None not in keys and len(keys) == 6
    assert key_of({"a": 1, "b": 2}) == key_of({"a": 1, "b": 2})


def test_data_marshal_cannot_write_has_no_key() -> None:
    """Such data (never read from YAML, whose dates stay text) is simply checked in full."""
    assert key_of({"when": object()}) is None


def test_no_state_folder_is_made_for_a_verdict(tmp_path: Path) -> None:
    path = project(tmp_path, state=False)
    assert fresh_check(path) == {"problems": [], "jsonschema": True}
    assert fresh_check(path) == {"problems": [], "jsonschema": True}
    assert not (tmp_path / ".ironship").exists()


def test_a_folder_where_nothing_can_be_written_still_validates(tmp_path: Path) -> None:
    """``.ironship`` taken by a file: the verdict is not kept, the check still answers."""
    path = project(tmp_path, state=False)
    (tmp_path / ".ironship").write_text("not a folder")
    assert fresh_check(path) == {"problems": [], "jsonschema": True}
    assert fresh_check(path) == {"problems": [], "jsonschema": True}
    assert (tmp_path / ".ironship").read_text() == "not a folder"


def test_a_damaged_file_only_forgets(tmp_path: Path) -> None:
    path = project(tmp_path)
    cache = tmp_path / ".ironship" / "cache"
    cache.mkdir(parents=True)
    (cache / FILE_NAME).write_bytes(b"\x00garbage of an odd length")
    assert fresh_check(path) == {"problems": [], "jsonschema": True}
    assert fresh_check(path) == {"problems": [], "jsonschema": False}


def test_only_the_last_verdicts_are_kept(tmp_path: Path) -> None:
    (tmp_path / ".ironship").mkdir()
    verdicts = Verdicts(tmp_path)
    keys = [bytes([i]) * 16 for i in range(KEEP + 5)]
    for key in keys:
        verdicts.remember(key)
    again = Verdicts(tmp_path)
    assert not again.valid(keys[0]) and not again.valid(keys[4])
    assert all(again.valid(k) for k in keys[5:])
    assert (tmp_path / ".ironship" / "cache" / FILE_NAME).stat().st_size == KEEP * 16
    assert not list((tmp_path / ".ironship" / "cache").glob("*.tmp"))
