SECRET_KEY = "not a secret: tests only"
INSTALLED_APPS = []
DATABASES = {}
USE_TZ = True

CACHES = {
    "default": {"BACKEND": "pysoa.server.django.cache.PySOARequestScopedMemoryCache"},
    "process": {"BACKEND": "pysoa.server.django.cache.PySOAProcessScopedMemoryCache"},
}

SOA_SERVER_SETTINGS = {
    "transport": {"path": "pysoa.common.transport.local:LocalServerTransport"},
    "middleware": [],
}
