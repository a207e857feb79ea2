"""What the tests of the delivery modes share: a delivery context on a test's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from servicewire.transport.sql.database import database_for
from servicewire.transport.sql.delivery import Delivery, DeliveryContext
from servicewire.transport.sql.lease import LeaseKeeper
from servicewire.transport.sql.replies import Replies
from servicewire.transport.sql.settings import SqlServerTransportSettings
from servicewire.transport.sql.work_queue import WorkQueue
from tests.support.metrics import RecordingMetrics
from tests.transport.sql.conftest import SqlDatabase

SERVICE = "recorder"
WORKER = "test-host:1:1:worker"

D = TypeVar("D", bound=Delivery)

JOB: dict[str, Any] = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "c1", "switches": []},
    "actions": [{"action": "echo", "body": {"x": 1}}],
}


def server_settings(database: SqlDatabase, **settings: Any) -> SqlServerTransportSettings:
    return SqlServerTransportSettings.from_kwargs("a test", database.kwargs(**settings))


@contextmanager
def delivery_context(
    settings: SqlServerTransportSettings, metrics: RecordingMetrics | None = None
) -> Iterator[DeliveryContext]:
    """What a transport on ``settings`` gives its delivery once it opens (the lease keeper
    closed at the end)."""
    database = database_for(settings)
    replies = Replies(database)
    lease_keeper = LeaseKeeper(settings.visibility_timeout_in_seconds / 3, "the test's server")
    try:
        yield DeliveryContext(
            service=SERVICE,
            settings=settings,
            database=database,
            worker_id=WORKER,
            description="the test's server",
            metrics=metrics or RecordingMetrics(),
            metric_tags={"service": SERVICE},
            lease_keeper=lease_keeper,
            queue=WorkQueue(database, SERVICE, replies),
            replies=replies,
        )
    finally:
        lease_keeper.close()


@contextmanager
def opened(
    delivery_class: Callable[[SqlServerTransportSettings], D],
    settings: SqlServerTransportSettings,
    metrics: RecordingMetrics | None = None,
) -> Iterator[D]:
    """A delivery of ``delivery_class`` on ``settings``, opened as its transport opens it."""
    delivery = delivery_class(settings)
    with delivery_context(settings, metrics) as context:
        delivery.open(context)
        yield delivery
