"""Endpoints, and what waits for each."""

from __future__ import annotations

from sqlalchemy import func, select

from itsm_kit.records import AggregateRepository
from itsm_notifications.domain.deliveries import DEAD, PENDING, SENDING
from itsm_notifications.domain.endpoints import Endpoint, EndpointKind
from itsm_notifications.store.tables import deliveries, endpoints


class EndpointRepository(AggregateRepository[Endpoint]):
    table, aggregate, noun = endpoints, Endpoint, "endpoint"
    choices = {"kind": EndpointKind}

    async def all(self) -> list[Endpoint]:
        query = select(endpoints).order_by(endpoints.c.name)
        return [self.load(r) for r in (await self.session.execute(query)).all()]

    async def waiting(self, endpoint_id: str) -> tuple[int, int]:
        """(pending or sending, dead) deliveries of the endpoint."""
        query = (select(deliveries.c.state, func.count()).where(deliveries.c.endpoint_id == endpoint_id,
                                                                 deliveries.c.state.in_([PENDING, SENDING, DEAD]))
                 .group_by(deliveries.c.state))
        counts = dict((await self.session.execute(query)).all())
        return counts.get(PENDING, 0) + counts.get(SENDING, 0), counts.get(DEAD, 0)
