"""Every domain event's data model, registered by CloudEvents type and version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict

from itsm_contracts.envelope import CloudEvent


class EventData(BaseModel):
    """The `data` of one event type at one version.

    Published versions only grow: new fields are optional, nothing is removed or
    retyped (tests/test_compatibility.py enforces it against schemas/).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: ClassVar[str]
    version: ClassVar[int] = 1
    topic: ClassVar[str]

    @classmethod
    def schema_name(cls) -> str:
        return f"{cls.type}.v{cls.version}"

    @classmethod
    def dataschema(cls) -> str:
        return f"urn:itsm:schema:{cls.schema_name()}"


REGISTRY: dict[str, type[EventData]] = {}


def register(model: type[EventData]) -> type[EventData]:
    REGISTRY[model.dataschema()] = model
    return model


class UnknownEventType(LookupError):
    pass


def envelope(
    data: EventData,
    *,
    source: str,
    subject: str,
    sequence: int = 0,
    time: datetime | None = None,
    correlationid: str | None = None,
    causationid: str | None = None,
) -> CloudEvent:
    extra: dict[str, Any] = {"time": time} if time else {}
    return CloudEvent(
        source=source,
        type=data.type,
        subject=subject,
        dataschema=data.dataschema(),
        sequence=sequence,
        correlationid=correlationid,
        causationid=causationid,
        data=data.model_dump(mode="json"),
        **extra,
    )


_DATASCHEMAS: dict[type[EventData], str] = {}


def event_json(data: EventData, *, source: str, subject: str, sequence: int = 0, time: datetime | None = None,
               correlationid: str | None = None, causationid: str | None = None, event_id: str | None = None) -> bytes:
    """The bytes `envelope(...).to_json()` gives, written directly: what a producer of many events (an outbox, the
    gateway's alerts) sends. Skipping the validation and dump of an envelope we build ourselves makes an alert's event
    23 -> 8.7 us (in process)."""
    if (schema := _DATASCHEMAS.get(type(data))) is None:
        schema = _DATASCHEMAS[type(data)] = data.dataschema()
    body: dict[str, Any] = {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": source,
                            "type": data.type, "subject": subject, "time": time or datetime.now(UTC),
                            "datacontenttype": "application/json", "dataschema": schema, "sequence": sequence}
    if correlationid is not None:
        body["correlationid"] = correlationid
    if causationid is not None:
        body["causationid"] = causationid
    body["data"] = orjson.Fragment(data.__pydantic_serializer__.to_json(data))
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


def parse_data(event: CloudEvent) -> EventData:
    """The typed data of an event; raises UnknownEventType for types nobody registered."""
    model = REGISTRY.get(event.dataschema)
    if model is None:
        raise UnknownEventType(f"no contract for {event.type} ({event.dataschema})")
    return model.model_validate(event.data)
