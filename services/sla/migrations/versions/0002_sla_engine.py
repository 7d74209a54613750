"""SLA engine: versioned definitions (default set seeded) and calendars, incident history, CIs,
timers with segments and alarms

Revision ID: 0002

Timers from 0001 become timers of the seeded default definitions (same targets), each with
one running segment; their incidents get a baseline history reconstructed from them (an
opening, and the state their stops imply), so later events and repairs replay consistently.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"

LABELS = {1: "Critical", 2: "High", 3: "Moderate", 4: "Low", 5: "Planning"}
TARGETS = {  # the per-priority 24x7 targets of 0001, in ISO 8601
    1: {"response": "PT15M", "resolution": "PT4H"},
    2: {"response": "PT1H", "resolution": "PT8H"},
    3: {"response": "PT4H", "resolution": "P1D"},
    4: {"response": "PT8H", "resolution": "P3D"},
    5: {"response": "P1D", "resolution": "P7D"},
}
SECONDS = {"PT15M": 900, "PT1H": 3600, "PT4H": 14400, "PT8H": 28800, "P1D": 86400, "P3D": 259200, "P7D": 604800}
OPEN = ["in_progress", "new", "on_hold"]
CONDITIONS = {
    "response": {"start_states": OPEN, "pause_states": ["on_hold"],
                 "stop_states": ["closed", "in_progress", "on_hold", "resolved"], "stop_on_assignment": True,
                 "on_reopen": "none", "reset_on_reassignment": False, "retroactive_start": True},
    "resolution": {"start_states": OPEN, "pause_states": ["on_hold"], "stop_states": ["closed", "resolved"],
                   "stop_on_assignment": False, "on_reopen": "resume", "reset_on_reassignment": False,
                   "retroactive_start": True},
}
TIMER_IDS = uuid.UUID("6f1f3f0e-5a4b-4c1e-9d0a-1b7c2e3d4f50")  # itsm_sla.domain.timers._IDS


def default_body(priority: int) -> dict:
    return {
        "name": f"P{priority} {LABELS[priority]}", "description": "", "active": True,
        "applies_to": {"priorities": [priority], "business_services": [], "categories": [], "ci_classes": []},
        **{kind: {"target": TARGETS[priority][kind], **CONDITIONS[kind]} for kind in ("response", "resolution")},
        "calendar_id": None, "warning_thresholds": [50, 75, 90], "escalation_group": None,
    }


def upgrade() -> None:
    definitions = op.create_table(
        "sla_definitions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "sla_calendars",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
    )
    history = op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("dataschema", sa.String(200), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("incident_events_by_incident", "incident_events", ["incident_id", "id"])
    op.create_index("incident_events_by_event", "incident_events", ["event_id"], unique=True)
    op.create_table(
        "cis",
        sa.Column("ci_id", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("ci_class", sa.String(100), nullable=False),
    )
    op.create_index("cis_by_name", "cis", ["name"])

    op.alter_column("timers", "policy", type_=sa.String(200))
    op.alter_column("timers", "due_at", nullable=True)
    for column in (
        sa.Column("definition_id", sa.String(36)),
        sa.Column("definition_version", sa.Integer),
        sa.Column("cycle", sa.Integer),
        sa.Column("business_service", sa.String(255)),
        sa.Column("target", sa.Interval),
        sa.Column("calendar_id", sa.String(36)),
        sa.Column("calendar_version", sa.Integer),
        sa.Column("thresholds", sa.ARRAY(sa.Integer)),
        sa.Column("escalation_group", sa.String(100)),
        sa.Column("attached_at", sa.DateTime(timezone=True)),
        sa.Column("segments", JSONB),
        sa.Column("breached_at", sa.DateTime(timezone=True)),
        sa.Column("notified_percent", sa.Integer),
        sa.Column("next_alarm_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("timers", column)

    op.bulk_insert(definitions, [{"id": f"default-p{p}", "version": 1, "name": f"P{p} {LABELS[p]}", "active": True,
                                  "body": default_body(p), "changed_at": datetime.now(UTC), "changed_by": "system"}
                                 for p in TARGETS])
    _convert_timers(history)

    for name in ("definition_id", "definition_version", "cycle", "target", "thresholds", "attached_at", "segments",
                 "notified_percent"):
        op.alter_column("timers", name, nullable=False)
    op.create_index("timers_by_definition", "timers", ["definition_id"])
    op.create_index("timers_alarms", "timers", ["next_alarm_at"], postgresql_where=sa.text("next_alarm_at IS NOT NULL"))
    op.create_index("timers_open", "timers", ["incident_id"],
                    postgresql_where=sa.text("stage IN ('in_progress', 'paused')"))
    op.create_index("timers_completed", "timers", ["stopped_at"], postgresql_where=sa.text("stage = 'completed'"))
    op.create_index("timers_at_risk", "timers", ["due_at"], postgresql_where=sa.text(
        "stage IN ('in_progress', 'paused') AND (notified_percent > 0 OR breached)"))


def _convert_timers(history: sa.Table) -> None:
    """0001's timers as timers of the default definitions, and a baseline history for their incidents."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, incident_id, kind, priority, started_at, stage, stopped_at, breached "
                                "FROM timers ORDER BY incident_id, started_at, kind")).mappings().all()
    baseline: dict[str, list[dict]] = {}
    for r in rows:
        definition_id = f"default-p{r['priority']}"
        target = timedelta(seconds=SECONDS[TARGETS[r["priority"]][r["kind"]]])
        running = r["stage"] == "in_progress"
        segment = {"state": "running", "start": r["started_at"].isoformat(),
                   "end": None if running else r["stopped_at"].isoformat(),
                   "start_event": f"baseline:{r['incident_id']}",
                   "end_event": None if running else f"baseline-stop:{r['id']}", "reason": "opened",
                   "end_reason": None if running else "stopped before the SLA engine kept history"}
        due = r["started_at"] + target
        bind.execute(sa.text(
            "UPDATE timers SET id = :new_id, policy = :policy, definition_id = :definition_id, "
            "definition_version = 1, cycle = 1, target = :target, thresholds = ARRAY[50, 75, 90], "
            "attached_at = started_at, segments = CAST(:segments AS JSONB), due_at = :due_at, "
            "breached_at = :breached_at, notified_percent = :notified, next_alarm_at = :next_alarm WHERE id = :id"),
            {"id": r["id"], "new_id": str(uuid.uuid5(TIMER_IDS, f"{r['incident_id']}/{definition_id}/{r['kind']}/1")),
             "policy": f"P{r['priority']} {LABELS[r['priority']]}", "definition_id": definition_id,
             "target": target, "segments": json.dumps([segment]), "due_at": due if running else None,
             "breached_at": due if r["breached"] else None,
             # a breach of the past is not announced now; a running timer announces what it has crossed since
             "notified": 100 if r["breached"] else 0,
             "next_alarm": due - target / 2 if running and not r["breached"] else None})
        events = baseline.setdefault(r["incident_id"], [{
            "incident_id": r["incident_id"], "event_id": f"baseline:{r['incident_id']}",
            "type": "sla.history.baseline", "dataschema": "", "sequence": 0,
            "data": {"state": "new", "priority": r["priority"], "opened_at": r["started_at"].isoformat()}}])
        if not running:
            state = "canceled" if r["stage"] == "cancelled" else ("resolved" if r["kind"] == "resolution"
                                                                  else "in_progress")
            events.append({"incident_id": r["incident_id"], "event_id": f"baseline-stop:{r['id']}",
                           "type": "sla.history.baseline_state", "dataschema": "", "sequence": 0,
                           "data": {"state": state, "at": r["stopped_at"].isoformat()}})
    for events in baseline.values():
        events[1:] = sorted(events[1:], key=lambda e: e["data"]["at"])
        op.bulk_insert(history, events)


def downgrade() -> None:
    for name in ("timers_at_risk", "timers_completed", "timers_open", "timers_alarms", "timers_by_definition"):
        op.drop_index(name, "timers")
    op.execute("DELETE FROM timers WHERE due_at IS NULL")  # 0001 has no paused timers
    for name in ("next_alarm_at", "notified_percent", "breached_at", "segments", "attached_at", "escalation_group",
                 "thresholds", "calendar_version", "calendar_id", "target", "business_service", "cycle",
                 "definition_version", "definition_id"):
        op.drop_column("timers", name)
    op.alter_column("timers", "due_at", nullable=False)
    op.alter_column("timers", "policy", type_=sa.String(60))
    op.drop_table("cis")
    op.drop_table("incident_events")
    op.drop_table("sla_calendars")
    op.drop_table("sla_definitions")
