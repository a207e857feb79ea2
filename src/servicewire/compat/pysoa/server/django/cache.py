"""PySOA's ``pysoa.server.django.cache`` (needs ``servicewire[django]``).

PySOA's Memcached caches (``PySOAMemcachedCache``, ``PySOAPyLibMCCache``) are not provided:
Django 4.1 removed the ``python-memcached`` backend they extend, and servicewire's Django
servers close caches after each job through ``cache.close()``, which Django's own
``PyMemcacheCache`` and ``PyLibMCCache`` already implement; see the migration guide.
"""

from servicewire.server.django.cache import (
    PySOAProcessScopedMemoryCache,
    PySOARequestScopedMemoryCache,
)

__all__ = ["PySOAProcessScopedMemoryCache", "PySOARequestScopedMemoryCache"]
