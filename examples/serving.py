"""Run a server in this process until SIGTERM or SIGINT.

A small stand-in for the server runtime: it builds the server, serves, and on a signal
stops. A signal that arrives while a request is being handled lets that request finish; one
that arrives while the server waits for work stops the wait at once (a request taken in that
instant is redelivered by the transport later).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Mapping
from typing import Any

from servicewire import Server


class _Stop(BaseException):
    pass


def serve(server_class: type[Server], settings: Mapping[str, Any] | None = None) -> None:
    server = server_class(settings or {})
    handling = False
    handle_request = server.handle_request

    def handle_and_track(request_id: int, meta: dict[str, Any], job_request: Any) -> None:
        nonlocal handling
        handling = True
        try:
            handle_request(request_id, meta, job_request)
        finally:
            handling = False

    def stop(_signal_number: int, _frame: object) -> None:
        server.shutting_down = True
        if not handling:
            raise _Stop

    server.handle_request = handle_and_track  # type: ignore[method-assign]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with contextlib.suppress(_Stop):
        server.run()
