"""Moving code from PySOA and Conformity to servicewire.

- :mod:`servicewire.compat.pysoa`: PySOA 1.4.9's import paths (``pysoa.client.client``,
  ``pysoa.server.action``, ...), each re-exporting servicewire's classes under PySOA's names,
  so that rewriting ``pysoa`` to ``servicewire.compat.pysoa`` in imports and settings paths
  moves a PySOA codebase. Importing it issues one :class:`PySOAMigrationWarning`.
- :mod:`servicewire.compat.conformity`: the Conformity field API PySOA services declare their
  schemas with, validated by servicewire's own (pydantic) validation.
"""

from __future__ import annotations

__all__ = ["PySOAMigrationWarning"]


class PySOAMigrationWarning(DeprecationWarning):
    """Code imports PySOA's names from :mod:`servicewire.compat.pysoa`.

    They are there for the migration: they keep working, but new code should import from
    ``servicewire`` itself. Like every ``DeprecationWarning`` it is shown under pytest and
    with ``python -W default``, and hidden otherwise; silence it with
    ``warnings.filterwarnings("ignore", category=PySOAMigrationWarning)``.
    """
