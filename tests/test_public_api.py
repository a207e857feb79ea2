"""The public API is pinned: adding or removing a name is a deliberate act."""

from __future__ import annotations

import servicewire

PUBLIC_NAMES = [
    "ERROR_CODE_ACCESS_DENIED",
    "ERROR_CODE_ACTION_TIMEOUT",
    "ERROR_CODE_INVALID",
    "ERROR_CODE_JOB_TIMEOUT",
    "ERROR_CODE_MISSING",
    "ERROR_CODE_NOT_AUTHORIZED",
    "ERROR_CODE_NOT_FOUND",
    "ERROR_CODE_RESPONSE_NOT_SERIALIZABLE",
    "ERROR_CODE_RESPONSE_TOO_LARGE",
    "ERROR_CODE_SERVER_ERROR",
    "ERROR_CODE_UNKNOWN",
    "Action",
    "ActionError",
    "ActionInterface",
    "ActionRequest",
    "ActionResponse",
    "AllOf",
    "AllowAny",
    "AllowCallingServices",
    "AllowSignedRequests",
    "AllowSwitches",
    "AnyOf",
    "AsyncClient",
    "AuxiliaryAction",
    "AuxiliaryActionRequest",
    "BaseStatusAction",
    "CallActionError",
    "CallJobError",
    "Client",
    "ClientError",
    "ClientMiddleware",
    "ClientSettings",
    "ConcurrentInvoker",
    "ConnectionError",
    "CoroutineMiddleware",
    "DeduplicatingInvoker",
    "DefaultCoroutineMiddleware",
    "Denial",
    "DenyAll",
    "EnrichedActionRequest",
    "EnrichedJobRequest",
    "Error",
    "FutureResponse",
    "HarakiriInterrupt",
    "ImproperlyConfigured",
    "IntrospectionAction",
    "InvalidExpansionKey",
    "InvalidField",
    "InvalidMessage",
    "InvalidMessageError",
    "InvalidSettings",
    "Invoker",
    "JobError",
    "JobRequest",
    "JobResponse",
    "MessageReceiveError",
    "MessageReceiveTimeout",
    "MessageSendError",
    "MessageSendTimeout",
    "MessageTooLarge",
    "MetricName",
    "MetricsRecorder",
    "Policy",
    "RequestSigningMiddleware",
    "RequestSwitchSet",
    "ResponseValidationError",
    "SerializationError",
    "SerializedInvoker",
    "Server",
    "ServerError",
    "ServerEvent",
    "ServerMiddleware",
    "ServerSettings",
    "ServiceHandler",
    "ServiceWireError",
    "StatusActionFactory",
    "SwitchedAction",
    "TransientTransportError",
    "TransportError",
    "__version__",
]


def test_all_is_pinned() -> None:
    assert servicewire.__all__ == PUBLIC_NAMES


def isort_style(name: str) -> tuple[int, str]:
    """Constants, then classes, then everything else, each alphabetically."""
    if name.isupper():
        return 0, name
    if name[:1].isupper():
        return 1, name
    return 2, name


def test_all_is_sorted() -> None:
    assert servicewire.__all__ == sorted(servicewire.__all__, key=isort_style)


def test_every_public_name_exists() -> None:
    for name in servicewire.__all__:
        assert getattr(servicewire, name) is not None


def test_the_package_is_typed() -> None:
    from importlib.resources import files

    assert files("servicewire").joinpath("py.typed").is_file()
