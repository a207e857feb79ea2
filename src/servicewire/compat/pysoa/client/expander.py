"""PySOA's ``pysoa.client.expander``."""

from servicewire.client.expander import ExpansionSettings

__all__ = ["ExpansionSettings"]
