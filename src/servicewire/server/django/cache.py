"""Django cache backends whose lifetime is one job or the whole server process.

Configure them in Django's ``CACHES`` setting::

    CACHES = {
        "default": {"BACKEND": "servicewire.server.django.cache.ProcessScopedMemoryCache"},
        "request": {"BACKEND": "servicewire.server.django.cache.RequestScopedMemoryCache"},
    }

A :class:`~servicewire.server.django.DjangoServer` closes every cache in use after each job
(``close()``) and at shutdown (``close(for_shutdown=True)``); these backends decide what
closing means for them. :class:`PersistentMemcacheCache` is Django's Memcached backend
(``pymemcache``, ``pip install servicewire[memcached]``) keeping its connections between
jobs, where Django's own reconnects for every job.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.memcached import PyMemcacheCache

__all__ = [
    "PersistentMemcacheCache",
    "ProcessScopedMemoryCache",
    "PySOAMemcachedCache",
    "PySOAProcessScopedMemoryCache",
    "PySOARequestScopedMemoryCache",
    "RequestScopedMemoryCache",
]


class RequestScopedMemoryCache(LocMemCache):  # type: ignore[misc]
    """An in-memory cache that lasts one job: it is emptied when the job ends.

    Each thread has its own store (Django builds one cache object per thread), so jobs
    handled at the same time by different threads never see each other's entries.
    """

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        super().__init__(name, params)
        # Django's local-memory cache shares one store per LOCATION across the process;
        # this one must not outlive, or leak into, other jobs.
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._expire_info: dict[str, Any] = {}
        self._lock = threading.Lock()

    def close(self, **kwargs: Any) -> None:
        """Called after each job (and at shutdown): forget everything."""
        self.clear()


class ProcessScopedMemoryCache(LocMemCache):  # type: ignore[misc]
    """An in-memory cache that lasts as long as the server process (shared by its
    threads): closing it after a job keeps its entries; only shutdown empties it."""

    def close(self, **kwargs: Any) -> None:
        if kwargs.get("for_shutdown"):
            self.clear()


class PersistentMemcacheCache(PyMemcacheCache):  # type: ignore[misc]
    """Django's ``PyMemcacheCache``, whose connections to Memcached last until shutdown:
    closing it after a job keeps them open (a server sends every job's cache calls down
    the same sockets); only ``close(for_shutdown=True)`` disconnects."""

    def close(self, **kwargs: Any) -> None:
        if kwargs.get("for_shutdown"):
            super().close(**kwargs)


PySOAMemcachedCache = PersistentMemcacheCache
"""The PySOA name of :class:`PersistentMemcacheCache`. PySOA's extended the
``python-memcached`` backend Django 4.1 removed; this one speaks to the same servers,
``LOCATION`` and options through ``pymemcache``."""
PySOARequestScopedMemoryCache = RequestScopedMemoryCache
"""The PySOA name of :class:`RequestScopedMemoryCache`, for existing ``CACHES`` settings."""
PySOAProcessScopedMemoryCache = ProcessScopedMemoryCache
"""The PySOA name of :class:`ProcessScopedMemoryCache`, for existing ``CACHES`` settings."""
