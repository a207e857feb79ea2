"""Running a server as an operating-system process: ``Server.main()`` and
``servicewire serve``.

One process serves one job at a time (or ``workers`` at once on threads, see
``servicewire.server.workers``); ``--fork N`` runs N such worker processes under a
supervisor that respawns a worker when it dies (but gives up on one that dies 3 times in 15
seconds or 8 times in 60). In each worker:

- SIGTERM or SIGINT asks for a graceful shutdown: the current job finishes, no new one is
  taken, and the process exits once the transport's receive wait ends; a second signal forces
  the exit (the same signal twice, or two kinds more than a second apart: a terminal's Ctrl+C
  reaches the supervisor and its workers at once, and the supervisor passes it on).
- Harakiri stops a job that runs longer than ``harakiri.timeout`` seconds: the timer runs only
  while a job is being handled, never while the server waits for one. The job is interrupted
  with ``HarakiriInterrupt`` (its action answers ``ACTION_TIMEOUT``), the process then exits
  and the supervisor starts a new one; if it has not exited ``harakiri.shutdown_grace``
  seconds later, it is ended forcibly.
- The heartbeat file (``heartbeat_file``, with ``{{pid}}`` and ``{{fid}}`` replaced) is
  created at start-up, its timestamp refreshed after jobs and idle waits, and removed at
  exit.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import logging
import logging.config
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from servicewire.errors import HarakiriInterrupt, InvalidSettings
from servicewire.server.settings import DEFAULT_LOGGING, ServerSettings
from servicewire.server.workers import thread_stacks

if TYPE_CHECKING:
    from servicewire.server.host import ServerHost

__all__ = [
    "HeartbeatFile",
    "ProcessRuntime",
    "Supervisor",
    "add_server_options",
    "load_settings",
    "main",
    "run_worker",
    "serve",
]

logger = logging.getLogger("servicewire.server.runtime")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

_SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Two different shutdown signals this close together are one request (see the module doc).
_DUPLICATE_SIGNAL_WINDOW = 1.0
# The heartbeat file's timestamp is rewritten at most this often.
_HEARTBEAT_INTERVAL = 1.0
# A worker that dies this many times within this many seconds is not respawned again.
_RESPAWN_LIMITS = ((3, 15.0), (8, 60.0))


# --- command line and settings ------------------------------------------------------------


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``Server.main()`` and ``servicewire serve`` to ``parser``."""
    parser.add_argument(
        "-s",
        "--settings",
        required=True,
        metavar="MODULE",
        help="the settings module (defining SOA_SERVER_SETTINGS or settings)",
    )
    parser.add_argument(
        "-f",
        "--fork",
        "--fork-processes",
        type=int,
        default=0,
        metavar="N",
        help="run N worker processes under a supervisor that respawns them (default: serve "
        "in this process)",
    )
    parser.add_argument(
        "--no-respawn",
        action="store_true",
        help="with --fork, do not respawn workers that exit",
    )
    parser.add_argument(
        "-d", "--daemon", action="store_true", help="detach and run in the background"
    )


def load_settings(module_name: str, settings_class: type[ServerSettings]) -> ServerSettings:
    """Import ``module_name`` and validate its ``SOA_SERVER_SETTINGS`` (or ``settings``).

    Raises ``InvalidSettings`` with a message naming the module and what is wrong.
    """
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InvalidSettings(f"Cannot import settings module {module_name!r}: {error}") from None
    for name in ("SOA_SERVER_SETTINGS", "settings"):
        if hasattr(module, name):
            return settings_class.from_dict(getattr(module, name))
    raise InvalidSettings(
        f"Settings module {module_name!r} defines neither SOA_SERVER_SETTINGS nor settings"
    )


def configure_logging(settings: ServerSettings) -> None:
    """Apply the ``logging`` setting (the server's :data:`DEFAULT_LOGGING` if not given).

    Unless the setting says otherwise, loggers that exist already are left enabled
    (``disable_existing_loggers`` defaults to false): the framework's own loggers exist by
    the time the settings are read.
    """
    config: dict[str, Any] = dict(settings.logging or DEFAULT_LOGGING)
    config.setdefault("disable_existing_loggers", False)
    logging.config.dictConfig(config)


def main(
    server_class: type[ServerHost],
    argv: Sequence[str] | None = None,
    forked_process_id: int | None = None,
) -> int:
    """Parse the command line (``argv``, default ``sys.argv[1:]``) and :func:`serve`."""
    parser = argparse.ArgumentParser(description=f"Run the {server_class.service_name!r} service")
    add_server_options(parser)
    return serve(server_class, parser.parse_args(argv), forked_process_id)


def serve(
    server_class: type[ServerHost],
    options: argparse.Namespace,
    forked_process_id: int | None = None,
) -> int:
    """Load the settings, apply their logging configuration, and serve (in this process, or
    in ``options.fork`` workers); return the exit status."""
    try:
        settings = load_settings(options.settings, server_class.settings_class)
    except InvalidSettings as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings)
    if options.daemon:
        daemonize()
    if forked_process_id is not None or options.fork < 1:
        return run_worker(server_class, settings, forked_process_id)
    supervisor = Supervisor(server_class, settings, options.fork, respawn=not options.no_respawn)
    return supervisor.run()


def daemonize() -> None:
    """Detach from the terminal: the parent prints ``PID=<pid>`` and exits."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid > 0:
        print(f"PID={pid}", flush=True)
        os._exit(EXIT_OK)
    os.setsid()
    with open(os.devnull, "rb") as null:
        os.dup2(null.fileno(), sys.stdin.fileno())


# --- one worker -----------------------------------------------------------------------------


class HeartbeatFile:
    """A file holding the time of the server's last sign of life."""

    def __init__(self, template: str, forked_process_id: int | None) -> None:
        path = template.replace("{{pid}}", str(os.getpid()))
        if forked_process_id is not None:
            path = path.replace("{{fid}}", str(forked_process_id))
        self.path = os.path.abspath(path)
        self._last_write = 0.0

    def create(self) -> None:
        logger.info("Creating heartbeat file %s", self.path)
        self._write()

    def refresh(self) -> None:
        if time.monotonic() - self._last_write >= _HEARTBEAT_INTERVAL:
            self._write()

    def _write(self) -> None:
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(descriptor, repr(time.time()).encode())
        finally:
            os.close(descriptor)
        self._last_write = time.monotonic()

    def remove(self) -> None:
        logger.info("Removing heartbeat file %s", self.path)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)


class ProcessRuntime:
    """What a server process does around its serving loop: signals, the harakiri timer, the
    heartbeat file, and noticing that its supervisor is gone.

    Serving calls :meth:`job_started`, :meth:`job_finished` and :meth:`idle` (as
    ``server.serving.runtime``) from ``handle_next_request``; with worker threads,
    :meth:`job_dispatched` instead of the first two.
    """

    def __init__(self, server: ServerHost, supervisor_pid: int | None = None) -> None:
        self.server = server
        harakiri = server.settings.harakiri
        self.harakiri_timeout = float(harakiri.timeout)
        self.shutdown_grace = float(harakiri.shutdown_grace)
        self.harakiri_triggered = False
        self.in_job = False
        self.job_started_at = 0.0
        self._timer_armed = False
        self.supervisor_pid = supervisor_pid
        self._last_signal: int | None = None
        self._last_signal_time = 0.0
        template = server.settings.heartbeat_file
        self.heartbeat = HeartbeatFile(template, server.forked_process_id) if template else None
        self._previous_handlers: dict[int, Any] = {}

    def start(self) -> None:
        """Install the signal handlers and create the heartbeat file."""
        server = self.server
        server.serving.runtime = self
        for number in _SHUTDOWN_SIGNALS:
            self._previous_handlers[number] = signal.signal(number, server.handle_shutdown_signal)
        self._previous_handlers[signal.SIGALRM] = signal.signal(signal.SIGALRM, server.harakiri)
        if self.heartbeat is not None:
            self.heartbeat.create()

    def stop(self) -> None:
        """Cancel the timer, restore the signal handlers, remove the heartbeat file."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        self.server.serving.runtime = None
        if self.heartbeat is not None:
            self.heartbeat.remove()

    # --- called by the server -------------------------------------------------------------

    def job_started(self) -> None:
        # The timer is not reset for each job (that would cost two system calls a job): once
        # armed, it fires at most once per timeout, and the handler checks how long the job
        # running then has run, re-arming for the rest.
        self.job_started_at = time.monotonic()
        self.in_job = True
        if self.harakiri_timeout > 0 and not self._timer_armed:
            self._timer_armed = True
            signal.setitimer(signal.ITIMER_REAL, self.harakiri_timeout)

    def job_finished(self) -> None:
        self.in_job = False
        if self.heartbeat is not None:
            self.heartbeat.refresh()

    def job_dispatched(self) -> None:
        # With worker threads: a job went to a worker (its harakiri is the pool's watchdog).
        if self.heartbeat is not None:
            self.heartbeat.refresh()

    def idle(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.refresh()
        # A worker whose supervisor died stops (when idle: a busy one serves on until then).
        if self.supervisor_pid is not None and os.getppid() != self.supervisor_pid:
            logger.warning("The supervisor process is gone; shutting down")
            self.server.shutting_down = True

    # --- signal handlers ------------------------------------------------------------------

    def shutdown_signal(self, signal_number: int) -> None:
        """First signal: finish the current job and stop. Second: exit now."""
        now = time.monotonic()
        server = self.server
        if not server.shutting_down:
            logger.warning(
                "Received %s: finishing the current job, then shutting down",
                signal.Signals(signal_number).name,
            )
            server.shutting_down = True
        elif (
            self._last_signal is not None
            and self._last_signal != signal_number
            and now - self._last_signal_time < _DUPLICATE_SIGNAL_WINDOW
        ):
            logger.info(
                "Ignoring %s, a duplicate of the shutdown signal",
                signal.Signals(signal_number).name,
            )
        else:
            logger.warning("Received a second shutdown signal: exiting now")
            raise SystemExit(EXIT_FAILURE)
        self._last_signal = signal_number
        self._last_signal_time = now

    def harakiri(self, signal_number: int) -> None:
        """The harakiri timer fired: if the job running has run past the timeout, interrupt
        it and stop the process; if a later job is running, wait for the rest of its time;
        if none is, do nothing (the next job arms the timer again)."""
        self._timer_armed = False
        if not self.in_job or self.harakiri_triggered:
            return
        remaining = self.job_started_at + self.harakiri_timeout - time.monotonic()
        if remaining > 0:
            self._timer_armed = True
            signal.setitimer(signal.ITIMER_REAL, remaining)
            return
        self.harakiri_triggered = True
        self.server.shutting_down = True
        logger.error(
            "Harakiri: a job ran for more than %.0f s; interrupting it and exiting. %s",
            self.harakiri_timeout,
            thread_stacks(),
        )
        self.start_exit_timer()
        raise HarakiriInterrupt()

    def start_exit_timer(self) -> None:
        """End the process forcibly ``harakiri.shutdown_grace`` seconds from now, unless it
        has exited by then (after a harakiri)."""
        timer = threading.Timer(self.shutdown_grace, _exit_after_grace, (self.shutdown_grace,))
        timer.daemon = True
        timer.start()


def _exit_after_grace(grace: float) -> None:
    logger.critical("The process did not exit within %.0f s after harakiri; forcing it", grace)
    logging.shutdown()
    os._exit(EXIT_FAILURE)


def _exit_before_serving(signal_number: int, frame: FrameType | None) -> None:
    logger.info("Received %s before serving: exiting", signal.Signals(signal_number).name)
    raise SystemExit(EXIT_OK)


def run_worker(
    server_class: type[ServerHost],
    settings: ServerSettings,
    forked_process_id: int | None = None,
    supervisor_pid: int | None = None,
) -> int:
    """Build the server (through ``initialize``) and serve until shutdown; return the exit
    status (1 after a harakiri or an unhandled error)."""
    server = server_class.initialize(settings)(settings, forked_process_id)
    runtime = ProcessRuntime(server, supervisor_pid)
    runtime.start()
    logger.info(
        "Service %r serving (process %d%s)",
        server.service_name,
        os.getpid(),
        "" if forked_process_id is None else f", worker {forked_process_id}",
    )
    status = EXIT_OK
    try:
        server.run()
    except HarakiriInterrupt:
        logger.error("Harakiri interrupted the server outside of a job")
        status = EXIT_FAILURE
    except Exception:
        logger.exception("Unhandled error; the server stops")
        status = EXIT_FAILURE
    finally:
        runtime.stop()
    if runtime.harakiri_triggered:
        status = EXIT_FAILURE
    logger.info("Service %r stopped", server.service_name)
    return status


# --- several workers ------------------------------------------------------------------------


class Supervisor:
    """Forks ``worker_count`` workers (ids 1 to N) and respawns those that exit."""

    def __init__(
        self,
        server_class: type[ServerHost],
        settings: ServerSettings,
        worker_count: int,
        respawn: bool = True,
    ) -> None:
        self.server_class = server_class
        self.settings = settings
        self.worker_count = worker_count
        self.respawn = respawn
        self.workers: dict[int, int] = {}
        self.stopping = False
        self.failures = 0
        self._crashes: dict[int, list[collections.deque[float]]] = {}
        self._last_signal: int | None = None
        self._last_signal_time = 0.0

    def run(self) -> int:
        for number in (*_SHUTDOWN_SIGNALS, signal.SIGHUP):
            signal.signal(number, self._signaled)
        self.server_class.pre_fork()
        for worker_id in range(1, self.worker_count + 1):
            self._spawn(worker_id)
        while self.workers:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid in self.workers:
                self._worker_exited(self.workers.pop(pid), os.waitstatus_to_exitcode(status))
        logger.info("All workers have stopped")
        return EXIT_OK if self.stopping and not self.failures else EXIT_FAILURE

    def _worker_exited(self, worker_id: int, code: int) -> None:
        if self.stopping:
            logger.info("Worker %d exited (status %d)", worker_id, code)
            if code != 0:
                self.failures += 1
            return
        if not self.respawn:
            logger.warning("Worker %d exited (status %d); not respawning it", worker_id, code)
            self.failures += 1
            return
        now = time.monotonic()
        windows = self._crashes.setdefault(
            worker_id, [collections.deque(maxlen=count) for count, _ in _RESPAWN_LIMITS]
        )
        for window, (count, seconds) in zip(windows, _RESPAWN_LIMITS, strict=True):
            window.append(now)
            if len(window) == count and now - window[0] <= seconds:
                logger.error(
                    "Worker %d exited %d times in %.0f s (status %d); giving up on it",
                    worker_id,
                    count,
                    seconds,
                    code,
                )
                self.failures += 1
                return
        logger.warning("Worker %d exited (status %d); respawning it", worker_id, code)
        self._spawn(worker_id)

    def _spawn(self, worker_id: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        blocked = {*_SHUTDOWN_SIGNALS, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            pid = os.fork()
            if pid == 0:
                self._worker(worker_id, blocked)
            self.workers[pid] = worker_id
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)

    def _worker(self, worker_id: int, blocked: set[signal.Signals]) -> None:
        status = EXIT_FAILURE
        try:
            for number in blocked:
                # Until the server installs its own handlers: a worker told to stop while it
                # starts (as a respawned one may be) exits cleanly, not killed by the signal.
                signal.signal(number, _exit_before_serving)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
            status = run_worker(self.server_class, self.settings, worker_id, os.getppid())
        except SystemExit as exit_request:
            status = exit_request.code if isinstance(exit_request.code, int) else EXIT_FAILURE
        except BaseException:
            logger.exception("Worker %d failed", worker_id)
        finally:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)

    def _signaled(self, signal_number: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        duplicate = (
            self._last_signal is not None
            and self._last_signal != signal_number
            and now - self._last_signal_time < _DUPLICATE_SIGNAL_WINDOW
        )
        self._last_signal, self._last_signal_time = signal_number, now
        if duplicate:
            return
        if not self.stopping:
            logger.warning("Received %s: stopping the workers", signal.Signals(signal_number).name)
            self.stopping = True
        else:
            logger.warning("Received a second signal: telling the workers to exit now")
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
