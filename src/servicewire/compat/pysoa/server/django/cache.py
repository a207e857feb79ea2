"""PySOA's ``pysoa.server.django.cache`` (needs ``servicewire[django]``; the Memcached cache
needs ``servicewire[memcached]`` too).

``PySOAMemcachedCache`` is servicewire's ``PersistentMemcacheCache``: Django's ``pymemcache``
backend, keeping its connections between jobs as PySOA's did (PySOA's extended the
``python-memcached`` backend Django 4.1 removed). ``PySOAPyLibMCCache`` is not provided; see
the migration guide.
"""

from servicewire.server.django.cache import (
    PySOAMemcachedCache,
    PySOAProcessScopedMemoryCache,
    PySOARequestScopedMemoryCache,
)

__all__ = ["PySOAMemcachedCache", "PySOAProcessScopedMemoryCache", "PySOARequestScopedMemoryCache"]
