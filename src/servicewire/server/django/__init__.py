"""Running a Django-backed service: per-job database and cache housekeeping, cache backends
scoped to a job or to the server process, and :func:`django_main`.

Import this package only in services that use Django (``pip install servicewire[django]``).
"""

from servicewire.server.django.cache import (
    PersistentMemcacheCache,
    ProcessScopedMemoryCache,
    PySOAMemcachedCache,
    PySOAProcessScopedMemoryCache,
    PySOARequestScopedMemoryCache,
    RequestScopedMemoryCache,
)
from servicewire.server.django.main import django_main
from servicewire.server.django.server import DjangoServer, with_django_hooks

__all__ = [
    "DjangoServer",
    "PersistentMemcacheCache",
    "ProcessScopedMemoryCache",
    "PySOAMemcachedCache",
    "PySOAProcessScopedMemoryCache",
    "PySOARequestScopedMemoryCache",
    "RequestScopedMemoryCache",
    "django_main",
    "with_django_hooks",
]
