"""Run ``servicewire serve`` with a ``cProfile`` profiler counting CPU time (not wall time,
which a server spends mostly waiting on Redis), switched on by ``SIGUSR1`` and off by
``SIGUSR2``, which writes the profile (so that start-up is left out):
``python profiled_server.py <output> <serve arguments...>``."""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
import time

if __name__ == "__main__":
    output = sys.argv[1]
    sys.argv = ["servicewire", *sys.argv[2:]]
    profiler = cProfile.Profile(time.process_time)

    def stop(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(output)

    signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
    signal.signal(signal.SIGUSR2, stop)
    runpy.run_module("servicewire.cli", run_name="__main__")
