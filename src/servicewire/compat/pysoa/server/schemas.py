"""PySOA's ``pysoa.server.schemas``: the job request envelope, as Conformity schemas.

The same rules as the server's own check of each job request (servicewire validates the
envelope with a pydantic model; these are for code that called ``JobRequestSchema.errors``
itself).
"""

from __future__ import annotations

from servicewire.compat.conformity import fields

__all__ = [
    "ActionRequestSchema",
    "ContextHeaderSchema",
    "ControlHeaderSchema",
    "JobRequestSchema",
]

ActionRequestSchema = fields.Dictionary(
    {
        "action": fields.UnicodeString(description="The name of the action to run."),
        "body": fields.SchemalessDictionary(
            key_type=fields.UnicodeString(), description="The action's request body."
        ),
    },
    optional_keys=("body",),
)

ControlHeaderSchema = fields.Dictionary(
    {
        "continue_on_error": fields.Boolean(
            description="Whether to run the job's next actions after one fails."
        ),
        "suppress_response": fields.Boolean(
            description="Whether to run the job without sending a response."
        ),
    },
    optional_keys=("suppress_response",),
    allow_extra_keys=True,
)

ContextHeaderSchema = fields.Dictionary(
    {
        "caller": fields.UnicodeString(description="Who is calling, for logs and metrics."),
        "calling_service": fields.UnicodeString(
            description="The service calling, when one service calls another."
        ),
        "correlation_id": fields.UnicodeString(
            description="An id shared by the requests of one logical operation."
        ),
        "switches": fields.List(fields.Integer(), description="The request's switches."),
    },
    optional_keys=("caller", "calling_service"),
    allow_extra_keys=True,
)

JobRequestSchema = fields.Dictionary(
    {
        "control": ControlHeaderSchema,
        "context": ContextHeaderSchema,
        "actions": fields.List(ActionRequestSchema, min_length=1),
    },
)
