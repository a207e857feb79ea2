"""Conformity's ``conformity.fields``: every field PySOA services declare schemas with.

``from servicewire.compat.conformity import fields`` then ``fields.Dictionary({...})``, as
with Conformity. Each field is a pydantic type (see :mod:`.base`).
"""

from servicewire.compat.conformity.fields.base import AdditionalValidator, Base
from servicewire.compat.conformity.fields.basic import (
    Anything,
    Boolean,
    ByteString,
    Constant,
    Decimal,
    Float,
    Hashable,
    Integer,
    UnicodeDecimal,
    UnicodeString,
)
from servicewire.compat.conformity.fields.geo import Latitude, Longitude
from servicewire.compat.conformity.fields.meta import (
    All,
    Any,
    BooleanValidator,
    ClassConfigurationSchema,
    Deprecated,
    Null,
    Nullable,
    ObjectInstance,
    Polymorph,
    TypeReference,
)
from servicewire.compat.conformity.fields.net import (
    EmailAddress,
    IPAddress,
    IPv4Address,
    IPv6Address,
)
from servicewire.compat.conformity.fields.structures import (
    Dictionary,
    List,
    SchemalessDictionary,
    Sequence,
    Set,
    Tuple,
)
from servicewire.compat.conformity.fields.temporal import (
    Date,
    DateTime,
    Time,
    TimeDelta,
    TZInfo,
)

AdditionalCollectionValidator = AdditionalValidator
"""Conformity's name of the protocol of a ``Dictionary``'s or ``List``'s
``additional_validator``: an object whose ``errors(value)`` returns ``Error`` objects."""

__all__ = [
    "AdditionalCollectionValidator",
    "All",
    "Any",
    "Anything",
    "Base",
    "Boolean",
    "BooleanValidator",
    "ByteString",
    "ClassConfigurationSchema",
    "Constant",
    "Date",
    "DateTime",
    "Decimal",
    "Deprecated",
    "Dictionary",
    "EmailAddress",
    "Float",
    "Hashable",
    "IPAddress",
    "IPv4Address",
    "IPv6Address",
    "Integer",
    "Latitude",
    "List",
    "Longitude",
    "Null",
    "Nullable",
    "ObjectInstance",
    "Polymorph",
    "SchemalessDictionary",
    "Sequence",
    "Set",
    "TZInfo",
    "Time",
    "TimeDelta",
    "Tuple",
    "TypeReference",
    "UnicodeDecimal",
    "UnicodeString",
]
