"""The import layers of docs/architecture.md, checked against the code.

Imports go down only: a layer never imports one above it, not even for a type annotation
(`if TYPE_CHECKING:`) or inside a function, and no modules import each other in a cycle. This
builds the import graph of every module under src/chronik with `ast` (so type-only and lazy
imports count like any other), reads the layer table from the fenced block after the
`<!-- layers:` marker in docs/architecture.md (highest layer first, lowest last), and fails
naming every unlisted module, every cycle and every upward import, so the document and the code
cannot drift apart.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
EXPECTED_LAYERS = ["interfaces", "domains", "facade", "services", "stores", "core"]

Edges = dict[str, dict[str, list[str]]]  # importer -> imported -> ["file:line", ...]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "chronik").rglob("*.py"))}


def imports_of(source: str, module: str, is_package: bool, known) -> list[tuple[str, int]]:
    """(imported chronik module, line) for every import anywhere in `source`."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):  # walks into functions, classes and if-blocks
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                assert node.level <= len(parts), f"{module}:{node.lineno}: relative import beyond chronik"
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            # `from pkg import name` imports pkg.name when that is a submodule, else pkg itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "chronik" or target.startswith("chronik."):
                while target not in known and "." in target:  # name of a module that doesn't exist
                    target = target.rpartition(".")[0]
                found.append((target, node.lineno))
    return found


@functools.cache
def import_graph() -> Edges:
    known = modules()
    graph: Edges = {name: {} for name in known}
    for name, path in known.items():
        source = path.read_text(encoding="utf-8")
        for target, line in sorted(imports_of(source, name, path.name == "__init__.py", known)):
            if target != name:
                places = graph[name].setdefault(target, [])
                if (where := f"{path.relative_to(ROOT)}:{line}") not in places:
                    places.append(where)
    return graph


@functools.cache
def layer_table() -> tuple[tuple[str, str], ...]:
    """(layer, dotted name) rows in document order: highest layer first."""
    lines = ARCHITECTURE.read_text(encoding="utf-8").splitlines()
    marker = next((i for i, line in enumerate(lines) if "<!-- layers:" in line), len(lines))
    assert lines[marker + 1 : marker + 2] and lines[marker + 1].startswith("```"), (
        f"{ARCHITECTURE}: no fenced block right after the `<!-- layers:` line"
    )
    block = lines[marker + 2 :]
    assert "```" in block, f"{ARCHITECTURE}: the layer block is never closed"
    # the first two words of each line; indented lines continue a description
    return tuple(tuple(line.split()[:2]) for line in block[: block.index("```")] if line[:1].strip())


def layer_order() -> list[str]:
    return list(dict.fromkeys(layer for layer, _ in layer_table()))


def layer_of(module: str) -> str | None:
    """The layer of the longest listed name that is the module or a package above it; a top-level
    name (the bare root `chronik`) stands for that one module only."""
    matches = [
        (len(name), layer)
        for layer, name in layer_table()
        if module == name or ("." in name and module.startswith(name + "."))
    ]
    return max(matches)[1] if matches else None


def strongly_connected(graph: Edges) -> list[list[str]]:
    """Tarjan's algorithm; returns the components of more than one module (each holds a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in graph[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(component) > 1:
                components.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return components


def shortest_cycle(graph: Edges, start: str, within: set[str]) -> list[str]:
    """Breadth-first from `start` back to itself inside one component; starts at its least module."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child == start:
                cycle = [node]
                while cycle[-1] != start:
                    cycle.append(came_from[cycle[-1]])
                cycle.reverse()
                first = cycle.index(min(cycle))
                return cycle[first:] + cycle[:first]
            if child in within and child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is on no cycle")


def test_the_layer_table_lists_the_six_layers_in_order():
    layers = [layer for layer, _ in layer_table()]
    assert layer_order() == EXPECTED_LAYERS, f"layers in docs/architecture.md: {layer_order()}"
    assert layers == sorted(layers, key=EXPECTED_LAYERS.index), (
        f"one layer's lines must be consecutive: {layers}"
    )
    names = [name for _, name in layer_table()]
    assert len(names) == len(set(names)), f"a name is listed twice: {names}"


def test_the_parser_sees_type_only_relative_and_function_level_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "if TYPE_CHECKING:\n"
        "    from chronik.ledger import Ledger\n"
        "def make():\n"
        "    from . import memory\n"
        "    from ..derive import replay, Reducer\n"
        "    import chronik.model as m\n"
    )
    known = {"chronik.derive", "chronik.derive.replay", "chronik.ledger", "chronik.model", "chronik.stores",
             "chronik.stores.base", "chronik.stores.memory"}  # fmt: skip
    found = imports_of(source, "chronik.stores.fake", False, known)
    assert sorted(found) == [("chronik.derive", 7), ("chronik.derive.replay", 7), ("chronik.ledger", 4),
                             ("chronik.model", 8), ("chronik.stores.memory", 6)]  # fmt: skip
    # in a package's __init__, `from . import x` is relative to the package itself
    assert imports_of("from . import base", "chronik.stores", True, known) == [("chronik.stores.base", 1)]


def test_every_module_is_in_a_layer():
    unlisted = [name for name in modules() if layer_of(name) is None]
    assert not unlisted, "modules in no layer of docs/architecture.md:\n  " + "\n  ".join(unlisted)


def test_no_import_cycles():
    graph = import_graph()
    messages = []
    for component in strongly_connected(graph):
        # the shortest cycle through each member, each cycle once
        cycles = [shortest_cycle(graph, start, set(component)) for start in component]
        cycles = [cycle for i, cycle in enumerate(cycles) if cycle not in cycles[:i]]
        messages.append(f"cycle among {', '.join(component)}:")
        messages += ["  " + " -> ".join([*cycle, cycle[0]]) for cycle in cycles]
    assert not messages, "import cycles:\n" + "\n".join(messages)


def test_no_upward_imports():
    rank = {layer: i for i, layer in enumerate(layer_order())}  # 0 is the highest layer
    upward = []
    for importer, targets in import_graph().items():
        own = layer_of(importer)
        for target, places in sorted(targets.items()):
            their = layer_of(target)  # unlisted modules are test_every_module_is_in_a_layer's to report
            if own is not None and their is not None and rank[their] < rank[own]:
                upward += [f"{importer} ({own}) imports {target} ({their}) at {place}" for place in places]
    assert not upward, "upward imports:\n  " + "\n  ".join(upward)
