"""Shared plumbing of the benchmarks: timing, server processes, the PySOA side, and the
report.

Each benchmark measures servicewire and PySOA 1.4.9 (in a subprocess of its own virtual
environment), round by round and interleaved, so that both see the same machine at the same
time. The report gives the median of the rounds and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.pysoa import pysoa_python  # noqa: E402

PYSOA_SIDE = Path(__file__).resolve().parent / "pysoa_side"
RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"

# The README's copy of the latest results lies between these lines, in this order.
RESULTS_BEGIN = "<!-- latest results: copied from results/ by each benchmark's --write -->"
RESULTS_END = "<!-- end of the latest results -->"
RESULTS_ORDER = ("local.md", "redis.md", "redis-one-core.md", "parallel.md", "workers.md", "sql.md")


def rate(operation: Callable[[], object], count: int, units_per_call: int = 1) -> float:
    """Units per second of ``count`` calls of ``operation``."""
    start = time.perf_counter()
    for _ in range(count):
        operation()
    return count * units_per_call / (time.perf_counter() - start)


def run_pysoa(script: str, *arguments: str, env: dict[str, str] | None = None) -> float:
    """Run ``pysoa_side/<script>`` in the PySOA environment; it prints one rate as JSON."""
    completed = subprocess.run(
        [str(pysoa_python()), str(PYSOA_SIDE / script), *arguments],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return float(json.loads(completed.stdout.strip().splitlines()[-1])["rate"])


@dataclass
class Comparison:
    name: str
    unit: str
    servicewire: list[float]
    pysoa: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.servicewire) / statistics.median(self.pysoa)

    def row(self) -> str:
        return (
            f"| {self.name} | {statistics.median(self.servicewire):,.0f} | "
            f"{statistics.median(self.pysoa):,.0f} | {self.unit} | {self.ratio:.2f}x |"
        )


def interleave(
    rounds: int, servicewire: Callable[[], float], pysoa: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Alternate the two sides ``rounds`` times; return each side's rates."""
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(servicewire())
        theirs.append(pysoa())
    return ours, theirs


def report(title: str, comparisons: list[Comparison], notes: str = "", write: str = "") -> str:
    lines = [
        f"## {title}",
        "",
        "| benchmark | servicewire | PySOA 1.4.9 | unit | ratio |",
        "|---|---:|---:|---|---:|",
        *(comparison.row() for comparison in comparisons),
        "",
        f"Medians of interleaved rounds; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs.",
    ]
    if notes:
        lines += ["", notes]
    return publish(lines, write)


def publish(lines: list[str], write: str = "") -> str:
    """Print a report; with ``write``, also save it as ``results/<write>``."""
    text = "\n".join(lines) + "\n"
    print(text)
    if write:
        write_result(write, text)
    return text


def write_result(name: str, text: str) -> None:
    """Save a report as ``results/<name>`` and copy every report into the README."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(text)
    collect_results()


def collect_results() -> None:
    """Put the reports of ``results/`` in the README between its markers (each report's
    heading one level down)."""
    names = [name for name in RESULTS_ORDER if (RESULTS / name).exists()]
    reports = ["#" + (RESULTS / name).read_text().strip() for name in names]
    readme = README.read_text()
    before, _, rest = readme.partition(RESULTS_BEGIN)
    _, _, after = rest.partition(RESULTS_END)
    README.write_text(
        f"{before}{RESULTS_BEGIN}\n\n" + "\n\n".join(reports) + f"\n\n{RESULTS_END}{after}"
    )


def add_cpus_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cpus",
        help="run every process of the benchmark on these CPUs only (e.g. 0, or 0,1); see "
        "benchmarks/README.md",
    )


def pin_to_cpus(cpus_option: str | None) -> str:
    """Keep this process, and every process started from it (Redis, servers, clients), on
    the CPUs of ``--cpus``; the sentence a report adds, empty when not pinned."""
    if not cpus_option:
        return ""
    cpus = {int(cpu) for cpu in cpus_option.split(",")}
    os.sched_setaffinity(0, cpus)
    return f" All processes on CPU {', '.join(map(str, sorted(cpus)))} (`--cpus`)."


def wait_until_serving(call: Callable[[], object]) -> None:
    """Call ``call`` until it succeeds (the server process is up), for at most 30 s."""
    deadline = time.monotonic() + 30
    while True:
        try:
            call()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --- server processes ----------------------------------------------------------------------


@contextmanager
def serving(
    command: list[str], cwd: Path, env: dict[str, str], workers: int
) -> Iterator[list[int]]:
    """Run a server command until the block ends, once its ``workers`` processes all serve
    (each writes a heartbeat file named by ``BENCH_HEARTBEAT``, ``{{pid}}`` replaced); give
    the block their process ids."""
    with tempfile.TemporaryDirectory(prefix="servicewire-bench-") as directory:
        heartbeat = os.path.join(directory, "{{pid}}.beat")
        process = subprocess.Popen(
            command, cwd=cwd, env={**os.environ, **env, "BENCH_HEARTBEAT": heartbeat}
        )
        try:
            deadline = time.monotonic() + 60
            while len(os.listdir(directory)) < workers:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not start {workers} server process(es)")
                time.sleep(0.05)
            yield [int(name.split(".")[0]) for name in os.listdir(directory)]
        finally:
            process.terminate()
            process.wait(30)


def redis_version(redis_server: Any) -> str:
    """The version of a ``tests.support.services.RedisServer``'s binary (``v=7.0.15``)."""
    return subprocess.run(
        [redis_server.binary, "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]


def fork_options(workers: int) -> list[str]:
    return ["--fork", str(workers)] if workers > 1 else []


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU seconds the processes ``pids`` have used (the counters
    ``getrusage`` reads, from ``/proc/<pid>/stat``, in clock ticks of 10 ms)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"No VmRSS for process {pid}")


# --- timed client processes (their side: _timed.py) ----------------------------------------


@dataclass
class Sample:
    """One round of one system: rate, latency percentiles and CPU per call on each side."""

    rate: float
    p50: float
    p99: float
    client_cpu: float
    server_cpu: float


def percentile(ordered: Sequence[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Callers:
    """Client processes kept for every round (their side: ``_timed.py``), one per command."""

    def __init__(self, commands: Sequence[Sequence[str]], cwd: Path) -> None:
        self.processes = [
            subprocess.Popen(
                list(command), cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for command in commands
        ]

    def _order(self, processes: Sequence[subprocess.Popen[str]], **order: Any) -> list[Any]:
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(json.dumps(order) + "\n")
            process.stdin.flush()
        return [_read_json(process) for process in processes]

    def round(
        self,
        case: str,
        seconds: float,
        server_pids: Sequence[int],
        clients: int = 1,
        in_flight: int = 1,
    ) -> Sample:
        """Warm the first ``clients`` processes up on ``case``, let them call for
        ``seconds``, and combine what they measured with the servers' CPU meanwhile."""
        processes = self.processes[:clients]
        self._order(processes, warm=case, in_flight=in_flight)
        before = cpu_seconds(server_pids)
        results = self._order(processes, seconds=seconds)
        server_cpu = cpu_seconds(server_pids) - before
        calls = sum(result["calls"] for result in results)
        latencies = sorted(latency for result in results for latency in result["latencies"])
        return Sample(
            rate=sum(result["calls"] / result["seconds"] for result in results),
            p50=percentile(latencies, 0.5),
            p99=percentile(latencies, 0.99),
            client_cpu=sum(result["cpu"] for result in results) / calls * 1e6,
            server_cpu=server_cpu / calls * 1e6,
        )

    def close(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in self.processes:
            process.wait(30)


def _read_json(process: subprocess.Popen[str]) -> dict[str, Any]:
    """The next JSON object a client process prints (other lines are passed over)."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError(f"{process.args} stopped without a result")


def median_sample(samples: Sequence[Sample]) -> Sample:
    """Each figure's median over the rounds."""
    return Sample(
        *(
            statistics.median(getattr(sample, field) for sample in samples)
            for field in ("rate", "p50", "p99", "client_cpu", "server_cpu")
        )
    )


# --- system calls ---------------------------------------------------------------------------


@contextmanager
def counting_system_calls(pids: Sequence[int]) -> Iterator[dict[str, int]]:
    """Count the system calls of the processes ``pids`` (all their threads) while the block
    runs, with ``strace -c -f``; the counts per system call fill the dictionary given to the
    block once it ends."""
    counts: dict[str, int] = {}
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as output:
        attach = [option for pid in pids for option in ("-p", str(pid))]
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-q", "-o", output.name, *attach], stderr=subprocess.DEVNULL
        )
        time.sleep(0.5)  # strace attaches
        try:
            yield counts
        finally:
            tracer.send_signal(2)
            tracer.wait(30)
            for line in Path(output.name).read_text().splitlines():
                fields = line.split()
                if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
                    counts[fields[-1]] = int(fields[3])


if __name__ == "__main__":
    collect_results()
