"""The package's layers depend only on the layers above them (see DESIGN.md).

1. plain data and shared machinery: types, errors, settings, logging, metrics
2. serializers, and the canonical encoding of values built on them
3. transports
4. the client and the server
5. built on the public API: the package root, testing, the command line, integrations

Imports under ``if TYPE_CHECKING:`` are for annotations only and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
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
