"""Shared plumbing of the benchmarks: timing, the PySOA side, and the report.

Each benchmark measures servicewire in this process and PySOA 1.4.9 in a subprocess of its
own virtual environment, round by round and interleaved, so that both see the same machine
at the same time. The report gives the median of the rounds and their ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.pysoa import pysoa_python  # noqa: E402

PYSOA_SIDE = Path(__file__).resolve().parent / "pysoa_side"
RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"

# The README's copy of the latest results lies between these lines, in this order.
RESULTS_BEGIN = "<!-- latest results: copied from results/ by each benchmark's --write -->"
RESULTS_END = "<!-- end of the latest results -->"
RESULTS_ORDER = ("local.md", "redis.md", "parallel.md", "workers.md", "sql.md")


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


if __name__ == "__main__":
    collect_results()
