"""A dispatch decision, as the service owning the record takes it (issue 17). Pure: no I/O (the consumer's handler
is itsm_kit.dispatch_decisions).

The requests service's dispatch rules choose a group (and the group's method a person) for an incident or a problem
and publish it (itsm.record.dispatched); the owning service assigns the record unless someone assigned it meanwhile.
Incidents and problems share these rules; each applies the result through its own assign path.
"""

from __future__ import annotations

from datetime import datetime

from itsm_contracts.events.requests import RecordDispatched

DISPATCH = "dispatch"  # the actor of an assignment the dispatch rules made

METHODS = {"round_robin": "round robin", "least_loaded": "least loaded"}


def dispatched_assignment(decision: RecordDispatched, *, group: str | None, assignee: str | None, is_open: bool,
                          dispatched_at: datetime | None) -> tuple[str, str | None] | None:
    """The (group, assignee) the record takes from `decision`, or None: it changes nothing.

    The decision fills only what nobody chose since the record was opened: no group yet (nor a person) -> the
    decision's group and assignee; the decision's group already and no assignee -> its assignee. Anything else is a
    choice someone (a person, or an earlier rule) made, which a decision never overrides. A record no longer open is
    left alone, and so is one a newer decision already assigned (decisions of one record are not ordered).
    """
    wanted = decision.assignment_group
    if not is_open or wanted is None or (dispatched_at is not None and decision.decided_at <= dispatched_at):
        return None
    if group is None and assignee is None:
        return wanted, decision.assignee
    if group == wanted and assignee is None and decision.assignee is not None:
        return wanted, decision.assignee
    return None


def dispatch_note(decision: RecordDispatched, group: str, assignee: str | None) -> str:
    """The timeline's line: which rule (and its version at the time) chose the group, and how the person was chosen,
    e.g. "Assigned to NetOps (alice) by dispatch rule 'Network to NetOps' (version 3); assignee by round robin."."""
    who = f"{group} ({assignee})" if assignee else group
    if decision.dispatch_rule:
        version = f" (version {decision.dispatch_rule_version})" if decision.dispatch_rule_version is not None else ""
        by = f"dispatch rule '{decision.dispatch_rule}'{version}"
    else:
        by = "dispatch (no rule: the group came with the record)"
    if assignee and decision.method in METHODS:
        how = f"; assignee by {METHODS[decision.method]}"
    elif assignee:
        how = ""
    else:
        how = "; no assignee (the group's method names nobody)"
    return f"Assigned to {who} by {by}{how}."

