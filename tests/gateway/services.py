"""The services behind the gateway in its tests, run as real server processes.

``shop`` has typed actions (one with nested models, whose schemas have ``$defs``), an
action that fails as the caller's fault, one that fails as its own, a slow one, one that
shows what it received, and one that the tests never expose. ``vault`` is the same service
under another name, answering only signed requests.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from servicewire import (
    Action,
    ActionError,
    AllowSignedRequests,
    EnrichedActionRequest,
    Error,
    Server,
)
from servicewire.types import Body

SIGNING_KEY_ID = "gateway-2026"
SIGNING_SECRET = "a secret of the gateway and its services"


class LineItem(BaseModel):
    """One product and how many of it."""

    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class Order(BaseModel):
    """What a customer orders."""

    customer: str
    items: list[LineItem] = Field(min_length=1)


class Quote(BaseModel):
    units: int
    lines: list[LineItem]


class PriceOrder(Action):
    """Counts the units of an order.

    Each line item names a product and its quantity."""

    request_schema = Order
    response_schema = Quote

    def run(self, request: EnrichedActionRequest) -> Body:
        items = request.body["items"]
        return {"units": sum(item["quantity"] for item in items), "lines": items}


class Operands(BaseModel):
    dividend: float
    divisor: float


class Divide(Action):
    """Divides the dividend by the divisor."""

    request_schema = Operands

    def run(self, request: EnrichedActionRequest) -> Body:
        if request.body["divisor"] == 0:
            raise ActionError([Error("DIVISION_BY_ZERO", "divisor must not be 0", "divisor")])
        return {"quotient": request.body["dividend"] / request.body["divisor"]}


class Crash(Action):
    """Fails with an exception: the service's own fault."""

    def run(self, request: EnrichedActionRequest) -> Body:
        raise RuntimeError("the crash action crashed")


class Nap(Action):
    """Sleeps for the seconds asked before answering."""

    def run(self, request: EnrichedActionRequest) -> Body:
        time.sleep(float(request.body.get("seconds", 0)))
        return {"slept": request.body.get("seconds", 0)}


class Inspect(Action):
    """Answers with the body, switches and context it received."""

    def run(self, request: EnrichedActionRequest) -> Body:
        return {
            "body": request.body,
            "switches": sorted(request.switches),
            "context": {
                key: value
                for key, value in request.context.items()
                if key in ("correlation_id", "caller", "request_signature", "tenant")
            },
        }


class Secret(Action):
    """Never exposed by the tests' gateways."""

    def run(self, request: EnrichedActionRequest) -> Body:
        return {"secret": 42}


class Shop(Server):
    """A small shop: orders, arithmetic and actions that misbehave on purpose."""

    service_name = "shop"
    action_class_map: ClassVar[dict[str, Any]] = {
        "price_order": PriceOrder,
        "divide": Divide,
        "crash": Crash,
        "nap": Nap,
        "inspect": Inspect,
        "secret": Secret,
    }


class Vault(Shop):
    """The shop's actions, for signed requests only."""

    service_name = "vault"
    default_policy = AllowSignedRequests()
