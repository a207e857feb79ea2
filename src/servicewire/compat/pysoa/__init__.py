"""PySOA 1.4.9's public modules, for code moving from PySOA to servicewire.

Every module PySOA documents is here under the same path below ``servicewire.compat.pysoa``
(``servicewire.compat.pysoa.server.action``, ``...common.transport.redis_gateway.client``,
...) and exports the same names, each bound to servicewire's own class or function: there is
no second implementation. So ``sed 's/\\bpysoa\\b/servicewire.compat.pysoa/'`` over a code
base's imports and the ``path`` values of its settings moves it to servicewire; see
``docs/migrating-from-pysoa.md`` for what still differs.

Importing this package warns once, with
:class:`~servicewire.compat.PySOAMigrationWarning`, that the names are there for migration.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType

from servicewire.compat import PySOAMigrationWarning

__all__: list[str] = []


def _importer_stack_level() -> int:
    """The ``stacklevel`` of the first frame outside the import machinery and this package,
    so that the warning names the module that imported PySOA's names. (``warnings`` does
    not count the import machinery's frames.)"""
    level = 1
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if "importlib" in filename and "_bootstrap" in filename:
            frame = frame.f_back
            continue
        if not frame.f_globals.get("__name__", "").startswith(__name__):
            return level + 1
        level, frame = level + 1, frame.f_back
    return level


warnings.warn(
    "servicewire.compat.pysoa provides PySOA's names for migration; import them from "
    "servicewire instead (see docs/migrating-from-pysoa.md)",
    PySOAMigrationWarning,
    stacklevel=_importer_stack_level(),
)
