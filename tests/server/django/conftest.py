"""Django, configured once for these tests: SQLite databases and servicewire's caches."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def django_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        directory: Path = tmp_path_factory.mktemp("django")
        settings.configure(
            DATABASES={
                # CONN_MAX_AGE 0 (Django's default): a connection lasts one job.
                "default": {
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": str(directory / "default.sqlite3"),
                },
                "persistent": {
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": str(directory / "persistent.sqlite3"),
                    "CONN_MAX_AGE": None,
                },
            },
            CACHES={
                "default": {
                    "BACKEND": "servicewire.server.django.cache.ProcessScopedMemoryCache",
                    "LOCATION": "process",
                },
                "request": {
                    "BACKEND": "servicewire.server.django.cache.RequestScopedMemoryCache",
                    "LOCATION": "request",
                },
            },
            USE_TZ=True,
        )
        django.setup()
