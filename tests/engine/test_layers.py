"""The engine's layers import one way only, and no engine module takes part in an import loop.

The rule (docs/architecture.md, Packages and what they may import; Conventions 8): ``http``
may use ``state`` and ``run``, ``run`` may use ``state``, ``state`` uses nothing of the
others, and only ``server`` wires them all. Read from the source with ``ast``, so an import
hidden under ``TYPE_CHECKING`` counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ironship.engine

ROOT = Path(ironship.engine.__file__).parent
PREFIX = "ironship.engine"

# Layer → the layers its modules may import (besides their own).
ALLOWED: dict[str, set[str]] = {
    "procs": set(),
    "state": {"procs"},
    "run": {"state", "procs"},
    "http": {"state", "run", "zipcheck"},
    "zipcheck": set(),
    "local": {"state"},
    "server": {"state", "run", "http", "zipcheck", "local", "procs"},
}
# Process execution knows nothing of the database: only the dispatcher reads and writes state.
PURE_RUN = {f"{PREFIX}.run.runner", f"{PREFIX}.run.runtimes", f"{PREFIX}.run.spec"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((PREFIX, *parts))] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The engine modules ``path`` imports (``from pkg import mod`` names the module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith(PREFIX + "."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PREFIX + "."):
            module = str(node.module)
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.add(sub if sub in MODULES else module)
    return out


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    return module.removeprefix(PREFIX + ".").split(".")[0]


def test_every_module_is_in_a_known_layer() -> None:
    """A new top-level engine module must be given a place in ALLOWED before it is used."""
    assert {_layer(m) for m in MODULES if m != PREFIX} == set(ALLOWED)


def test_layers_import_only_downwards() -> None:
    """state imports nothing of http/run/server; run nothing of http; only server wires all."""
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module != PREFIX
        for target in targets
        if _layer(target) != _layer(module) and _layer(target) not in ALLOWED[_layer(module)]
    ]
    assert wrong == []


def test_running_a_process_does_not_touch_state() -> None:
    """runner, runtimes and spec import nothing from state: the dispatcher translates."""
    wrong = [(m, t) for m in PURE_RUN for t in GRAPH[m] if _layer(t) == "state"]
    assert wrong == []


def test_no_import_loops() -> None:
    """No engine module reaches itself through its imports (not even under TYPE_CHECKING)."""
    loops: list[list[str]] = []

    def visit(module: str, path: list[str], done: set[str]) -> None:
        for target in sorted(GRAPH.get(module, set())):
            if target in path:
                loops.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target], done)
        done.add(module)

    finished: set[str] = set()
    for module in sorted(GRAPH):
        visit(module, [module], finished)
    assert loops == []
