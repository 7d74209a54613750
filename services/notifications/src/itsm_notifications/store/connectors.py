"""Connectors' rows: external links (our record <-> the tool's) and the inbound deliveries already taken (issue 16,
connectors helper)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.clock import utcnow
from itsm_kit.records import columns_of
from itsm_kit.unit_of_work import Contended
from itsm_notifications.domain.connectors import ExternalLink
from itsm_notifications.store.tables import connector_receipts, external_links

LINK_FIELDS = ("endpoint_id", "record_type", "record_id", "connector", "external_key", "external_id",
               "external_state", "url", "version")


def _link(row: Any) -> ExternalLink:
    return ExternalLink(**columns_of(row, LINK_FIELDS))


class ConnectorRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def link(self, endpoint_id: str, record_type: str, record_id: str, *,
                   for_update: bool = False) -> ExternalLink | None:
        query = select(external_links).where(external_links.c.endpoint_id == endpoint_id,
                                             external_links.c.record_type == record_type,
                                             external_links.c.record_id == record_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        return _link(row) if row else None

    async def find(self, endpoint_id: str, *, external_id: str | None = None, external_key: str | None = None,
                   record_id: str | None = None) -> ExternalLink | None:
        """The link a tool's webhook names: by its id of the record, the key we sent it, or (Jira's label) our id.
        Locked: two deliveries for one link take turns."""
        names = [c for c in (external_links.c.external_id == external_id if external_id else None,
                             external_links.c.external_key == external_key if external_key else None,
                             external_links.c.record_id == record_id if record_id else None) if c is not None]
        if not names:
            return None
        query = (select(external_links).where(and_(external_links.c.endpoint_id == endpoint_id, or_(*names)))
                 .order_by(external_links.c.created_at).limit(1).with_for_update())
        row = (await self.session.execute(query)).first()
        return _link(row) if row else None

    async def add(self, link: ExternalLink) -> None:
        """A new link; one made meanwhile by another writer is a clash (retried, or the consumer's event again)."""
        now = utcnow()
        values = {name: getattr(link, name) for name in LINK_FIELDS}
        inserted = await self.session.execute(
            insert(external_links).values(**values, created_at=now, updated_at=now).on_conflict_do_nothing()
            .returning(external_links.c.record_id))
        if inserted.first() is None:
            raise Contended(f"external link {link.id} was made meanwhile")

    async def save(self, link: ExternalLink, loaded_version: int) -> None:
        values = {name: getattr(link, name) for name in LINK_FIELDS if name not in ("endpoint_id", "record_type",
                                                                                      "record_id", "connector")}
        changed = await self.session.execute(
            update(external_links).where(external_links.c.endpoint_id == link.endpoint_id,
                                         external_links.c.record_type == link.record_type,
                                         external_links.c.record_id == link.record_id,
                                         external_links.c.version == loaded_version)
            .values(**values, updated_at=utcnow()).returning(external_links.c.record_id))
        if changed.first() is None:
            raise Contended(f"external link {link.id} changed meanwhile")

    async def set_external(self, endpoint_id: str, record_type: str, record_id: str, *, external_id: str,
                           url: str | None) -> None:
        """The tool's id of the record (a Jira issue key), once it answered with one."""
        await self.session.execute(
            update(external_links).where(external_links.c.endpoint_id == endpoint_id,
                                         external_links.c.record_type == record_type,
                                         external_links.c.record_id == record_id)
            .values(external_id=external_id, url=url or external_links.c.url, updated_at=utcnow()))

    async def first_receipt(self, endpoint_id: str, event_id: str) -> bool:
        """Record an inbound delivery; False when it was taken before (a tool's retry)."""
        inserted = await self.session.execute(
            insert(connector_receipts).values(endpoint_id=endpoint_id, event_id=event_id, received_at=utcnow())
            .on_conflict_do_nothing().returning(connector_receipts.c.event_id))
        return inserted.first() is not None
