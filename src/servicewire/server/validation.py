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
from servicewire.types import ActionRequest, Error, JobRequest

__all__ = ["SchemaValidator", "errors_from_validation", "parse_job_request"]

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
    try:
        return _job_adapter.validate_python(job_request, strict=True)
    except ValidationError as error:
        return errors_from_validation(error, is_caller_error=False)
