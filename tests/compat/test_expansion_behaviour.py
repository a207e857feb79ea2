"""An unknown expansion is reported as PySOA reports it."""

from __future__ import annotations

import pytest

from servicewire.client.expander import ExpansionSettings, plan_expansions
from servicewire.errors import InvalidExpansionKey

SETTINGS = ExpansionSettings.from_dict(
    {
        "type_routes": {
            "author_route": {
                "service": "authors",
                "action": "get_authors",
                "request_field": "ids",
                "response_field": "authors",
            }
        },
        "type_expansions": {
            "book": {
                "author": {
                    "type": "author",
                    "route": "author_route",
                    "source_field": "author_id",
                    "destination_field": "author",
                }
            }
        },
    }
)


@pytest.mark.parametrize(
    ("expansions", "key", "expansion_type"),
    [
        ({"magazine": ["author"]}, "magazine", None),
        ({"book": ["author_typo"]}, "author_typo", "book"),
        ({"book": ["author.agent"]}, "agent", "author"),
    ],
)
def test_the_message_names_the_unknown_key_as_pysoa_does(
    expansions: dict[str, list[str]], key: str, expansion_type: str | None
) -> None:
    with pytest.raises(InvalidExpansionKey) as caught:
        plan_expansions(SETTINGS, expansions)
    assert caught.value.args == (f"Invalid key in expansion request: {key}",)
    assert caught.value.key == key
    assert caught.value.expansion_type == expansion_type
