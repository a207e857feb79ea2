"""Conformity's field API, for services moving from PySOA with their schemas.

PySOA actions declare ``request_schema = fields.Dictionary({...})`` with Conformity. The
same declarations work in servicewire with ``from servicewire.compat.conformity import
fields``: each field builds a pydantic core schema, so an action's request and response are
validated by servicewire's own validation (strict, with the wire codes ``MISSING``,
``UNKNOWN`` and ``INVALID`` Conformity gives and dotted field paths), and ``introspect``
publishes their JSON Schema. A field's ``errors(value)`` returns Conformity-style
:class:`~servicewire.compat.conformity.error.Error` objects, for code that calls it itself.

``servicewire migrate-schemas`` rewrites these declarations into pydantic models, for teams
that want to leave Conformity behind.
"""

from servicewire.compat.conformity import fields
from servicewire.compat.conformity.error import Error, ValidationError
from servicewire.compat.conformity.validator import validate

__all__ = ["Error", "ValidationError", "fields", "validate"]
