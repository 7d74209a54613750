"""Work-order templates (issue 17): their repository."""

from __future__ import annotations

from sqlalchemy import select

from itsm_kit.records import AggregateRepository
from itsm_requests.domain.work_orders import RecordType, WorkOrderTemplate
from itsm_requests.store.tables import work_order_templates


class WorkOrderTemplateRepository(AggregateRepository[WorkOrderTemplate]):
    table, aggregate, noun = work_order_templates, WorkOrderTemplate, "work-order template"
    choices = {"record_type": RecordType}

    async def all(self, *, record_type: str | None = None, active: bool | None = None) -> list[WorkOrderTemplate]:
        """By name (an admin keeps a few dozen: no pages)."""
        query = select(work_order_templates).order_by(work_order_templates.c.name)
        if record_type is not None:
            query = query.where(work_order_templates.c.record_type == record_type)
        if active is not None:
            query = query.where(work_order_templates.c.active == active)
        return [self.load(r) for r in (await self.session.execute(query)).all()]

    async def named(self, ref: str) -> WorkOrderTemplate | None:
        """The template with this id, else the one with this name."""
        return await self.get(ref) or await self.find(name=ref)
