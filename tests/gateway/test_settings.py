"""The gateway's settings and the ``--expose`` syntax."""

from __future__ import annotations

from typing import Any

import pytest

from servicewire import InvalidSettings
from servicewire.gateway import GatewaySettings, create_app, parse_exposure


def test_exposure_specs_name_services_and_actions() -> None:
    assert parse_exposure(["shop", "vault:divide,inspect", "vault:divide,nap"]) == {
        "shop": None,
        "vault": ("divide", "inspect", "nap"),
    }
    assert parse_exposure(["shop:divide", "shop"]) == {"shop": None}
    assert parse_exposure(["shop", "shop:divide"]) == {"shop": None}


@pytest.mark.parametrize(("spec", "problem"), [(":divide", "no service"), ("shop:", "no action")])
def test_bad_exposure_specs_say_what_is_wrong(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_exposure([spec])


def test_the_allow_list_decides_or_defers_to_the_service() -> None:
    settings = GatewaySettings.from_mapping({"expose": {"shop": ["divide"], "vault": None}})
    assert settings.exposes("shop", "divide") is True
    assert settings.exposes("shop", "secret") is False
    assert settings.exposes("elsewhere", "divide") is False
    assert settings.exposes("vault", "anything") is None


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, "expose: required key is missing"),
        ({"expose": {}}, "expose"),
        ({"expose": {"a/b": None}}, "expose.a/b"),
        ({"expose": {"shop": None}, "max_body_bytes": 0}, "max_body_bytes"),
        ({"expose": {"shop": None}, "timeout_in_seconds": -1}, "timeout_in_seconds"),
        ({"expose": {"shop": None}, "bearer_tokens": {"short": "x"}}, "bearer_tokens"),
        ({"expose": {"shop": None}, "signing_keys": {"k": "short"}}, "signing_keys.k"),
        ({"expose": {"shop": None}, "cors": True}, "cors: unknown key"),
    ],
)
def test_bad_settings_are_invalid_settings_naming_the_key(
    settings: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidSettings, match=named.replace(".", r"\.")):
        create_app(settings)


def test_a_token_that_is_also_a_signing_secret_is_refused() -> None:
    secret = "the same sixteen characters"
    with pytest.raises(InvalidSettings, match="must not also be a signing secret"):
        GatewaySettings.from_mapping(
            {
                "expose": {"shop": None},
                "bearer_tokens": {secret: "k"},
                "signing_keys": {"k": secret},
            }
        )


def test_bad_client_settings_stop_the_gateway_before_it_serves() -> None:
    with pytest.raises(InvalidSettings, match=r"no\.such:Thing"):
        create_app({"expose": {"shop": None}}, {"shop": {"transport": {"path": "no.such:Thing"}}})


def test_the_settings_repr_shows_no_token_or_secret() -> None:
    settings = GatewaySettings.from_mapping(
        {
            "expose": {"shop": None},
            "bearer_tokens": {"token-that-is-secret": "caller"},
            "signing_keys": {"key": "secret-that-is-secret"},
        }
    )
    assert "is-secret" not in repr(settings)
