"""Expansions: filling objects in responses with related objects fetched from services.

A response object carrying ``"_type": "book"`` may hold ids (``author_id``) that another
service can turn into objects. With ``expansions={"book": ["author"]}``, the client collects
every such id in the responses, calls the route's action once per route and level with all of
them, and puts each object found at the expansion's ``destination_field``. Dotted names
(``"author.publisher"``) expand the expanded objects in turn.

The planning and bookkeeping here do no I/O: :func:`expansion_steps` is a generator that
yields the calls to make and receives their responses, so the sync and asyncio clients share
it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, model_validator
from typing_extensions import Self

from servicewire.errors import CallActionError, CallJobError, InvalidExpansionKey
from servicewire.settings import Settings
from servicewire.types import ActionResponse, Error, JobResponse

__all__ = ["ExpansionCall", "ExpansionSettings", "expansion_steps", "plan_expansions"]


class TypeExpansion(BaseModel):
    """One possible expansion of an object type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: StrictStr | None
    """The type of the expanded object (a ``type_expansions`` key, for nested expansions)."""
    route: StrictStr
    """The ``type_routes`` key that says which action resolves the ids."""
    source_field: StrictStr
    """The field of the base object holding the id."""
    destination_field: StrictStr
    """The field of the base object that receives the expanded object."""
    raise_action_errors: StrictBool = False
    """Raise errors of the route's action (by default they are ignored)."""


class TypeRoute(BaseModel):
    """How to resolve ids into objects: an action taking a list and returning a dict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: StrictStr
    action: StrictStr
    request_field: StrictStr
    """The request body field that receives the list of ids."""
    response_field: StrictStr
    """The response body field holding a dict of the objects by id."""


class ExpansionSettings(Settings):
    """``type_expansions`` (type → expansion name → :class:`TypeExpansion`) and
    ``type_routes`` (route name → :class:`TypeRoute`)."""

    label: ClassVar[str] = "expansion settings"

    type_expansions: dict[str, dict[str, TypeExpansion]] = {}
    type_routes: dict[str, TypeRoute] = {}

    @model_validator(mode="after")
    def _routes_exist(self) -> Self:
        for type_name, expansions in self.type_expansions.items():
            for name, expansion in expansions.items():
                if expansion.route not in self.type_routes:
                    raise ValueError(
                        f"type_expansions.{type_name}.{name}.route: unknown route "
                        f"{expansion.route!r}"
                    )
        return self


@dataclass(frozen=True)
class ExpansionCall:
    """A call the client must make: one action on one service with a list of ids."""

    service: str
    action: str
    body: dict[str, Any]


@dataclass
class _Node:
    """A requested expansion, with the expansions requested of its results."""

    expansion: TypeExpansion
    route: TypeRoute
    children: dict[str, _Node] = field(default_factory=dict)


def plan_expansions(
    settings: ExpansionSettings, expansions: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, _Node]]:
    """Turn ``{"book": ["author", "author.publisher"]}`` into trees of nodes by type.

    Raises ``InvalidExpansionKey`` for a type or an expansion the settings do not define.
    """
    trees: dict[str, dict[str, _Node]] = {}
    for type_name, names in expansions.items():
        if type_name not in settings.type_expansions:
            raise InvalidExpansionKey(
                f"Invalid key in expansion request: {type_name}", key=type_name
            )
        for dotted in [names] if isinstance(names, str) else names:
            current_type: str | None = type_name
            level = trees.setdefault(type_name, {})
            for name in dotted.split("."):
                known = settings.type_expansions.get(current_type or "", {})
                if name not in known:
                    raise InvalidExpansionKey(
                        f"Invalid key in expansion request: {name}",
                        key=name,
                        expansion_type=current_type,
                    )
                expansion = known[name]
                node = level.get(name)
                if node is None:
                    node = level[name] = _Node(expansion, settings.type_routes[expansion.route])
                current_type = expansion.type
                level = node.children
    return trees


def _find_objects(type_name: str, value: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(value, dict):
        if value.get("_type") == type_name:
            found.append(value)
        for child in value.values():
            _find_objects(type_name, child, found)
    elif isinstance(value, list):
        for child in value:
            _find_objects(type_name, child, found)


def _candidates(
    trees_by_type: Mapping[str, Mapping[str, _Node]], values: Iterable[Any]
) -> list[tuple[dict[str, Any], _Node]]:
    candidates: list[tuple[dict[str, Any], _Node]] = []
    for type_name, nodes in trees_by_type.items():
        for value in values:
            objects: list[dict[str, Any]] = []
            _find_objects(type_name, value, objects)
            candidates.extend((obj, node) for obj in objects for node in nodes.values())
    return candidates


def _is_hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _asked_before(asked: set[Any] | None, source: Any) -> bool:
    # An id that cannot be hashed (a list, say: bodies may hold anything) is never remembered.
    return asked is not None and _is_hashable(source) and source in asked


def _answer_for(found: dict[Any, Any], source: Any) -> Any:
    """The object a route returned for id ``source``, keyed by the id or (as JSON and many
    services key maps) by its string; ``None`` if it returned none."""
    if _is_hashable(source) and source in found:
        return found[source]
    return found.get(str(source))


def _fill(obj: dict[str, Any], node: _Node, expanded: Any) -> list[tuple[dict[str, Any], _Node]]:
    """Put ``expanded`` into ``obj``; return the nested expansions it (or, for a list, each
    object in it) is now a candidate for."""
    if expanded is None:
        return []
    obj[node.expansion.destination_field] = expanded
    # The expanded object (or each object of an expanded list, such as an employee's
    # reports) is of the expansion's type, tagged or not.
    if isinstance(expanded, dict):
        objects = [expanded]
    elif isinstance(expanded, list):
        objects = [item for item in expanded if isinstance(item, dict)]
    else:
        return []
    return [(item, child) for item in objects for child in node.children.values()]


def expansion_steps(
    settings: ExpansionSettings,
    responses: Sequence[ActionResponse],
    expansions: Mapping[str, Sequence[str]],
) -> Generator[list[ExpansionCall], list[JobResponse | Exception], None]:
    """Expand ``responses`` in place.

    Yields, level by level, the calls to make (one per route); send back the list of their
    job responses (or exceptions) in the same order. Ends by raising ``CallJobError`` or
    ``CallActionError`` if an expansion with ``raise_action_errors`` failed. An id the route
    does not return is simply left unexpanded.
    """
    trees = plan_expansions(settings, expansions)
    pending = _candidates(trees, [response.body for response in responses])
    # The ids each route was asked for. An id is asked for once per route, as under PySOA: an
    # object met later with an id already asked for stays unexpanded, which ends cycles (two
    # employees each other's manager) and never puts one object inside itself.
    asked: dict[tuple[str, str, str], set[Any]] = {}
    job_errors: list[Error] = []
    action_errors: list[ActionResponse] = []
    while pending:
        by_route: dict[tuple[str, str, str], list[tuple[dict[str, Any], _Node]]] = {}
        ids_by_route: dict[tuple[str, str, str], list[Any]] = {}
        for obj, node in pending:
            source = obj.get(node.expansion.source_field)
            if source is None or node.expansion.destination_field in obj:
                continue
            key = (node.route.service, node.route.action, node.route.request_field)
            if _asked_before(asked.get(key), source):
                continue
            by_route.setdefault(key, []).append((obj, node))
            ids = ids_by_route.setdefault(key, [])
            if source not in ids:
                ids.append(source)
        pending = []
        for key, ids in ids_by_route.items():
            asked.setdefault(key, set()).update(id_ for id_ in ids if _is_hashable(id_))
        routes = list(by_route)
        if not routes:
            break
        calls = [
            ExpansionCall(
                service, action, {field_name: ids_by_route[(service, action, field_name)]}
            )
            for service, action, field_name in routes
        ]
        results = yield calls
        for key, result in zip(routes, results, strict=True):
            items = by_route[key]
            raises = any(node.expansion.raise_action_errors for _, node in items)
            if isinstance(result, Exception):
                if raises:
                    raise result
                continue
            if result.errors:
                if raises:
                    job_errors.extend(result.errors)
                continue
            action = result.actions[0] if result.actions else None
            if action is None or action.errors:
                if raises and action is not None:
                    action_errors.append(action)
                continue
            found = action.body.get(items[0][1].route.response_field)
            if not isinstance(found, dict):
                continue
            for obj, node in items:
                source = obj[node.expansion.source_field]
                pending.extend(_fill(obj, node, _answer_for(found, source)))
            # Types named at the top level expand their objects wherever they turn up, in
            # the objects fetched by other expansions too (as PySOA's "global" form).
            pending.extend(_candidates(trees, [action.body]))
    if job_errors:
        raise CallJobError(job_errors)
    if action_errors:
        raise CallActionError(action_errors)
