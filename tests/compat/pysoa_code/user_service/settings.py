SOA_SERVER_SETTINGS = {
    "transport": {
        "path": "pysoa.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [("localhost", 6379)]},
        },
    },
    "middleware": [],
    "client_routing": {
        "team": {
            "transport": {
                "path": "pysoa.test.stub_service:StubClientTransport",
                "kwargs": {
                    "action_map": {
                        "get_team": {"body": {"id": 10, "members": 3, "capacity": 10}},
                    },
                },
            },
        },
    },
}
