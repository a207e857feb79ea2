"""The interop service, written for PySOA 1.4.9 (runs in PySOA's own environment).

Run ``python service.py <redis port>`` to serve it over Redis until SIGTERM; chunked
responses are enabled.
"""

import datetime
import decimal
import logging
import sys

import currint
import pytz
from conformity import fields
from pysoa.common.types import Error
from pysoa.server.action import Action
from pysoa.server.errors import ActionError, JobError
from pysoa.server.middleware import ServerMiddleware
from pysoa.server.server import Server


def typed_values():
    """The values with msgpack extension types that each side sends the other."""
    return {
        "naive": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
        "aware": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=pytz.UTC),
        "date": datetime.date(2024, 5, 6),
        "time": datetime.time(7, 8, 9, 10),
        "decimal": decimal.Decimal("-12.345"),
        "amount": currint.Amount.from_code_and_minor("USD", 1234),
    }


class Echo(Action):
    def run(self, request):
        return dict(request.body)


class Square(Action):
    request_schema = fields.Dictionary({"number": fields.Integer()})
    response_schema = fields.Dictionary({"square": fields.Integer()})

    def run(self, request):
        return {"square": request.body["number"] ** 2}


class Fail(Action):
    def run(self, request):
        raise ActionError([Error(code="NOPE", message="Failed on purpose", field="reason")])


class Boom(Action):
    def run(self, request):
        raise ValueError("boom")


class Switched(Action):
    def run(self, request):
        return {"five": request.switches.is_active(5), "switches": sorted(request.switches)}


class Types(Action):
    def run(self, request):
        return typed_values()


class Big(Action):
    def run(self, request):
        tag = request.body.get("tag", "")
        return {"data": tag + "x" * (request.body["size"] - len(tag))}


class DenyMiddleware(ServerMiddleware):
    """A job error for any job whose context asks for one."""

    def job(self, process_job):
        def handler(job_request):
            if job_request.context.get("fail_job"):
                raise JobError([Error(code="NOT_AUTHORIZED", message="Job refused on purpose")])
            return process_job(job_request)

        return handler


class InteropServer(Server):
    service_name = "interop"
    action_class_map = {
        "echo": Echo,
        "square": Square,
        "fail": Fail,
        "boom": Boom,
        "switched": Switched,
        "types": Types,
        "big": Big,
    }


def settings(port):
    return {
        "transport": {
            "path": "pysoa.common.transport.redis_gateway.server:RedisServerTransport",
            "kwargs": {
                "backend_type": "redis.standard",
                "backend_layer_kwargs": {"hosts": [("127.0.0.1", port)]},
                "chunk_messages_larger_than_bytes": 102400,
                "maximum_message_size_in_bytes": 1024000,
                "receive_timeout_in_seconds": 1,
            },
        },
        "middleware": [{"path": "service:DenyMiddleware"}],
        "logging": {"version": 1, "root": {"level": "WARNING"}},
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    server = InteropServer(InteropServer.settings_class(settings(int(sys.argv[1]))))
    print("serving", flush=True)
    server.run()
