"""Wiring of the knowledge service."""

from __future__ import annotations

from fastapi import FastAPI

from itsm_contracts import topics
from itsm_kit.runtime import create_service_app
from itsm_knowledge import consumers
from itsm_knowledge.api import ROUTERS
from itsm_knowledge.settings import KnowledgeSettings
from itsm_knowledge.store.timeline import write_timeline


def create_app(settings: KnowledgeSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or KnowledgeSettings(),
        title="ITSM knowledge",
        description="Knowledge articles and their versions (Draft, Review, Published, Retired), who may read them, "
                    "feedback and review dates; known errors drafted as articles; suggestions for an incident or "
                    "request from its text, CI and category.",
        routers=ROUTERS,
        publishes=[topics.KNOWLEDGE],
        consumes=consumers.CONSUMES,
        handlers=consumers.event_handlers,
        hooks=[],
        timeline=write_timeline,
    )
