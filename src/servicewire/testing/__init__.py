"""servicewire's testing toolkit: stubbing the services your code calls, and testing services.

- :func:`stub_action`: make one action of one service answer from the test, for every
  client, while the service's other actions still reach it.
- :class:`StubClient`, :class:`StubClientTransport`, :class:`StubServer`: services defined
  inline, run in-process through the real client and server code.
- :class:`ServerTestCase` (``unittest``) and :class:`PyTestServerTestCase` (pytest): test a
  service through ``self.client``, with assertions about the errors of a call.
- ``raises_*``: context managers asserting the errors a call fails with.
- :data:`contracts`: the real servers stubs are checked against.
- A pytest plugin (loaded automatically): the ``servicewire_client`` and ``stub_action``
  fixtures.

The names are imported on first use, so that loading the pytest plugin costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servicewire.testing.assertions import (
        CallActionErrorInfo,
        raises_call_action_error,
        raises_error_codes,
        raises_field_errors,
        raises_only_error_codes,
        raises_only_field_errors,
    )
    from servicewire.testing.cases import (
        BaseServerTestCase,
        PyTestServerTestCase,
        ServerTestCase,
        UnitTestServerTestCase,
        local_client,
    )
    from servicewire.testing.contract import (
        ContractRegistry,
        contracts,
    )
    from servicewire.testing.errors import (
        StubContractError,
        StubError,
    )
    from servicewire.testing.stub_server import (
        StubClient,
        StubClientTransport,
        StubServer,
    )
    from servicewire.testing.stubs import (
        ActionStub,
        stub_action,
    )

_MODULE_OF = {
    "ActionStub": "stubs",
    "BaseServerTestCase": "cases",
    "CallActionErrorInfo": "assertions",
    "ContractRegistry": "contract",
    "PyTestServerTestCase": "cases",
    "ServerTestCase": "cases",
    "StubClient": "stub_server",
    "StubClientTransport": "stub_server",
    "StubContractError": "errors",
    "StubError": "errors",
    "StubServer": "stub_server",
    "UnitTestServerTestCase": "cases",
    "contracts": "contract",
    "local_client": "cases",
    "raises_call_action_error": "assertions",
    "raises_error_codes": "assertions",
    "raises_field_errors": "assertions",
    "raises_only_error_codes": "assertions",
    "raises_only_field_errors": "assertions",
    "stub_action": "stubs",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Not cached here: the module's own attribute is the one truth, even if it is reloaded.
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
