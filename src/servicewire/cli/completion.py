"""Completing service and action names in a shell.

Services come from the client settings given so far on the command line (the services they
name) and from the transport, where it can list them (the SQL and Redis transports know the
services that have queues); actions from the service's own ``introspect`` action, asked
with a short timeout. Completion never fails: what cannot be listed is not offered.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import click
from click.shell_completion import CompletionItem

__all__ = ["complete_actions", "complete_services"]

# How long completing an action name waits for the service's introspect action.
INTROSPECT_TIMEOUT_IN_SECONDS = 1.0


def complete_services(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    names = [name for name in _service_names(context) if name.startswith(incomplete)]
    return [CompletionItem(name) for name in names]


def complete_actions(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    service = context.params.get("service")
    if not service:
        return []
    names = [name for name in _action_names(context, service) if name.startswith(incomplete)]
    return [CompletionItem(name) for name in names]


def _service_names(context: click.Context) -> list[str]:
    from servicewire.cli.client_settings import settings_from_context
    from servicewire.cli.queue_inspection import inspector_for

    settings = settings_from_context(context)
    names = set(settings.service_names)
    for path, kwargs in settings.transports():
        # A transport that cannot be reached or read offers nothing; completion goes on.
        with _quietly():
            inspector = inspector_for(path, kwargs)
            if inspector is not None:
                try:
                    names.update(inspector.services())
                finally:
                    inspector.close()
    return sorted(names)


def _action_names(context: click.Context, service: str) -> list[str]:
    from servicewire.cli.calling import call_action
    from servicewire.cli.client_settings import settings_from_context

    with _quietly():
        response = call_action(
            settings_from_context(context),
            service,
            "introspect",
            timeout=INTROSPECT_TIMEOUT_IN_SECONDS,
        )
        if response.actions and not response.actions[0].errors:
            return list(response.actions[0].body.get("action_names", []))
    return []


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.suppress(Exception):
            yield
    finally:
        logging.disable(logging.NOTSET)
