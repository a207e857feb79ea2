"""Rewriting Conformity schema declarations in Python source into pydantic models.

:func:`migrate_source` finds, with the standard library's :mod:`ast`, each declaration
``NAME = fields.Dictionary({...})`` (a module-level name, or an action's ``request_schema``
and ``response_schema``) and replaces it with a pydantic model class defined just before
the statement (``request_schema = GetUserRequest``; a module-level ``USER = User`` keeps
the old name working). Only the text of the declarations changes; the rest of the file,
comments and formatting included, is left byte for byte, so a diff shows exactly what moved.
A declaration using a field with no faithful pydantic counterpart (``Polymorph``,
``additional_validator``, ``ClassConfigurationSchema``, ``.extend()``, ...) is left as it is
and reported; so is a module-level schema used as a Conformity object (``USER.extend``)
or by a declaration left as it is, which would break if it became a model. Schemas
imported by other modules are not followed: review those modules.

What changes in meaning: an optional key becomes ``T | None = None`` (a model cannot tell an
absent key from a null one), and ``EmailAddress``/``IPAddress`` become plain ``str``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from servicewire.compat.schema_conversion import (
    ImportsNeeded,
    NotConvertible,
    SchemaConverter,
    model_name_of,
)

__all__ = ["Migration", "NotConvertible", "migrate_source"]

_CONFORMITY_MODULES = ("conformity", "servicewire.compat.conformity")
_SCHEMA_ATTRIBUTES = {"request_schema": "Request", "response_schema": "Response"}


@dataclass
class Migration:
    """The rewritten source, and a note for each declaration left as it was."""

    source: str
    converted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.converted)


def _conformity_field_names(tree: ast.Module) -> dict[str, str]:
    """How this module spells each Conformity field: ``fields.Integer`` or ``Integer``."""
    names: dict[str, str] = {}
    from servicewire.compat.conformity import fields

    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        if node.module in _CONFORMITY_MODULES:
            for alias in node.names:
                if alias.name == "fields":
                    for field_name in fields.__all__:
                        names[f"{alias.asname or 'fields'}.{field_name}"] = field_name
        elif node.module in tuple(f"{m}.fields" for m in _CONFORMITY_MODULES):
            for alias in node.names:
                if alias.name in fields.__all__:
                    names[alias.asname or alias.name] = alias.name
    return names


@dataclass
class _Edit:
    start: int  # offsets into the source
    end: int
    text: str
    order: int = 0  # of insertions at one place: the order they are to appear in


def _offsets(source: str) -> list[int]:
    starts, total = [0], 0
    for line in source.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


@dataclass
class _Declaration:
    """``name = fields.Dictionary(...)``, at module level or as an action's schema."""

    value: ast.Call
    model_name: str
    where: str
    statement: ast.stmt
    module_name: str | None  # the module-level name it defines, if it is one


def _declarations(tree: ast.Module, converter: SchemaConverter) -> list[_Declaration]:
    found = []

    def add(value: ast.expr, model: str, where: str, statement: ast.stmt, name: str | None) -> None:
        if isinstance(value, ast.Call) and converter.field_name(value) == "Dictionary":
            found.append(_Declaration(value, model, where, statement, name))

    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name):
                add(statement.value, model_name_of(target.id), target.id, statement, target.id)
        elif isinstance(statement, ast.ClassDef):
            for item in statement.body:
                if (
                    isinstance(item, ast.Assign)
                    and len(item.targets) == 1
                    and isinstance(item.targets[0], ast.Name)
                    and item.targets[0].id in _SCHEMA_ATTRIBUTES
                ):
                    attribute = item.targets[0].id
                    base = statement.name.removesuffix("Action") or statement.name
                    model = base + _SCHEMA_ATTRIBUTES[attribute]
                    add(item.value, model, f"{statement.name}.{attribute}", statement, None)
    return found


def _names_used_otherwise(tree: ast.Module, declarations: list[_Declaration]) -> set[str]:
    """The module-level schema names used other than as a field of another declaration
    (``USER.extend(...)``, passed to a function, ...): those must stay Conformity objects."""
    names = {d.module_name for d in declarations if d.module_name}
    inside: set[int] = set()
    for declaration in declarations:
        for node in ast.walk(declaration.value):
            if isinstance(node, ast.Name):
                inside.add(id(node))
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    used_otherwise = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load):
            parent = parents.get(id(node))
            if id(node) not in inside or isinstance(parent, ast.Attribute):
                used_otherwise.add(node.id)
    return used_otherwise


def migrate_source(source: str, filename: str = "<source>") -> Migration:
    """Rewrite the Conformity declarations of ``source``; see the module."""
    tree = ast.parse(source, filename)
    field_names = _conformity_field_names(tree)
    migration = Migration(source)
    if not field_names:
        return migration
    declarations = _declarations(tree, SchemaConverter(field_names, {}))
    # A module-level schema is converted only if every declaration using it is: until
    # nothing changes, keep the names whose users could not be converted as they were.
    kept = _names_used_otherwise(tree, declarations)
    while True:
        known_models: dict[str, str] = {}
        results: list[tuple[_Declaration, SchemaConverter | NotConvertible]] = []
        for declaration in declarations:
            converter = SchemaConverter(field_names, known_models)
            if declaration.module_name in kept:
                results.append((declaration, NotConvertible("it is used as a Conformity object")))
                continue
            try:
                converter.model(declaration.value, declaration.model_name)
            except NotConvertible as problem:
                results.append((declaration, problem))
                continue
            results.append((declaration, converter))
            if declaration.module_name:
                known_models[declaration.module_name] = declaration.model_name
        blocked = {
            node.id
            for declaration, outcome in results
            if isinstance(outcome, NotConvertible)
            for node in ast.walk(declaration.value)
            if isinstance(node, ast.Name) and node.id in known_models
        }
        if not blocked:
            break
        kept |= blocked
    return _apply(source, filename, results, migration)


def _apply(
    source: str,
    filename: str,
    results: list[tuple[_Declaration, SchemaConverter | NotConvertible]],
    migration: Migration,
) -> Migration:
    line_starts = _offsets(source)
    source_lines = source.splitlines()

    def offset(line: int, column: int) -> int:
        # ast columns are UTF-8 byte offsets.
        text = source[line_starts[line - 1] : line_starts[line]]
        return line_starts[line - 1] + len(text.encode()[:column].decode())

    edits: list[_Edit] = []
    needs = ImportsNeeded()
    for declaration, outcome in results:
        statement, value = declaration.statement, declaration.value
        if isinstance(outcome, NotConvertible):
            migration.skipped.append(
                f"{filename}:{statement.lineno}: {declaration.where} left as it is: {outcome}"
            )
            continue
        needs.pydantic |= outcome.needs.pydantic
        needs.typing |= outcome.needs.typing
        needs.modules |= outcome.needs.modules
        classes = "\n\n\n".join(outcome.classes)
        # Before the statement, its decorators and the comment lines just above it.
        decorators = getattr(statement, "decorator_list", None) or [statement]
        first_line = min(node.lineno for node in decorators)
        while first_line > 1 and source_lines[first_line - 2].lstrip().startswith("#"):
            first_line -= 1
        start = offset(first_line, 0)
        # Two blank lines around the new top-level classes, as PEP 8 has them.
        before = "\n" * (3 - len(source[:start]) + len(source[:start].rstrip("\n")))
        edits.append(_Edit(start, start, before + classes + "\n\n\n", order=len(edits)))
        end = offset(value.end_lineno or value.lineno, value.end_col_offset or 0)
        edits.append(_Edit(offset(value.lineno, value.col_offset), end, declaration.model_name))
        migration.converted.append(
            f"{filename}:{statement.lineno}: {declaration.where} -> {declaration.model_name}"
        )
    if not edits:
        return migration
    text = source
    for edit in sorted(edits, key=lambda e: (e.start, e.end, e.order), reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    migration.source = _drop_unused_conformity_imports(_add_imports(text, needs))
    return migration


def _drop_unused_conformity_imports(source: str) -> str:
    """Remove the Conformity imports nothing uses any more (all their names unused)."""
    tree = ast.parse(source)
    used = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    lines = source.splitlines(keepends=True)
    for statement in reversed(tree.body):
        if not isinstance(statement, ast.ImportFrom) or statement.module is None:
            continue
        if statement.module.split(".fields")[0] not in _CONFORMITY_MODULES:
            continue
        if all((alias.asname or alias.name) not in used for alias in statement.names):
            del lines[statement.lineno - 1 : statement.end_lineno or statement.lineno]
    return "".join(lines)


def _add_imports(source: str, needs: ImportsNeeded) -> str:
    lines = [f"import {module}" for module in sorted(needs.modules)]
    if needs.typing:
        lines.append(f"from typing import {', '.join(sorted(needs.typing))}")
    lines.append(f"from pydantic import {', '.join(sorted(needs.pydantic))}")
    tree = ast.parse(source)
    last_import = 0
    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            last_import = statement.end_lineno or statement.lineno
        elif not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)):
            break
    source_lines = source.splitlines(keepends=True)
    insertion = "".join(line + "\n" for line in lines)
    return "".join(source_lines[:last_import]) + insertion + "".join(source_lines[last_import:])
