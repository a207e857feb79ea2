"""The service of the worker-threads benchmark: one I/O-bound action (a 5 ms sleep, standing
for a database or HTTP call). Run by ``bench_workers.py`` as
``servicewire serve workers_service:SleepServer -s workers_service``, with the Redis URL in
``BENCH_REDIS_URL`` and the service's name and worker threads in ``BENCH_SERVICE`` and
``BENCH_WORKERS``."""

from __future__ import annotations

import os
import time
from typing import Any

from servicewire import Action, EnrichedActionRequest, Server
from servicewire.types import Body


class Wait(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        time.sleep(0.005)
        return {"n": request.body.get("n")}


class SleepServer(Server):
    service_name = os.environ.get("BENCH_SERVICE", "sleep")
    action_class_map: Any = {"wait": Wait}


SOA_SERVER_SETTINGS = {
    "transport": {
        "path": "servicewire.transport.redis:RedisServerTransport",
        "kwargs": {"backend_layer_kwargs": {"hosts": [os.environ.get("BENCH_REDIS_URL", "")]}},
    },
    "workers": int(os.environ.get("BENCH_WORKERS", "1")),
    "logging": {"version": 1, "root": {"level": "WARNING"}},
}
