"""What each case of the Redis benchmarks calls, in the standard library only (PySOA's side
imports it too): the actions of one job, for ``call_action`` (one action) or
``call_actions`` (several). ``echo`` answers its body, ``ping`` a small one."""

from __future__ import annotations

from typing import Any

MAXIMUM_MESSAGE_BYTES = 4 * 1024 * 1024
"""Both sides' message size limit: room for the 1 MB case."""
CHUNK_THRESHOLD = 256 * 1024
"""Responses larger than this go out in chunks (``chunk_messages_larger_than_bytes``)."""

CASES: dict[str, list[dict[str, Any]]] = {
    "tiny": [{"action": "ping", "body": {"value": 1}}],
    "10kb": [{"action": "echo", "body": {"data": "x" * 10 * 1024}}],
    "1mb": [{"action": "echo", "body": {"data": "x" * 1024 * 1024}}],
    "ten_actions": [{"action": "ping", "body": {"value": i}} for i in range(10)],
}


def case_call(client: Any, service: str, case: str) -> Any:
    """A function making one call of ``case`` with ``client`` (servicewire's or PySOA's,
    synchronous or asyncio: same signatures)."""
    actions = CASES[case]
    if len(actions) == 1:
        (action,) = actions
        return lambda: client.call_action(service, action["action"], action["body"])
    return lambda: client.call_actions(service, actions)
