"""Test cases for a service: its server runs in-process and ``self.client`` calls it.

Requests go through the real code paths of the client and of the server (job validation,
middleware, action validation) over the local transport, without serialization. The server
is built with ``transport`` set to ``None``, whatever ``server_settings`` say, so a test never
touches a real queue; ``setup()`` runs before the first call and ``teardown()`` after the
test.
"""

from __future__ import annotations

import sys
import unittest
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from servicewire.client.client import Client
from servicewire.errors import CallActionError
from servicewire.server.server import Server
from servicewire.settings import import_path
from servicewire.testing.assertions import (
    ErrorCodes,
    ErrorExpectation,
    FieldErrors,
    check_call_action_error,
)
from servicewire.testing.unittest_style import UnitTestStyleMethods
from servicewire.types import ActionResponse, Body, Error

__all__ = [
    "BaseServerTestCase",
    "PyTestServerTestCase",
    "ServerTestCase",
    "UnitTestServerTestCase",
    "local_client",
    "transportless_settings",
]

ServerClass = type[Server] | str
ServerSettingsArgument = Mapping[str, Any] | BaseModel | str | None


def transportless_settings(settings: ServerSettingsArgument) -> Mapping[str, Any] | BaseModel:
    """``settings`` (a dict, a settings object or a ``"module:VARIABLE"`` path) with its
    ``transport`` set to ``None``: the local transport stands in for it."""
    if isinstance(settings, str):
        settings = import_path(settings)
    if settings is None:
        return {"transport": None}
    if isinstance(settings, BaseModel):
        return settings.model_copy(update={"transport": None})
    if not isinstance(settings, Mapping):
        raise TypeError(f"Server settings must be a dict, not {settings!r}")
    return {**settings, "transport": None}


def resolve_server_class(server_class: ServerClass) -> type[Server]:
    """``server_class``, imported if it is a ``"module:Class"`` path."""
    resolved = import_path(server_class) if isinstance(server_class, str) else server_class
    if not (isinstance(resolved, type) and issubclass(resolved, Server)):
        raise TypeError(f"{server_class!r} is not a Server subclass")
    return resolved


def local_client(
    server_class: ServerClass, server_settings: ServerSettingsArgument = None, **kwargs: Any
) -> Client:
    """A client of ``server_class``'s service, run in-process over the local transport
    (the server is built on the first call; close the client to tear it down). ``kwargs``
    go to :class:`~servicewire.Client`."""
    resolved = resolve_server_class(server_class)
    return Client(
        {
            resolved.service_name: {
                "transport": {
                    "path": "servicewire.transport.local:LocalClientTransport",
                    "kwargs": {
                        "server_class": resolved,
                        "server_settings": transportless_settings(server_settings),
                    },
                }
            }
        },
        **kwargs,
    )


def _uses_django(server_class: type[Server]) -> bool:
    if getattr(server_class, "use_django", False):
        return True
    # Only a service that has imported the Django integration can be a Django server.
    django_server = sys.modules.get("servicewire.server.django.server")
    return django_server is not None and issubclass(server_class, django_server.DjangoServer)


class BaseServerTestCase:
    """What the server test cases share: set ``server_class`` (a ``Server`` subclass or its
    ``"module:Class"`` path) and, if needed, ``server_settings`` (a dict or its
    ``"module:VARIABLE"`` path); call :meth:`setup_servicewire` before each test and
    :meth:`teardown_servicewire` after it (the concrete test cases do)."""

    server_class: ClassVar[ServerClass | None] = None
    """The server of the service under test."""
    server_settings: ClassVar[ServerSettingsArgument] = None
    """Its settings (their ``transport`` is replaced by ``None``). When ``None``, a Django
    service (a ``DjangoServer``, or a server class with PySOA's ``use_django = True``, which
    then gets ``DjangoServer``'s per-job housekeeping) takes Django's
    ``SOA_SERVER_SETTINGS``, as under PySOA; any other, the defaults."""

    client: Client
    """A client whose calls to the service run the server in-process."""
    service_name: str
    """The service's name."""

    def setup_servicewire(self) -> None:
        """Make :attr:`client` (and :attr:`service_name`) for this test."""
        if self.server_class is None:
            raise TypeError(f"{type(self).__qualname__} must set server_class")
        server_class = resolve_server_class(self.server_class)
        self.service_name = server_class.service_name
        settings = self.server_settings
        if _uses_django(server_class):
            from django.conf import settings as django_settings

            from servicewire.server.django import with_django_hooks

            server_class = with_django_hooks(server_class)
            if settings is None:
                settings = django_settings.SOA_SERVER_SETTINGS
        self.client = local_client(server_class, settings)

    def setup_pysoa(self) -> None:
        """PySOA's name of :meth:`setup_servicewire`."""
        self.setup_servicewire()

    def teardown_servicewire(self) -> None:
        """Close :attr:`client`, tearing the server down."""
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def call_action(
        self,
        action: str,
        body: Body | None = None,
        service_name: str | None = None,
        **kwargs: Any,
    ) -> ActionResponse:
        """``self.client.call_action`` with the service under test as the default service;
        ``kwargs`` go to :meth:`~servicewire.Client.call_action`."""
        return self.client.call_action(service_name or self.service_name, action, body, **kwargs)

    # --- assertions -----------------------------------------------------------------------

    def _failing_call(
        self,
        action: str,
        body: Body | None,
        expectation: ErrorExpectation | None,
        kwargs: dict[str, Any],
    ) -> list[Error]:
        __tracebackhide__ = True
        try:
            response = self.call_action(action, body, **kwargs)
        except CallActionError as error:
            check_call_action_error(error, expectation)
            return [e for failed in error.actions for e in failed.errors]
        wanted = f" with {expectation.describe()}" if expectation is not None else ""
        raise AssertionError(
            f"Expected action {action!r} to fail{wanted}, but it succeeded with body "
            f"{response.body!r}"
        )

    def assertActionRunsWithAndReturnErrors(  # noqa: N802 - the reference's name
        self, action: str, body: Body | None, **kwargs: Any
    ) -> list[Error]:
        """Call ``action``; assert that it fails, and return its errors."""
        __tracebackhide__ = True
        return self._failing_call(action, body, None, kwargs)

    def assertActionRunsWithErrorCodes(  # noqa: N802 - the reference's name
        self,
        action: str,
        body: Body | None,
        error_codes: ErrorCodes,
        only: bool = False,
        **kwargs: Any,
    ) -> None:
        """Call ``action``; assert that it fails with each of ``error_codes`` (with
        ``only``, with those alone)."""
        __tracebackhide__ = True
        self._failing_call(action, body, ErrorExpectation.codes(error_codes, only), kwargs)

    def assertActionRunsWithFieldErrors(  # noqa: N802 - the reference's name
        self,
        action: str,
        body: Body | None,
        field_errors: FieldErrors,
        only: bool = False,
        **kwargs: Any,
    ) -> None:
        """Call ``action``; assert that it fails with the code(s) of each field of
        ``field_errors`` (with ``only``, with those alone)."""
        __tracebackhide__ = True
        self._failing_call(action, body, ErrorExpectation.fields(field_errors, only), kwargs)

    def assertActionRunsWithOnlyErrorCodes(  # noqa: N802 - the reference's name
        self, action: str, body: Body | None, error_codes: ErrorCodes, **kwargs: Any
    ) -> None:
        """:meth:`assertActionRunsWithErrorCodes` with ``only=True``."""
        __tracebackhide__ = True
        self.assertActionRunsWithErrorCodes(action, body, error_codes, only=True, **kwargs)

    def assertActionRunsWithOnlyFieldErrors(  # noqa: N802 - the reference's name
        self, action: str, body: Body | None, field_errors: FieldErrors, **kwargs: Any
    ) -> None:
        """:meth:`assertActionRunsWithFieldErrors` with ``only=True``."""
        __tracebackhide__ = True
        self.assertActionRunsWithFieldErrors(action, body, field_errors, only=True, **kwargs)


class ServerTestCase(unittest.TestCase, BaseServerTestCase):
    """A ``unittest`` test case for a service (see :class:`BaseServerTestCase`). An override
    of ``setUp`` must call ``super().setUp()``; the client is closed by a cleanup."""

    def setUp(self) -> None:
        super().setUp()
        self.setup_servicewire()
        self.addCleanup(self.teardown_servicewire)


UnitTestServerTestCase = ServerTestCase
"""The reference's name of :class:`ServerTestCase`."""


class PyTestServerTestCase(UnitTestStyleMethods, BaseServerTestCase):
    """A plain pytest test class for a service (see :class:`BaseServerTestCase`). Overrides
    of ``setup_method`` and ``teardown_method`` must call ``super()``.

    For tests written for ``unittest``, it has ``unittest.TestCase``'s methods too
    (``self.assertIn``, ``self.assertRaises``, ``self.addCleanup``, ``setUp``/``tearDown``, ...;
    see :class:`~servicewire.testing.unittest_style.UnitTestStyleMethods`); plain ``assert``
    statements give pytest's better reports.
    """

    def setup_method(self, method: Callable[..., Any] | None = None) -> None:
        self.setup_servicewire()
        super().setup_method(method)

    def teardown_method(self, method: Callable[..., Any] | None = None) -> None:
        try:
            super().teardown_method(method)
        finally:
            self.teardown_servicewire()
