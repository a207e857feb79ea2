"""A PySOA 1.4.9 client calling the user service over Redis (runs in PySOA's own
environment); prints one JSON object: what each call observed."""

import json
import sys

from pysoa.client.client import Client

PORT = int(sys.argv[1])

client = Client(
    {
        "user": {
            "transport": {
                "path": "pysoa.common.transport.redis_gateway.client:RedisClientTransport",
                "kwargs": {
                    "backend_type": "redis.standard",
                    "backend_layer_kwargs": {"hosts": [("127.0.0.1", PORT)]},
                },
            },
        },
    },
)


def errors_of(call):
    try:
        call()
    except Client.CallActionError as error:
        return sorted(
            [e.code, e.field, e.is_caller_error] for action in error.actions for e in action.errors
        )
    return "no error"


results = {
    "get_user": client.call_action("user", "get_user", {"user_id": 1}).body,
    "get_user_v2": client.call_action("user", "get_user", {"user_id": 2}, switches=[5]).body,
    "not_found": errors_of(lambda: client.call_action("user", "get_user", {"user_id": 99})),
    "bad_request": errors_of(
        lambda: client.call_action("user", "get_user", {"user_id": "one", "x": 1})
    ),
    "create_user": client.call_action(
        "user",
        "create_user",
        {"name": "Linus", "email": "linus@example.com", "team_id": 10, "roles": ["member"]},
    ).body,
    "bad_create": errors_of(
        lambda: client.call_action(
            "user",
            "create_user",
            {
                "name": " ",
                "email": "nope",
                "team_id": 10,
                "roles": ["owner"],
                "login": {"method": "pigeon"},
            },
        )
    ),
    "introspect": sorted(client.call_action("user", "introspect", {}).body["actions"]),
}
print(json.dumps(results))
