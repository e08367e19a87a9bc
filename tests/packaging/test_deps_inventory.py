"""Which distributions a vendored tree holds, read from what each installer leaves behind,
for a tree given as paths and contents and for a package zip."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from ironship.packaging.deps.inventory import packages_of, vendored_in_zip
from ironship.packaging.deps.model import Package


def reader(files: dict[str, str]) -> Callable[[str], bytes | None]:
    return lambda path: files[path].encode() if path in files else None


def test_pip_distributions_own_their_record_and_scripts() -> None:
    """Each dist-info names a distribution (METADATA's Name and Version) owning the files its
    RECORD lists, console scripts included; unclaimed files group by their first folder."""
    files = {
        "__pips__/Tiny_Pure-1.0.dist-info/METADATA": "Name: Tiny-Pure\nVersion: 1.0\n\nbody\n",
        "__pips__/Tiny_Pure-1.0.dist-info/RECORD": (
            "tiny_pure/__init__.py,sha256=x,1\n../../bin/tiny,sha256=y,2\n"
            "Tiny_Pure-1.0.dist-info/RECORD,,\n"
        ),
        "__pips__/tiny_pure/__init__.py": "",
        "__pips__/bin/tiny": "",
        "__pips__/stray/file.txt": "",
        "main.py": "",
    }
    found = packages_of("pip", files, reader(files))
    assert found == (
        Package("stray", "", ("__pips__/stray/file.txt",)),
        Package(
            "Tiny-Pure",
            "1.0",
            (
                "__pips__/Tiny_Pure-1.0.dist-info/METADATA",
                "__pips__/Tiny_Pure-1.0.dist-info/RECORD",
                "__pips__/bin/tiny",
                "__pips__/tiny_pure/__init__.py",
            ),
        ),
    )


def test_npm_packages_nested_and_scoped_each_own_their_folder() -> None:
    """Every node_modules/[@scope/]name/package.json is a package owning its folder, except
    what a deeper package owns; a package.json deeper inside a package is just a file."""
    files = {
        "node_modules/a/package.json": json.dumps({"name": "a", "version": "1.0.0"}),
        "node_modules/a/index.js": "",
        "node_modules/a/lib/package.json": "{}",
        "node_modules/a/node_modules/b/package.json": json.dumps({"name": "b", "version": "2.0.0"}),
        "node_modules/a/node_modules/b/index.js": "",
        "node_modules/@s/c/package.json": json.dumps({"name": "@s/c", "version": "3.0.0"}),
    }
    found = {p.name: (p.version, len(p.paths)) for p in packages_of("npm", files, reader(files))}
    assert found == {"a": ("1.0.0", 3), "b": ("2.0.0", 2), "@s/c": ("3.0.0", 1)}


def test_gems_and_composer_packages_are_named_with_versions() -> None:
    """Bundler's gems/NAME-VERSION folders and Composer's installed.json give names and
    versions; a gem's specification belongs to it."""
    gems = {
        "vendor/bundle/ruby/3.1.0/gems/rack-3.0.8/lib/rack.rb": "",
        "vendor/bundle/ruby/3.1.0/gems/nokogiri-1.15.4-x86_64-linux/lib/n.rb": "",
        "vendor/bundle/ruby/3.1.0/specifications/rack-3.0.8.gemspec": "",
    }
    found = {p.name: (p.version, len(p.paths)) for p in packages_of("bundler", gems, reader(gems))}
    assert found == {"rack": ("3.0.8", 2), "nokogiri": ("1.15.4", 1)}
    installed = {"packages": [{"name": "monolog/monolog", "version": "3.5.0"}]}
    php = {
        "vendor/composer/installed.json": json.dumps(installed),
        "vendor/monolog/monolog/src/Logger.php": "",
        "vendor/autoload.php": "",
    }
    versions = {p.name: p.version for p in packages_of("composer", php, reader(php))}
    assert versions == {"monolog/monolog": "3.5.0", "composer": "", "autoload.php": ""}


def test_vendored_trees_are_read_from_a_zip(tmp_path: Path) -> None:
    """A server's zip gives the trees of the kinds asked for that it holds, with versions."""
    path = tmp_path / "code.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__pips__/x-1.2.dist-info/METADATA", "Name: x\nVersion: 1.2\n")
        archive.writestr("__pips__/x/__init__.py", "")
        archive.writestr("main.py", "")
    (tree,) = vendored_in_zip(path, ["npm", "pip", "pip"])
    assert (tree.kind, tree.versions()) == ("pip", {"x": ("1.2",)})
