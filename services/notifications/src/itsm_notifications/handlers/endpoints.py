"""Endpoints (admins, through the gateway): create, change, remove; and how each receiver fares."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict
from itsm_kit.errors import found
from itsm_kit.records import AggregateRepository, remove, revise
from itsm_kit.unit_of_work import UnitOfWork
from itsm_notifications.domain.endpoints import Endpoint
from itsm_notifications.store.deliveries import DeliveryStore
from itsm_notifications.store.endpoints import EndpointRepository

SECRET_BYTES = 24


async def _name_free(repo: AggregateRepository[Endpoint], endpoint: Endpoint) -> None:
    other = await repo.find(name=endpoint.name)
    if other is not None and other.id != endpoint.id:
        raise Conflict(f"an endpoint named {endpoint.name!r} exists already", endpoint_id=other.id)


async def list_endpoints(uow: UnitOfWork) -> list[Endpoint]:
    async with uow:
        return await EndpointRepository(uow.session).all()


async def get_endpoint(uow: UnitOfWork, endpoint_id: str) -> Endpoint:
    async with uow:
        return found(await EndpointRepository(uow.session).get(endpoint_id), "endpoint", endpoint_id)


async def create_endpoint(uow: UnitOfWork, **fields: Any) -> tuple[Endpoint, str | None]:
    """The endpoint, and the signing secret made for it when a webhook came without one (shown once)."""
    async with uow:
        endpoint, made = Endpoint.create(id=str(uuid.uuid4()), at=utcnow(), new_key=secrets.token_bytes(SECRET_BYTES),
                                         **fields)
        repo = EndpointRepository(uow.session)
        await _name_free(repo, endpoint)
        await repo.add(endpoint)
        await uow.commit()
    return endpoint, made


async def update_endpoint(uow: UnitOfWork, endpoint_id: str, changes: dict[str, Any], *,
                          if_match: int | None = None) -> Endpoint:
    url_before: list[str] = []

    def change(endpoint: Endpoint) -> None:
        url_before.append(endpoint.url)
        endpoint.update(changes, utcnow())

    async def before_save(repo: EndpointRepository, endpoint: Endpoint) -> None:
        await _name_free(repo, endpoint)
        if endpoint.url != url_before[0]:  # another receiver: the old one's failures say nothing of it
            await DeliveryStore(repo.session).forget_breaker(endpoint.id)

    return await revise(uow, EndpointRepository, endpoint_id, if_match, change, before_save=before_save)


async def delete_endpoint(uow: UnitOfWork, endpoint_id: str, *, if_match: int | None = None) -> None:
    """Its deliveries stay in the log; those still pending die at their next attempt (no receiver left)."""
    await remove(uow, EndpointRepository, endpoint_id, if_match)


async def endpoint_health(uow: UnitOfWork, endpoint_id: str) -> dict[str, Any]:
    async with uow:
        repo = EndpointRepository(uow.session)
        found(await repo.get(endpoint_id), "endpoint", endpoint_id)
        breaker = await DeliveryStore(uow.session).breaker(endpoint_id)
        pending, dead = await repo.waiting(endpoint_id)
    return {"endpoint_id": endpoint_id, "breaker": breaker.state, "failures": breaker.failures,
            "opened_count": breaker.opened_count, "retry_at": breaker.retry_at, "pending": pending, "dead": dead}
