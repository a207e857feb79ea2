"""Actions imported lazily by the activation tests (importing this module is counted)."""

from __future__ import annotations

from servicewire import Action, AllowCallingServices, EnrichedActionRequest, SerializedInvoker
from servicewire.types import Body
from tests.server import lazy_support

lazy_support.imports += 1
lazy_support.importing.set()
if not lazy_support.release.wait(15):
    raise RuntimeError("the test never released the import")


class Report(Action):
    """Builds a report."""

    request_schema = None

    def run(self, request: EnrichedActionRequest) -> Body:
        return {"report": request.body.get("name", "monthly")}


class BillingReport(Report):
    """A report only billing may ask for, one at a time."""

    policy = AllowCallingServices({"billing"})
    invoker = SerializedInvoker()
