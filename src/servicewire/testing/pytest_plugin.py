"""servicewire's pytest plugin, loaded by pytest through the ``pytest11`` entry point
``servicewire`` (disable it with ``-p no:servicewire``).

Fixtures:

- ``servicewire_client``: a :class:`~servicewire.Client` of the service under test, whose
  server runs in-process (over the local transport, without a real transport); closed, and
  the server torn down, after the test.
- ``servicewire_server_class`` and ``servicewire_server_settings``: which server that is, and
  its settings. They come from the nearest ``@pytest.mark.servicewire_server(server_class=...,
  settings={...})`` marker, else from a ``servicewire_server_class`` (and
  ``servicewire_server_settings``) variable of the test class, the test module or the nearest
  ``conftest.py`` that has one, else from the ``servicewire_server_class`` ini option. Either
  fixture may also be overridden like any other. (Give the marker a class by keyword: pytest
  takes a lone positional class for the thing to mark.)
- ``stub_action``: ``stub_action(service, action, body=None, errors=None, side_effect=None,
  ...)`` starts a stub (see :func:`servicewire.testing.stub_action`) and returns it; every stub
  started is stopped after the test.

Ini options: ``servicewire_contracts`` (lines of ``service = module:ServerClass``: the real
server of each stubbed service, see :mod:`servicewire.testing.contract`),
``servicewire_contract_mode`` (``auto``, ``required`` or ``off``) and
``servicewire_server_class``.

Loading the plugin changes nothing and imports nothing beyond pytest and the ``servicewire``
package itself (whose root imports the client and the server): the testing modules are
imported when a fixture is used, or at start-up when the contract options are set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from servicewire.client.client import Client
    from servicewire.testing.stubs import ActionStub

_MARKER = "servicewire_server"
_MISSING = object()
_saved_contracts = pytest.StashKey[tuple[dict[str, Any], str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "servicewire_contracts",
        type="linelist",
        help="servicewire: 'service = module:ServerClass' lines naming the real server of "
        "each service whose actions tests stub, to check the stubs against",
    )
    parser.addini(
        "servicewire_contract_mode",
        default="auto",
        help="servicewire: check stubs against the real actions when known (auto), always "
        "(required) or never (off)",
    )
    parser.addini(
        "servicewire_server_class",
        default="",
        help="servicewire: 'module:ServerClass' of the service the servicewire_client "
        "fixture calls, unless a marker or variable says otherwise",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(server_class=..., settings=None): the server (class or 'module:Class' "
        "path) and settings of the servicewire_client fixture",
    )
    lines: list[str] = config.getini("servicewire_contracts")
    mode: str = config.getini("servicewire_contract_mode")
    if not lines and mode == "auto":
        return
    from servicewire.testing.contract import contracts

    config.stash[_saved_contracts] = (contracts.registered(), contracts.mode)
    for line in lines:
        service_name, separator, path = line.partition("=")
        if not separator or not service_name.strip() or not path.strip():
            raise pytest.UsageError(
                f"servicewire_contracts: {line!r} is not of the form 'service = module:ServerClass'"
            )
        contracts.register(service_name.strip(), path.strip())
    try:
        contracts.mode = mode
    except ValueError as error:
        raise pytest.UsageError(f"servicewire_contract_mode: {error}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    saved = config.stash.get(_saved_contracts, None)
    if saved is None:
        return
    from servicewire.testing.contract import contracts

    contracts.reset()
    servers, mode = saved
    for service_name, server_class in servers.items():
        contracts.register(service_name, server_class)
    contracts.mode = mode


def _conftest_modules(request: pytest.FixtureRequest) -> list[Any]:
    """The conftest modules that apply to the test, nearest first."""
    test_path = Path(request.node.path)
    found = []
    for plugin in request.config.pluginmanager.get_plugins():
        file = getattr(plugin, "__file__", None)
        if not file or Path(file).name != "conftest.py":
            continue
        directory = Path(file).parent
        if directory in test_path.parents:
            found.append((len(directory.parts), plugin))
    return [plugin for _, plugin in sorted(found, key=lambda item: -item[0])]


def _declared(request: pytest.FixtureRequest, name: str) -> Any:
    owners = [request.cls, request.module, *_conftest_modules(request)]
    for owner in owners:
        if owner is not None and hasattr(owner, name):
            return getattr(owner, name)
    return _MISSING


@pytest.fixture
def servicewire_server_class(request: pytest.FixtureRequest) -> Any:
    """The server class (or its ``"module:Class"`` path) of the service under test."""
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        server_class = marker.kwargs.get("server_class", marker.args[0] if marker.args else None)
        if server_class is None:
            pytest.fail(
                f"@pytest.mark.{_MARKER} needs the server class: "
                f"@pytest.mark.{_MARKER}(server_class=MyServer)",
                pytrace=False,
            )
        return server_class
    declared = _declared(request, "servicewire_server_class")
    if declared is not _MISSING:
        return declared
    configured = request.config.getini("servicewire_server_class")
    if configured:
        return configured
    pytest.fail(
        "servicewire_client needs the server of the service under test: mark the test with "
        f"@pytest.mark.{_MARKER}(server_class=MyServer), set servicewire_server_class = "
        "MyServer in the "
        "test class, the test module or a conftest.py, or set the servicewire_server_class "
        "ini option",
        pytrace=False,
    )


@pytest.fixture
def servicewire_server_settings(request: pytest.FixtureRequest) -> Any:
    """The settings of the server under test (``None``: the defaults); their ``transport``
    is replaced by ``None``."""
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        return marker.kwargs.get("settings")
    declared = _declared(request, "servicewire_server_settings")
    return None if declared is _MISSING else declared


@pytest.fixture
def servicewire_client(
    servicewire_server_class: Any, servicewire_server_settings: Any
) -> Iterator[Client]:
    """A client of the service under test, whose server runs in-process."""
    from servicewire.testing.cases import local_client

    client = local_client(servicewire_server_class, servicewire_server_settings)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def stub_action() -> Iterator[Callable[..., ActionStub]]:
    """Start stubs for this test: ``stub_action(service, action, body=None, errors=None,
    side_effect=None, ...)`` (the arguments of :func:`servicewire.testing.stub_action`)
    returns the stub; all are stopped after the test."""
    from servicewire.testing.stubs import stub_action as make_stub

    started: list[Any] = []

    def start(*args: Any, **kwargs: Any) -> ActionStub:
        patcher = make_stub(*args, **kwargs)
        stub = patcher.start()
        started.append(patcher)
        return stub

    yield start
    failures: list[BaseException] = []
    for patcher in reversed(started):
        # Every stub stops, even if one reports a contract violation the test swallowed.
        try:
            patcher.__exit__(None, None, None)
        except AssertionError as failure:
            failures.append(failure)
    if failures:
        raise failures[0]
