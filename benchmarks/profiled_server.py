"""Run ``servicewire serve`` under ``cProfile`` counting CPU time (not wall time, which a
server spends mostly waiting on Redis): ``python profiled_server.py <output> <serve
arguments...>``; the profile is written to ``<output>`` when the server stops."""

from __future__ import annotations

import cProfile
import runpy
import sys
import time

if __name__ == "__main__":
    output = sys.argv[1]
    sys.argv = ["servicewire", *sys.argv[2:]]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        runpy.run_module("servicewire.cli", run_name="__main__")
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(output)
