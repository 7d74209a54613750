"""Issue 17: notifications hear of requests. The shipped subscription e-mails each approver when an item's approval
is requested (itsm.request.approval_requested, recipients `people_in: approvers`), nobody else.

The event is put on itsm.requests here as the requests service's relay does, so this holds whatever its flows do.
"""

from __future__ import annotations

import uuid

import pytest

from itsm_contracts.events.requests import RequestApprovalRequested
from tests.helpers import eventually, ok, publishing

pytestmark = pytest.mark.e2e

API = "/api/v1"


async def test_each_approver_is_emailed_when_their_approval_is_requested(infra, gateway, mail):
    tag = uuid.uuid4().hex[:8]
    names = ("ann", "bob", "cyd")  # cyd orders; ann and bob approve
    for name in names:
        ok(await gateway.post(f"{API}/people", json={"username": f"{name}-{tag}", "name": name.title(),
                                                     "email": f"{name}-{tag}@example.com"}), 201)
    asked = RequestApprovalRequested(request_id=str(uuid.uuid4()), number=f"REQ{tag}", item_id=str(uuid.uuid4()),
                                     approval_id=str(uuid.uuid4()), stage=1, approvers=[f"ann-{tag}", f"bob-{tag}"],
                                     rule="any", requested_for=f"cyd-{tag}")
    async with publishing(infra["ITSM_KAFKA_BOOTSTRAP"], "itsm/requests") as publish:
        await publish(asked, subject=asked.request_id, sequence=2)

    async def mailed() -> list:
        received = [mail.to(f"{name}-{tag}@example.com") for name in ("ann", "bob")]
        assert all(received), [len(r) for r in received]
        return [message for messages in received for message in messages]

    messages = await eventually(mailed)
    assert len(messages) == 2, "one message per approver"
    for message in messages:
        assert f"REQ{tag}" in message["subject"] and f"cyd-{tag}" in message["subject"]
    assert mail.to(f"cyd-{tag}@example.com") == [], "only the approvers are asked"
