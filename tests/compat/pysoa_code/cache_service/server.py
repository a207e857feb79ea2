from conformity import fields
from django.core.cache import caches
from pysoa.server.action import Action
from pysoa.server.server import Server


class CountAction(Action):
    """Count calls in a request-scoped and a process-scoped cache."""

    request_schema = fields.Dictionary({"key": fields.UnicodeString()})
    response_schema = fields.Dictionary(
        {"in_request": fields.Integer(), "in_process": fields.Integer()}
    )

    def run(self, request):
        key = request.body["key"]
        counts = {}
        for alias, name in (("default", "in_request"), ("process", "in_process")):
            cache = caches[alias]
            cache.add(key, 0)
            counts[name] = cache.incr(key)
        return counts


class CacheServer(Server):
    service_name = "cache"
    use_django = True
    action_class_map = {"count": CountAction}
