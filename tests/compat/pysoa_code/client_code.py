"""Client code, as a PySOA caller writes it: expansions, a stub client in a unit test."""

from pysoa.client.client import Client

EXPANSION_CONFIG = {
    "type_routes": {
        "team": {
            "service": "team",
            "action": "get_teams",
            "request_field": "team_ids",
            "response_field": "teams",
        },
    },
    "type_expansions": {
        "user": {
            "team": {
                "type": "team",
                "route": "team",
                "source_field": "team_id",
                "destination_field": "team",
            },
        },
    },
}


def make_client():
    return Client(
        {
            "user": {
                "transport": {
                    "path": "pysoa.common.transport.local:LocalClientTransport",
                    "kwargs": {
                        "server_class": "user_service.server:UserServer",
                        "server_settings": {"transport": None},
                    },
                },
            },
            "team": {
                "transport": {
                    "path": "pysoa.test.stub_service:StubClientTransport",
                    "kwargs": {
                        "action_map": {
                            "get_teams": {
                                "body": {"teams": {10: {"_type": "team", "name": "Core"}}},
                            },
                        },
                    },
                },
            },
        },
        expansion_config=EXPANSION_CONFIG,
    )


def user_with_team(client, user_id):
    response = client.call_action(
        "user", "get_user", {"user_id": user_id}, expansions={"user": ["team"]}
    )
    return response.body["user"]
