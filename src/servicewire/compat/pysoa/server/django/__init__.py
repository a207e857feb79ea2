"""PySOA's ``pysoa.server.django`` (needs ``servicewire[django]``)."""

__all__: list[str] = []
