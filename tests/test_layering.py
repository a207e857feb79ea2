"""The package's layers depend only on the layers above them (see DESIGN.md).

1. plain data and shared machinery: types, errors, settings, logging, metrics
2. serializers, and the canonical encoding of values built on them
3. transports
4. the client and the server
5. built on the public API: the package root, testing, the command line, integrations

Imports under ``if TYPE_CHECKING:`` are for annotations only and do not count for the
layers. They do count for the two stricter rules below: inside ``server/`` the modules are
ordered (:data:`SERVER_ORDER`), and no module of the package may reach itself through its
imports (annotation-only and function-level imports included).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src"

LAYERS = {
    "servicewire._version": 1,
    "servicewire._middleware": 1,
    "servicewire._syslog": 1,
    "servicewire._tracing": 1,
    "servicewire._otel_tracing": 1,
    "servicewire.types": 1,
    "servicewire.errors": 1,
    "servicewire.settings": 1,
    "servicewire.logging": 1,
    "servicewire.metrics": 1,
    "servicewire.serializer": 2,
    "servicewire._signing": 2,
    "servicewire.transport": 3,
    "servicewire.client": 4,
    "servicewire.server": 4,
    "servicewire": 5,
    "servicewire.testing": 5,
    "servicewire.cli": 5,
    "servicewire.otel": 5,
    "servicewire.server.django": 5,
    "servicewire.server.runtime": 4,
    "servicewire.server.workers": 4,
    "servicewire.server.invokers": 4,
    "servicewire.server.policies": 4,
    "servicewire.server.signing": 4,
    "servicewire.server.activation": 4,
    "servicewire.server.invocation": 4,
    "servicewire.client.signing": 4,
}


def layer_of(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")


def module_name(path: Path) -> str:
    relative = path.relative_to(SOURCE).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def runtime_imports(tree: ast.Module, package: str) -> Iterator[tuple[int, str]]:
    type_checking_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        type_checking_lines.add(inner.lineno)
    for node in ast.walk(tree):
        if node.lineno in type_checking_lines if hasattr(node, "lineno") else False:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                yield node.lineno, ".".join([*base, node.module])
            else:
                yield node.lineno, node.module


def modules() -> list[Path]:
    return sorted((SOURCE / "servicewire").rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_respect_the_layers(path: Path) -> None:
    name = module_name(path)
    own_layer = layer_of(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    violations = [
        f"line {line}: {name} (layer {own_layer}) imports {target} (layer {layer_of(target)})"
        for line, target in runtime_imports(ast.parse(path.read_text()), package)
        if (target == "servicewire" or target.startswith("servicewire."))
        and layer_of(target) > own_layer
    ]
    assert violations == []


def test_every_module_has_a_layer() -> None:
    for path in modules():
        layer_of(module_name(path))


# --- every import, for the order inside server/ and for circles ------------------------------


def all_imports(tree: ast.Module, package: str) -> Iterator[str]:
    """Every module ``tree`` imports, wherever the import is (``TYPE_CHECKING`` blocks and
    functions included); ``from package import name`` also names ``package.name``, which
    is a module when it is one."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph(sources: Mapping[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """The modules each module imports, among ``sources`` (module name to its source and
    whether it is a package's ``__init__``)."""
    graph: dict[str, set[str]] = {}
    for name, (source, is_package) in sources.items():
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for imported in all_imports(ast.parse(source), package):
            target = imported
            while target and target not in sources:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


@functools.cache
def package_graph() -> dict[str, set[str]]:
    return import_graph(
        {module_name(path): (path.read_text(), path.name == "__init__.py") for path in modules()}
    )


def circles(graph: Mapping[str, Iterable[str]]) -> set[frozenset[str]]:
    """The import circles of ``graph``: its strongly connected components of more than one
    module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = lowest[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = lowest[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph.get(target, ()))))
                elif target in on_stack:
                    lowest[node] = min(lowest[node], index[target])
                continue
            work.pop()
            if work:
                lowest[work[-1][0]] = min(lowest[work[-1][0]], lowest[node])
            if lowest[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_no_module_reaches_itself_through_its_imports() -> None:
    found = circles(package_graph())
    assert found == set(), "import circles: " + "; ".join(
        " <-> ".join(sorted(circle)) for circle in found
    )


def test_the_circle_check_counts_annotation_and_function_level_imports() -> None:
    sources = {
        "pkg": ("", True),
        "pkg.a": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
            False,
        ),
        "pkg.b": ("def late():\n    from . import c\n", False),
        "pkg.c": ("import pkg.a\n", False),
        "pkg.d": ("from pkg import a\n", False),
    }
    assert circles(import_graph(sources)) == {frozenset({"pkg.a", "pkg.b", "pkg.c"})}


# The order of the modules inside server/, lowest first: a module imports only modules of
# its own tier or of the tiers before it (and circles are caught above).
SERVER_ORDER: list[tuple[str, ...]] = [
    # what a request is, and the pieces that know nothing of a server
    ("request", "validation", "coroutine", "signing_settings", "job_clients", "last_ditch"),
    # what arrives, parsed once; what plugins see of a server; extension points on requests
    ("received", "interface", "middleware", "invokers", "auxiliary.call"),
    # plugins and observers, typed against the interface; the worker pool
    ("policies", "signing", "auxiliary.processors", "events", "workers"),
    # the settings, which name the plugin classes
    ("settings",),
    # actions
    ("action", "activation", "switched"),
    # calling actions: policies and invokers, the action middleware, auxiliary actions
    ("invocation", "execution", "auxiliary.actions"),
    # the transport-facing half
    ("serving",),
    # what the runtime and the built-in actions see of a server, and they
    ("host", "builtin", "runtime"),
    # the programming model, which builds all of the above
    ("server",),
    # built on Server
    ("auxiliary.queued", "auxiliary", "", "django"),
]


def server_tier(module: str) -> int:
    relative = module.removeprefix("servicewire.server").removeprefix(".")
    for tier, names in enumerate(SERVER_ORDER):
        for name in names:
            if relative == name or (name == "django" and relative.startswith("django.")):
                return tier
    raise AssertionError(f"{module} has no place in SERVER_ORDER in {__file__}")


def server_modules() -> list[str]:
    return [
        name
        for name in map(module_name, modules())
        if name == "servicewire.server" or name.startswith("servicewire.server.")
    ]


@pytest.mark.parametrize("module", server_modules())
def test_server_modules_import_only_modules_ordered_before_them(module: str) -> None:
    own = server_tier(module)
    graph = package_graph()
    upward = [
        f"{module} (tier {own}) imports {target} (tier {server_tier(target)})"
        for target in sorted(graph[module])
        if (target == "servicewire.server" or target.startswith("servicewire.server."))
        and server_tier(target) > own
    ]
    assert upward == []
