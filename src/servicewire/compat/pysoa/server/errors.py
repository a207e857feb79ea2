"""PySOA's ``pysoa.server.errors``."""

from servicewire.errors import (
    ActionError,
    JobError,
    PySOAServerError,
    ResponseValidationError,
)

__all__ = ["ActionError", "JobError", "PySOAServerError", "ResponseValidationError"]
