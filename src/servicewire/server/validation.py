"""Validation of job requests and action bodies, with errors in the wire's terms.

Schemas are pydantic models or anything a ``TypeAdapter`` accepts (a ``TypedDict``, say),
validated strictly. A pydantic problem becomes an :class:`~servicewire.types.Error`:
a missing key is ``MISSING``, an unexpected key ``UNKNOWN``, anything else ``INVALID``, with
``field`` the dotted path to the value.
"""

from __future__ import annotations

import types
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import NotRequired, TypedDict, is_typeddict

from servicewire.errors import ERROR_CODE_INVALID, ERROR_CODE_MISSING, ERROR_CODE_UNKNOWN
from servicewire.types import ActionRequest, Body, Context, Control, Error, JobRequest

__all__ = ["SchemaValidator", "errors_from_validation", "parse_job_request", "well_formed_job"]

_UNKNOWN_TYPES = frozenset({"extra_forbidden", "unexpected_keyword_argument"})


def errors_from_validation(
    error: ValidationError, *, is_caller_error: bool, prefix: str = ""
) -> list[Error]:
    """Map each pydantic problem to an :class:`Error` with a code and a dotted ``field``."""
    errors = []
    for problem in error.errors(include_url=False):
        kind = problem["type"]
        # A validator may name its wire code and a sub-field in its error's context.
        context = problem.get("ctx") or {}
        if "error_code" in context:
            code = str(context["error_code"])
        elif kind.startswith("missing"):
            code = ERROR_CODE_MISSING
        elif kind in _UNKNOWN_TYPES:
            code = ERROR_CODE_UNKNOWN
        else:
            code = ERROR_CODE_INVALID
        path = ".".join(str(part) for part in (*problem["loc"], *context.get("error_field", ())))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        errors.append(
            Error(
                code=code,
                message=problem["msg"],
                field=path or None,
                is_caller_error=is_caller_error,
            )
        )
    return errors


class SchemaValidator:
    """Validates plain dicts against one schema, strictly; built once per schema."""

    __slots__ = ("adapter", "schema")

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            if "extra" not in schema.model_config:
                # Unknown keys are errors unless the model says otherwise (as the wire expects).
                schema = type(
                    schema.__name__,
                    (schema,),
                    {"model_config": ConfigDict(extra="forbid"), "__module__": schema.__module__},
                )
            self.adapter: TypeAdapter[Any] = TypeAdapter(schema)
        else:
            if is_typeddict(schema) and "__pydantic_config__" not in schema.__dict__:
                # Same rule for TypedDicts; nested TypedDicts inherit the configuration.
                schema = types.new_class(
                    schema.__name__,
                    (schema,),
                    {},
                    lambda namespace: namespace.update(
                        __pydantic_config__=ConfigDict(extra="forbid"),
                        __module__=schema.__module__,
                    ),
                )
            self.adapter = TypeAdapter(schema)

    def validate(self, value: Any) -> Any:
        """Return the validated value; raise ``ValidationError``."""
        return self.adapter.validate_python(value, strict=True)

    def json_schema(self) -> dict[str, Any]:
        return self.adapter.json_schema()


_validators: dict[Any, SchemaValidator] = {}


def validator_for(schema: Any) -> SchemaValidator:
    """The shared :class:`SchemaValidator` of ``schema`` (built on first use)."""
    try:
        return _validators[schema]
    except KeyError:
        validator = _validators[schema] = SchemaValidator(schema)
        return validator
    except TypeError:  # an unhashable schema object: not cached
        return SchemaValidator(schema)


# The job request envelope. Extra keys are allowed in control and context (clients add
# their own, such as ``timeout``), nowhere else.


@with_config(ConfigDict(extra="allow"))
class _Control(TypedDict):
    continue_on_error: bool
    suppress_response: NotRequired[bool]


@with_config(ConfigDict(extra="allow"))
class _Context(TypedDict):
    correlation_id: str
    switches: list[int]
    caller: NotRequired[str]
    calling_service: NotRequired[str]


@with_config(ConfigDict(extra="forbid"))
class _ActionRequest(TypedDict):
    action: str
    body: NotRequired[dict[str, Any]]


@with_config(ConfigDict(extra="forbid"))
class _JobRequest(TypedDict):
    control: _Control
    context: _Context
    actions: Annotated[list[_ActionRequest], Field(min_length=1)]


def _job_request(validated: Any) -> JobRequest:
    # Pydantic's output, already checked: the validated dicts become the job's parts as they
    # are (JobRequest.from_dict would re-check what the schema guarantees).
    return JobRequest(
        validated["control"],
        validated["context"],
        [
            ActionRequest(action["action"], action.get("body") or {})
            for action in validated["actions"]
        ],
    )


# Validated straight into a JobRequest, in one pass.
_job_adapter: TypeAdapter[JobRequest] = TypeAdapter(
    Annotated[_JobRequest, AfterValidator(_job_request)]  # type: ignore[arg-type]
)


def parse_job_request(job_request: Any) -> JobRequest | list[Error]:
    """Validate a job request dict against the wire's rules, into a :class:`JobRequest`;
    or, when it breaks them, the errors (one per problem).

    Job-level validation errors are not the caller's code's fault but its library's, so
    ``is_caller_error`` is false, as PySOA peers expect.
    """
    job = well_formed_job(job_request)
    if job is not None:
        return job
    try:
        return _job_adapter.validate_python(job_request, strict=True)
    except ValidationError as error:
        return errors_from_validation(error, is_caller_error=False)


# The envelope every servicewire and PySOA client sends is made of exact dicts, lists, strs,
# bools and ints: checking those types by hand, and copying as pydantic does, takes half the
# time of running the validator. Anything else (a subclass, a non-ASCII extra key, a missing or
# unknown key) is left to pydantic, which decides and explains; the tests hold the two to
# the same results.


def well_formed_job(job_request: Any) -> JobRequest | None:
    """The :class:`JobRequest` pydantic would validate ``job_request`` into, built without
    it when every part of the envelope has its plain type; ``None`` when that is not sure.

    The result is pydantic's, to the key order: the headers, the switches and each body are
    copies, a header's declared fields come first, in the schema's order, then its other
    keys in the order given.
    """
    if type(job_request) is not dict or len(job_request) != 3:
        return None
    try:
        # A missing key is a KeyError, which costs nothing until raised.
        control = job_request["control"]
        context = job_request["context"]
        actions = job_request["actions"]
        if type(control) is not dict or type(context) is not dict or type(actions) is not list:
            return None
        if not actions:
            return None

        continue_on_error = control["continue_on_error"]
        if type(continue_on_error) is not bool:
            return None
        control_copy: Control = {"continue_on_error": continue_on_error}
        if "suppress_response" in control:
            suppress_response = control["suppress_response"]
            if type(suppress_response) is not bool:
                return None
            control_copy["suppress_response"] = suppress_response
        if len(control) > len(control_copy) and not _copy_extras(control, control_copy):
            return None

        correlation_id = context["correlation_id"]
        switches = context["switches"]
        if type(correlation_id) is not str or type(switches) is not list:
            return None
        if switches:
            for switch in switches:
                if type(switch) is not int:
                    return None
        context_copy: Context = {"correlation_id": correlation_id, "switches": switches.copy()}
        # The optional keys, one block each rather than one loop over them: a loop with a
        # helper made the whole in-process call about 6 % slower.
        if "caller" in context:
            caller = context["caller"]
            if type(caller) is not str:
                return None
            context_copy["caller"] = caller
        if "calling_service" in context:
            calling_service = context["calling_service"]
            if type(calling_service) is not str:
                return None
            context_copy["calling_service"] = calling_service
        if len(context) > len(context_copy) and not _copy_extras(context, context_copy):
            return None

        action_requests = []
        for action in actions:
            if type(action) is not dict:
                return None
            name = action["action"]
            if type(name) is not str:
                return None
            if len(action) == 1:
                body: Body = {}
            elif len(action) == 2:
                given = action["body"]
                if type(given) is not dict:
                    return None
                for key in given:
                    if type(key) is not str:
                        return None
                body = given.copy()
            else:
                return None
            action_requests.append(ActionRequest(name, body))
    except KeyError:
        return None
    return JobRequest(control_copy, context_copy, action_requests)


def _copy_extras(header: dict[Any, Any], copy: dict[str, Any]) -> bool:
    """Add the keys of ``header`` that ``copy`` lacks, in their order; ``False`` if one is
    not a plain ASCII string (pydantic refuses some others, such as lone surrogates)."""
    for key, value in header.items():
        if key not in copy:
            if type(key) is not str or not key.isascii():
                return False
            copy[key] = value
    return True
