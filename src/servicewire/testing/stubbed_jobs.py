"""How a job some of whose actions are stubbed runs: pure work on the job's dicts.

A :class:`StubbedJob` runs the job as the service would, in order: the stubs answer their
actions, and each run of consecutive unstubbed actions is left for the caller to send to the
real service as a job of its own; the reply to that part resumes the job. The job stops at
the first action with errors unless it continues on error, and ends with one reply holding
every action's response. A job that expects no reply calls every stub, then leaves its
unstubbed actions, if any, as one job to send. No I/O happens here: the stubbing transports
(:mod:`servicewire.testing.interception`) do the sending and receiving.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from servicewire.errors import JobError
from servicewire.transport.base import ReceivedMessage

__all__ = ["JobsInFlight", "Stub", "StubbedJob", "action_name"]

JobDict = dict[str, Any]


class Stub(Protocol):
    """What answers one stubbed action (:class:`servicewire.testing.ActionStub` is one)."""

    service_name: str
    action_name: str

    def respond(
        self,
        request: Mapping[str, Any],
        switches: Iterable[object],
        local_server_class: type | None,
    ) -> dict[str, Any] | JobError:
        """The action response dict for ``request``, or the ``JobError`` failing the job."""


def _job_errors(error: JobError, context: Mapping[str, Any]) -> JobDict:
    return {"errors": [e.to_dict() for e in error.errors], "context": dict(context), "actions": []}


def _answer_job(
    job: JobDict, stubs: Sequence[Stub | None], local_server_class: type | None
) -> Generator[JobDict, JobDict, JobDict]:
    """Run ``job`` as a service would: yield each run of unstubbed actions as a job to send
    and receive its reply; return the reply to the whole job."""
    actions: list[Any] = job["actions"]
    continue_on_error = bool(job["control"].get("continue_on_error"))
    context = job["context"]
    switches = context.get("switches") or ()
    # A job answered by stubs alone has an empty context, as under PySOA; a run sent to the
    # real service brings back that service's context.
    reply_context: Mapping[str, Any] = {}
    answered: list[Any] = []
    index = 0
    while index < len(actions):
        stub = stubs[index]
        if stub is None:
            end = index
            while end < len(actions) and stubs[end] is None:
                end += 1
            reply = yield {**job, "actions": actions[index:end]}
            if reply.get("errors"):
                return reply
            part = reply.get("actions") or []
            answered.extend(part)
            reply_context = reply.get("context") or reply_context
            stopped = len(part) < end - index or any(_has_errors(action) for action in part)
            if stopped and not continue_on_error:
                break
            index = end
            continue
        response = stub.respond(actions[index], switches, local_server_class)
        if isinstance(response, JobError):
            return _job_errors(response, reply_context)
        answered.append(response)
        index += 1
        if response["errors"] and not continue_on_error:
            break
    return {"errors": [], "context": dict(reply_context), "actions": answered}


def _answer_unanswered_job(
    job: JobDict, stubs: Sequence[Stub | None], local_server_class: type | None
) -> Generator[JobDict, JobDict, JobDict]:
    """A job that asked for no reply: call every stub, then yield the unstubbed actions (if
    any) as one job to send; nothing comes back."""
    switches = job["context"].get("switches") or ()
    unstubbed = []
    for action, stub in zip(job["actions"], stubs, strict=True):
        if stub is None:
            unstubbed.append(action)
        else:
            stub.respond(action, switches, local_server_class)
    if unstubbed:
        yield {**job, "actions": unstubbed}
    return {}


def _has_errors(action: Any) -> bool:
    errors = action.get("errors") if isinstance(action, Mapping) else action.errors
    return bool(errors)


def action_name(action: Any) -> Any:
    return action.get("action") if isinstance(action, Mapping) else action.action


class StubbedJob:
    """A job some of whose actions are stubbed, as it runs (see the module's documentation).

    :meth:`start` and :meth:`resume` run it up to its next unstubbed part, left in
    :attr:`part` for the caller to send, or to its end: :attr:`part` is then ``None`` and
    :attr:`reply` holds the reply to the whole job.
    """

    __slots__ = ("expects_reply", "expiry", "meta", "part", "reply", "request_id", "steps")

    def __init__(
        self,
        job: JobDict,
        stubs: Sequence[Stub | None],
        local_server_class: type | None,
        request_id: int,
        meta: dict[str, Any],
        expiry: int | float | None,
        expects_reply: bool,
    ) -> None:
        self.request_id = request_id
        self.meta = meta
        self.expiry = expiry
        self.expects_reply = expects_reply
        run = _answer_job if expects_reply else _answer_unanswered_job
        self.steps = run(job, stubs, local_server_class)
        self.part: JobDict | None = None
        self.reply: JobDict = {}

    def start(self) -> StubbedJob:
        return self._advance(None)

    def resume(self, reply: JobDict) -> StubbedJob:
        return self._advance(reply)

    def _advance(self, reply: JobDict | None) -> StubbedJob:
        try:
            self.part = next(self.steps) if reply is None else self.steps.send(reply)
        except StopIteration as finished:
            self.part = None
            self.reply = finished.value
        return self

    def reply_message(self, meta: dict[str, Any] | None = None) -> ReceivedMessage:
        return ReceivedMessage(self.request_id, meta or self.meta, self.reply)


class JobsInFlight:
    """The stubbed jobs of one transport whose unstubbed part is with the service."""

    def __init__(self) -> None:
        self._jobs: dict[int, StubbedJob] = {}

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def add(self, job: StubbedJob) -> None:
        if job.expects_reply:
            self._jobs[job.request_id] = job

    def discard(self, job: StubbedJob) -> None:
        self._jobs.pop(job.request_id, None)

    @contextmanager
    def sending(self, job: StubbedJob) -> Iterator[JobDict]:
        """Keep ``job`` while its next part is sent (given), forgotten if the send fails."""
        assert job.part is not None
        self.add(job)
        try:
            yield job.part
        except BaseException:
            self.discard(job)
            raise

    def on_reply(self, message: ReceivedMessage) -> ReceivedMessage | StubbedJob:
        """What a reply from the service means: the message to hand over, or the job (with
        its next :attr:`~StubbedJob.part`) to send on."""
        job = self._jobs.get(message.request_id) if message.request_id is not None else None
        if job is None:
            return message
        try:
            job.resume(message.body or {})
        except BaseException:
            self.discard(job)
            raise
        if job.part is not None:
            return job
        self.discard(job)
        return job.reply_message(message.meta)
