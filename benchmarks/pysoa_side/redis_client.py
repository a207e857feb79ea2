"""PySOA's client side of the Redis benchmarks (runs in the PySOA environment):
``python redis_client.py <redis port> <scenario> <count>`` prints the rate (calls, jobs or
actions per second, as the scenario counts) as JSON;
``python redis_client.py <redis port> --timed`` is a client process of ``bench_redis.py``
(driven as ``_timed.py`` says), calling the cases of ``_cases.py``."""

import json
import os
import sys
import time

from pysoa.client.client import Client

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _cases import MAXIMUM_MESSAGE_BYTES, case_call
from _timed import closed_loop

HUNDRED = [{"action": "ping", "body": {"value": i}} for i in range(100)]

# Each scenario: the call, and how many units (calls, jobs, actions) one call counts for.
SCENARIOS = {
    "tiny": (lambda client: client.call_action("bench_pysoa", "ping", {"value": 1}), 1),
    "10kb": (lambda client: client.call_action("bench_pysoa", "echo", {"data": "x" * 10240}), 1),
    "ten_actions": (
        lambda client: client.call_actions(
            "bench_pysoa", [{"action": "ping", "body": {"value": i}} for i in range(10)]
        ),
        1,
    ),
    "parallel_100": (
        lambda client: list(client.call_actions_parallel("bench_pysoa", HUNDRED)),
        len(HUNDRED),
    ),
}


def main():
    port, scenario = int(sys.argv[1]), sys.argv[2]
    transport = {
        "path": "pysoa.common.transport.redis_gateway.client:RedisClientTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [("127.0.0.1", port)]},
            "maximum_message_size_in_bytes": MAXIMUM_MESSAGE_BYTES,
            "log_messages_larger_than_bytes": MAXIMUM_MESSAGE_BYTES,
        },
    }
    client = Client({"bench_pysoa": {"transport": transport}})
    if scenario == "--timed":
        closed_loop(lambda case: case_call(client, "bench_pysoa", case))
        return
    count = int(sys.argv[3])
    call, units = SCENARIOS[scenario]
    for _ in range(max(1, 200 // units)):
        call(client)
    start = time.perf_counter()
    for _ in range(count):
        call(client)
    print(json.dumps({"rate": count * units / (time.perf_counter() - start)}))


if __name__ == "__main__":
    main()
