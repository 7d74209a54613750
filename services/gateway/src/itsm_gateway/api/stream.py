"""Live updates over Server-Sent Events (the feed and its rules: itsm_gateway.stream)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from itsm_kit.errors import Problem
from itsm_kit.runtime import RuntimeDep
from itsm_gateway import stream
from itsm_gateway.auth import RequesterUser, RoleRoute, works

router = APIRouter(tags=["stream"], route_class=RoleRoute)

MAX_IDS = 100
RecordType = stream.RecordType
RecordId = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]

DESCRIPTION = f"""\
Server-Sent Events of the records' changes, as the services publish them: incidents, problems, changes and SLA
timers. Each event's data is JSON: `type` (e.g. `itsm.incident.commented`), `record_type`, `subject` (the record's
id), `time`, `sequence` (the record's version) and `data` (the event's fields).

- Filters: `type` (repeatable: incident, problem, change, sla_timer) and `id` (repeatable, at most {MAX_IDS}: a
  record's id; for SLA timers also their incident's id).
- Heartbeats: comment lines every ITSM_GATEWAY_STREAM_HEARTBEAT_SECONDS; an id-only message moves the client's
  position past events it was not shown.
- Resuming: send the last event's id as `Last-Event-ID` (EventSource does) with the same filters: every event
  since then is sent, once and in order, then the live ones. Where those events are no longer kept (the topics'
  retention, or more than ITSM_GATEWAY_STREAM_REPLAY_MAX_EVENTS of them) an `event: reset` says so: fetch the
  records again, then follow the stream. `event: reconnect` (a client too slow for its buffer, a gateway shutting
  down) asks the client to reconnect with that event's id.
- A requester sees only the events of incidents they are the caller of, and no work notes."""


@router.get("/stream", response_class=EventSourceResponse, summary="Follow the records' changes live (SSE)",
            description=DESCRIPTION,
            responses={200: {"description": "an endless stream of events",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def stream_events(runtime: RuntimeDep, user: RequesterUser,
                        record_types: Annotated[list[RecordType] | None, Query(alias="type", max_length=4)] = None,
                        ids: Annotated[list[RecordId] | None, Query(alias="id", max_length=MAX_IDS)] = None,
                        last_event_id: Annotated[str | None, Header(description="the id of the last event received: "
                                                                                "the stream resumes after it")] = None,
                        ) -> EventSourceResponse:
    try:
        since = stream.decode_position(last_event_id) if last_event_id is not None else None
    except stream.BadPosition as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    feed: stream.Feed = runtime.extras[stream.FEED]
    try:
        sub = feed.subscribe(user.id)
    except stream.Busy as exc:
        problem = Problem(exc.status, "Too Many Requests" if exc.status == 429 else "Service Unavailable", exc.detail)
        problem.headers["Retry-After"] = "5"
        raise problem from exc
    settings = runtime.settings
    client = stream.Client(user.id, works(user), stream.Filter(frozenset(record_types) if record_types else None,
                                                               frozenset(ids) if ids else None), feed.callers)
    return EventSourceResponse(stream.events(feed, sub, client, since, settings.stream_heartbeat_seconds),
                               ping=settings.stream_heartbeat_seconds,
                               send_timeout=settings.stream_send_timeout_seconds,
                               headers={"cache-control": "no-store", "x-accel-buffering": "no"},
                               background=BackgroundTask(release, feed, sub))


async def release(feed: stream.Feed, sub: stream.Subscription) -> None:
    """Also when the stream never started (a client gone at once), its place is given back."""
    feed.unsubscribe(sub)
