from cache_service.server import CacheServer
from pysoa.test.server import PyTestServerTestCase


class TestCacheService(PyTestServerTestCase):
    server_class = CacheServer

    def test_django_settings_and_caches(self):
        first = self.call_action("count", {"key": "k"}).body
        second = self.call_action("count", {"key": "k"}).body
        self.assertEqual(first, {"in_request": 1, "in_process": 1})
        # The request-scoped cache is emptied after each job; the process-scoped one is not.
        self.assertEqual(second, {"in_request": 1, "in_process": 2})
