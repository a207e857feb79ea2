"""A coroutine that never finishes on its own, and says when it starts and is cancelled."""

from __future__ import annotations

import asyncio
import threading


class Stuck:
    """``await stuck.wait()`` blocks until cancelled; ``started`` and ``cancelled`` are set as
    that happens, ``cleaned_up`` when the coroutine has finished its cleanup."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.cleaned_up = threading.Event()

    async def wait(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.cleaned_up.set()
