"""What the dependency tests install, built by the tests themselves so the suite needs no
network: wheels (pure, or with a manylinux platform tag), an sdist that builds with an
in-tree backend, and npm tarballs with a lock; plus a Runner that counts processes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from ironship.packaging.deps.tools import Completed, run_process

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")


WHEEL = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires: Sequence[str] = (),
    code: str | None = None,
    scripts: Mapping[str, str] | None = None,
) -> Path:
    """Write ``name-version-tag.whl`` into ``dest``: one module ``name`` (VERSION = version)."""
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": (code or f"VERSION = {version!r}\n").encode(),
        f"{dist}/METADATA": meta.encode(),
        f"{dist}/WHEEL": WHEEL.format(tag=tag).encode(),
    }
    if scripts:
        lines = "".join(f"{k} = {v}\n" for k, v in scripts.items())
        files[f"{dist}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode()
    record = "".join(f"{p},{_record_hash(c)},{len(c)}\n" for p, c in files.items())
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for rel, content in files.items():
            archive.writestr(rel, content)
    return path


_BACKEND = """
import base64, hashlib, zipfile
NAME, VERSION = {name!r}, {version!r}
META = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n"
WHEEL = "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
def _rec(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    di = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}.py": open(f"{{NAME}}.py", "rb").read(),
        f"{{di}}/METADATA": META.encode(),
        f"{{di}}/WHEEL": WHEEL.encode(),
    }}
    record = "".join(f"{{p}},{{_rec(c)}},{{len(c)}}\\n" for p, c in files.items())
    files[f"{{di}}/RECORD"] = (record + f"{{di}}/RECORD,,\\n").encode()
    name = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(f"{{wheel_directory}}/{{name}}", "w") as z:
        for p, c in files.items():
            z.writestr(p, c)
    return name
"""


def sdist(dest: Path, name: str, version: str) -> Path:
    """Write ``name-version.tar.gz``: a source distribution only (no wheel), whose in-tree
    build backend needs nothing installed, so pip can build it offline."""
    folder = f"{name}-{version}"
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": _BACKEND.format(name=name, version=version),
        f"{name}.py": "BUILT = True\n",
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{folder}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{folder}/{rel}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def isolate_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip reads no config file and no PIP_* variable of the machine running the tests."""
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")


def npm_env(home: Path) -> dict[str, str]:
    """An environment where npm reads no user config and caches under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(HOME=str(home), npm_config_cache=str(home / ".npm-cache"))
    env.update(npm_config_update_notifier="false", npm_config_audit="false")
    return env


def npm_tarball(dest: Path, name: str, version: str, code: str, env: Mapping[str, str]) -> Path:
    """``npm pack`` of a one-file package; returns the tarball."""
    source = dest / f"src-{name}-{version}"
    source.mkdir(parents=True)
    manifest = {"name": name, "version": version, "main": "index.js"}
    (source / "package.json").write_text(json.dumps(manifest))
    (source / "index.js").write_text(code)
    done = subprocess.run(
        ["npm", "pack", "--pack-destination", str(dest)],
        cwd=source,
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    )
    return dest / done.stdout.strip().splitlines()[-1]


def npm_lock(root: Path, dependencies: Mapping[str, Path], env: Mapping[str, str]) -> None:
    """Write ``package.json`` depending on local tarballs and let npm write its lock."""
    manifest = {
        "name": root.name.lower(),
        "version": "1.0.0",
        "dependencies": {name: f"file:{path}" for name, path in dependencies.items()},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps(manifest, indent=2))
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--ignore-scripts"],
        cwd=root,
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    )


class CountingRunner:
    """The real Runner, remembering every command it started."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Completed:
        self.calls.append(list(argv))
        return run_process(argv, cwd=cwd, env=env)
