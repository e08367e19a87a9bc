"""Installers other than pip: found on PATH (a missing one is an error naming it), their
versions remembered between runs, Ruby's Bundler really run where Ruby has it, and the lock
files each one needs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from deploy.wheelhouse import CountingRunner

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.contents import select_package
from ironship.packaging.deps.cache import DepsCache
from ironship.packaging.deps.tools import ToolVersions


def worker(root: Path, runtime: str, entry: str, files: dict[str, str]) -> Worker:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in {entry: "\n", **files}.items():
        (root / name).write_text(text)
    return Worker(name="w", root=root, entry=entry, runtime=runtime)


def build(w: Worker, tmp_path: Path) -> None:
    select_package(w, tmp_path, deps=DepsCache(tmp_path / "cache", CountingRunner()))


LOCKED = {
    "node": (
        "main.js",
        {"package.json": '{"dependencies": {"a": "1"}}', "package-lock.json": "{}"},
    ),
    "ruby": ("main.rb", {"Gemfile": 'gem "a"\n', "Gemfile.lock": "GEM\n"}),
    "php": ("main.php", {"composer.json": '{"require": {"a/b": "1"}}', "composer.lock": "{}"}),
}


@pytest.mark.parametrize(
    ("runtime", "tool"), [("node", "npm"), ("ruby", "bundle"), ("php", "composer")]
)
def test_a_missing_installer_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: str, tool: str
) -> None:
    """A worker whose lock needs a tool that is not on PATH gets an error naming the tool and
    the worker, with how to install it."""
    entry, files = LOCKED[runtime]
    w = worker(tmp_path / "w", runtime, entry, files)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(IronshipError) as caught:
        build(w, tmp_path)
    assert f"needs '{tool}', which is not on PATH" in caught.value.message
    assert "worker 'w'" in caught.value.message
    assert (caught.value.hint or "").startswith("install")


def test_gemfile_without_its_lock_is_an_error(tmp_path: Path) -> None:
    """A ruby worker's Gemfile without Gemfile.lock says to run bundle lock."""
    w = worker(tmp_path / "w", "ruby", "main.rb", {"Gemfile": 'gem "a"\n'})
    with pytest.raises(IronshipError) as caught:
        build(w, tmp_path)
    assert "Gemfile.lock is missing" in caught.value.message
    assert "bundle lock" in (caught.value.hint or "")


def test_composer_json_requiring_packages_needs_its_lock(tmp_path: Path) -> None:
    """composer.json requiring a package but no composer.lock says to run composer update;
    one requiring only php and extensions vendors nothing."""
    w = worker(tmp_path / "w", "php", "main.php", {"composer.json": '{"require": {"a/b": "1"}}'})
    with pytest.raises(IronshipError) as caught:
        build(w, tmp_path)
    assert "composer.lock" in caught.value.message and "composer update" in (
        caught.value.hint or ""
    )
    (w.root / "composer.json").write_text(json.dumps({"require": {"php": ">=8", "ext-json": "*"}}))
    build(w, tmp_path)  # nothing to install: no tool needed


def test_tool_versions_are_asked_once_per_file(tmp_path: Path) -> None:
    """A tool's version is asked once and remembered in tools.json across objects, until the
    tool's file changes."""
    tool = tmp_path / "bin" / "fake-npm"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho 9.9.9\n")
    tool.chmod(0o755)
    runner = CountingRunner()
    assert ToolVersions(tmp_path / "tools.json", runner).version(tool) == "9.9.9"
    assert ToolVersions(tmp_path / "tools.json", runner).version(tool) == "9.9.9"
    assert len(runner.calls) == 1
    tool.write_text("#!/bin/sh\necho 10.0.0\n")
    assert ToolVersions(tmp_path / "tools.json", runner).version(tool) == "10.0.0"
    assert len(runner.calls) == 2


def test_a_failing_tool_version_is_an_error(tmp_path: Path) -> None:
    """A tool that cannot say its version is an error naming the command."""
    tool = tmp_path / "broken"
    tool.write_text("#!/bin/sh\nexit 3\n")
    tool.chmod(0o755)
    with pytest.raises(IronshipError) as caught:
        ToolVersions(tmp_path / "tools.json", CountingRunner()).version(tool)
    assert "--version' failed (exit 3)" in caught.value.message


def _bundle_program() -> str | None:
    """Bundler's own ``bundle`` program, when this Ruby ships Bundler."""
    if shutil.which("ruby") is None:
        return None
    done = subprocess.run(
        ["ruby", "-e", 'print Gem.bin_path("bundler", "bundle")'],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


@pytest.mark.skipif(_bundle_program() is None, reason="ruby with Bundler is not installed")
def test_bundler_vendors_a_locked_gem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Gemfile.lock resolved from a local gem source installs into vendor/bundle, with the
    .bundle/config that points Bundler there."""
    program = _bundle_program()
    assert program is not None
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    shim = home / "bin" / "bundle"
    shim.write_text(f'#!/bin/sh\nexec ruby {program} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{home / 'bin'}:{os.environ['PATH']}")
    source = gem_source(tmp_path / "gems")
    gemfile = f'source "file://{source}"\ngem "tinygem"\n'
    w = worker(tmp_path / "w", "ruby", "main.rb", {"Gemfile": gemfile})
    subprocess.run(["bundle", "lock"], cwd=w.root, capture_output=True, check=True)
    fs = select_package(w, tmp_path, deps=DepsCache(tmp_path / "cache", CountingRunner()))
    listed = [f.path for f in fs.files]
    assert any(p.endswith("gems/tinygem-0.4.0/lib/tinygem.rb") for p in listed)
    assert ".bundle/config" in listed and fs.runner is None
    assert fs.deps[0].versions() == {"tinygem": ("0.4.0",)}


def gem_source(folder: Path) -> Path:
    """A gem source folder (``gem generate_index``) holding tinygem 0.4.0."""
    src = folder / "src"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "tinygem.rb").write_text('module Tinygem; V = "0.4.0"; end\n')
    (src / "tinygem.gemspec").write_text(
        'Gem::Specification.new do |s|\n  s.name = "tinygem"; s.version = "0.4.0"\n'
        '  s.summary = "t"; s.authors = ["t"]; s.files = ["lib/tinygem.rb"]\nend\n'
    )
    subprocess.run(["gem", "build", "tinygem.gemspec"], cwd=src, capture_output=True, check=True)
    repo = folder / "repo"
    (repo / "gems").mkdir(parents=True)
    (src / "tinygem-0.4.0.gem").rename(repo / "gems" / "tinygem-0.4.0.gem")
    subprocess.run(
        ["gem", "generate_index", "--directory", str(repo)], capture_output=True, check=True
    )
    return repo
