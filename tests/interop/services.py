"""The interop service for servicewire: the same actions as ``pysoa_side/service.py``."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import currint
from pydantic import BaseModel

from servicewire import (
    Action,
    ActionError,
    EnrichedActionRequest,
    EnrichedJobRequest,
    Error,
    JobError,
    JobResponse,
    Server,
    ServerMiddleware,
)
from servicewire.server.middleware import ProcessJob
from servicewire.types import Body


def typed_values() -> dict[str, Any]:
    """The values with msgpack extension types that each side sends the other."""
    return {
        "naive": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
        "aware": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "date": datetime.date(2024, 5, 6),
        "time": datetime.time(7, 8, 9, 10),
        "decimal": decimal.Decimal("-12.345"),
        "amount": currint.Amount.from_code_and_minor("USD", 1234),
    }


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return dict(request.body)


class SquareRequest(BaseModel):
    number: int


class SquareResponse(BaseModel):
    square: int


class Square(Action):
    request_schema = SquareRequest
    response_schema = SquareResponse

    def run(self, request: EnrichedActionRequest) -> Body:
        return {"square": request.body["number"] ** 2}


class Fail(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        raise ActionError([Error(code="NOPE", message="Failed on purpose", field="reason")])


class Boom(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        raise ValueError("boom")


class Switched(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return {"five": request.switches.is_active(5), "switches": sorted(request.switches)}


class Types(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return typed_values()


class Big(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        tag = str(request.body.get("tag", ""))
        return {"data": tag + "x" * (int(request.body["size"]) - len(tag))}


class DenyMiddleware(ServerMiddleware):
    """A job error for any job whose context asks for one."""

    def job(self, process_job: ProcessJob) -> ProcessJob:
        def handler(job_request: EnrichedJobRequest) -> JobResponse:
            if job_request.context.get("fail_job"):
                raise JobError([Error(code="NOT_AUTHORIZED", message="Job refused on purpose")])
            return process_job(job_request)

        return handler


class InteropServer(Server):
    service_name = "interop"
    action_class_map: Any = {
        "echo": Echo,
        "square": Square,
        "fail": Fail,
        "boom": Boom,
        "switched": Switched,
        "types": Types,
        "big": Big,
    }
