"""PySOA's ``pysoa.client``: the client package."""

__all__: list[str] = []
