"""Property: packaging any small file tree is reproducible, digestible and lossless."""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import zipfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ironship.deploy.settings import local_worker, upload_settings
from ironship.manifest.models import Worker
from ironship.packaging.archive import write_zip
from ironship.packaging.fileset import select_fileset

# Directory and file names come from disjoint sets, so a path is never both a file and a dir.
DIRS = st.sampled_from(["a", "b", "src", "été", "x y"])
FILES = st.builds(
    "{}{}".format,
    st.sampled_from(["f", "g", "main", "Ünï", "-dash", "data"]),
    st.sampled_from([".py", ".txt", ".png", ".gz", "", ".sh"]),
)
PATHS = st.builds(lambda dirs, name: "/".join([*dirs, name]), st.lists(DIRS, max_size=3), FILES)
TREES = st.dictionaries(
    PATHS, st.tuples(st.binary(max_size=300), st.booleans()), min_size=1, max_size=12
)


def build(root: Path, tree: dict[str, tuple[bytes, bool]], seed: int, mtime: int) -> None:
    """Create the tree in a seeded random order with the given mtime and varied modes."""
    items = list(tree.items())
    random.Random(seed).shuffle(items)
    for rel, (content, executable) in items:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod((0o755 if executable else 0o644) & ~(0o077 if seed % 2 else 0o022))
        os.utime(path, (mtime, mtime))


def independent_digest(root: Path, settings_: dict[str, object]) -> str:
    """Re-derive the content digest from the tree with os.walk and hashlib only."""
    triples = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            rel = path.relative_to(root).as_posix()
            executable = bool(path.stat().st_mode & 0o100)
            triples.append([rel, executable, hashlib.sha256(path.read_bytes()).hexdigest()])
    doc = {"files": sorted(triples), "format": 1, "settings": settings_}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@settings(max_examples=30, deadline=None, database=None)
@given(tree=TREES, seeds=st.tuples(st.integers(0, 99), st.integers(0, 99)))
def test_packaging_is_reproducible_and_lossless(
    tree: dict[str, tuple[bytes, bool]], seeds: tuple[int, int]
) -> None:
    """Two builds of one tree (other order, mtimes, umask) zip identically and unzip to it."""
    entry = sorted(tree)[0]
    with tempfile.TemporaryDirectory() as tmp:
        outputs = []
        for i, seed in enumerate(seeds):
            root = Path(tmp, f"tree{i}").resolve()
            build(root, tree, seed + i, 400_000_000 + 7_777 * seed + i)
            worker = Worker(name="prop", root=root, entry=entry, runtime="python")
            fileset = select_fileset(worker)
            digest = local_worker(worker, fileset).digest
            assert digest == independent_digest(root, upload_settings(worker))
            dest = Path(tmp, f"out{i}.zip")
            md5 = write_zip(fileset, dest)
            outputs.append((dest.read_bytes(), md5, digest))
        assert outputs[0] == outputs[1]
        with zipfile.ZipFile(Path(tmp, "out0.zip")) as archive:
            unzipped = {
                info.filename: (archive.read(info), info.external_attr >> 16 == 0o100755)
                for info in archive.infolist()
            }
        assert unzipped == tree
