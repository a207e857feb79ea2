"""servicewire.testing's public names are pinned, and imported only when first used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import servicewire.testing

PUBLIC_NAMES = [
    "ActionStub",
    "BaseServerTestCase",
    "CallActionErrorInfo",
    "ContractRegistry",
    "PyTestServerTestCase",
    "ServerTestCase",
    "StubClient",
    "StubClientTransport",
    "StubContractError",
    "StubError",
    "StubServer",
    "UnitTestServerTestCase",
    "contracts",
    "local_client",
    "raises_call_action_error",
    "raises_error_codes",
    "raises_field_errors",
    "raises_only_error_codes",
    "raises_only_field_errors",
    "stub_action",
]


def test_the_public_names_are_pinned() -> None:
    assert servicewire.testing.__all__ == PUBLIC_NAMES


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in PUBLIC_NAMES:
        assert getattr(servicewire.testing, name) is not None
    assert set(PUBLIC_NAMES) <= set(dir(servicewire.testing))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'stub_service'"):
        servicewire.testing.stub_service


def test_names_are_imported_on_first_use() -> None:
    code = (
        "import sys, servicewire.testing as t\n"
        "print(sorted(m for m in sys.modules if m.startswith('servicewire.testing.')))\n"
        "t.raises_error_codes\n"
        "print(sorted(m for m in sys.modules if m.startswith('servicewire.testing.')))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert output == ["[]", "['servicewire.testing.assertions']"]
