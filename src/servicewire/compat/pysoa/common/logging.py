"""PySOA's ``pysoa.common.logging``."""

from servicewire.logging import (
    PySOALogContextFilter,
    RecursivelyCensoredDictWrapper,
    SyslogHandler,
)

__all__ = ["PySOALogContextFilter", "RecursivelyCensoredDictWrapper", "SyslogHandler"]
