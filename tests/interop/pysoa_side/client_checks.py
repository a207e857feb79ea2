"""A PySOA 1.4.9 client calling the interop service over Redis (runs in PySOA's own
environment); prints one JSON object: each check's name and what it observed."""

import json
import sys
import traceback

from pysoa.client.client import Client
from service import typed_values

PORT = int(sys.argv[1])
results = {}


def client(protocol_version=3, serializer=None):
    kwargs = {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": [("127.0.0.1", PORT)]},
        "protocol_version": protocol_version,
    }
    if serializer:
        kwargs["default_serializer_config"] = {"path": serializer}
    transport = {
        "path": "pysoa.common.transport.redis_gateway.client:RedisClientTransport",
        "kwargs": kwargs,
    }
    return Client({"interop": {"transport": transport}})


def check(function):
    try:
        results[function.__name__] = function()
    except Exception:
        results[function.__name__] = {"unexpected": traceback.format_exc()}
    return function


def errors_of(error):
    return [
        {
            "code": e.code,
            "field": e.field,
            "message": e.message,
            "is_caller_error": e.is_caller_error,
            "has_traceback": bool(e.traceback),
        }
        for action in error.actions
        for e in action.errors
    ]


def action_errors(action, body, **kwargs):
    try:
        client().call_action("interop", action, body, **kwargs)
    except Client.CallActionError as error:
        return errors_of(error)
    return "no error"


@check
def success():
    return client().call_action("interop", "square", {"number": 3}).body


@check
def protocol_versions():
    return {
        str(version): client(protocol_version=version)
        .call_action("interop", "echo", {"v": version})
        .body
        for version in (1, 2, 3)
    }


@check
def json_serializer():
    json_client = client(serializer="pysoa.common.serializer:JSONSerializer")
    return json_client.call_action(
        "interop", "echo", {"text": "héllo", "list": [1, 2.5, None]}
    ).body


@check
def action_error():
    return action_errors("fail", {})


@check
def server_error():
    return action_errors("boom", {})


@check
def unknown_action():
    return action_errors("nope", {})


@check
def schema_errors():
    return {
        "missing": action_errors("square", {}),
        "wrong_type": action_errors("square", {"number": "x"}),
        "extra_key": action_errors("square", {"number": 1, "extra": 2}),
    }


@check
def job_error():
    try:
        client().call_action("interop", "echo", {}, context={"fail_job": True})
    except Client.JobError as error:
        return [
            {"code": e.code, "message": e.message, "is_caller_error": e.is_caller_error}
            for e in error.errors
        ]
    return "no error"


@check
def switches():
    return {
        "on": client().call_action("interop", "switched", {}, switches=[5, 7]).body,
        "off": client().call_action("interop", "switched", {}).body,
    }


@check
def ext_types_to_server():
    sent = typed_values()
    echoed = client().call_action("interop", "echo", sent).body
    return {
        key: [echoed.get(key) == value, type(echoed.get(key)).__name__]
        for key, value in sent.items()
    }


@check
def ext_types_from_server():
    received = client().call_action("interop", "types", {}).body
    return {
        key: [received.get(key) == value, type(received.get(key)).__name__]
        for key, value in typed_values().items()
    }


@check
def chunked_response():
    data = client().call_action("interop", "big", {"size": 300000, "tag": "<start>"}).body["data"]
    return {"length": len(data), "starts": data[:7]}


@check
def parallel_calls():
    actions = [{"action": "echo", "body": {"i": i}} for i in range(10)]
    return [response.body for response in client().call_actions_parallel("interop", actions)]


print(json.dumps(results))
