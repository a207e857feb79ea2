"""A Django settings module for starting a service with ``django_main``."""

SECRET_KEY = "tests-only"
DATABASES: dict[str, dict[str, str]] = {}
MARKER = "servicewire test settings"
SOA_SERVER_SETTINGS: dict[str, object] = {}
