"""Requests: the dispatch decision with 500 rules (target p99 under 5 ms) and request submission throughput.

- dispatch, in process: RULES rules (the dispatch domain's DispatchRule), the only one that matches the record third
  from the end, so nearly all of them are looked at; compiled once into a Ruleset, as the requests service keeps
  them between rule changes; then the decision (Ruleset.first, timed by itsm_requests.dispatch_bench) RUNS times:
  p50/p99/max; the same over dispatch_bench's worst case (only the last rule matches). The compile of the RULES
  rules is timed too (the cost each rule change brings once).
- dispatch in the service: with those rules in the requests database, handlers.dispatch.decide itself RUNS times
  (its reads: the rules' generation, the group's row), each in a transaction rolled back: the decision as an
  incident's or a task's dispatch makes it, without HTTP.
- dispatch, end to end: the same rules created through the gateway (POST /api/v1/dispatch/rules, appended in
  order), then POST /api/v1/dispatch/dry-run RUNS times one after another as an agent (gateway -> requests
  service -> its rules -> the answer, which must name the matching rule): p50/p99/max; and the same straight at the
  requests service (signed as the gateway signs its calls), which leaves the gateway's hop out. The rules are
  deleted after.
- submission: a catalogue category and item (a JSON Schema form; a one-stage tasks flow whose task no group is
  given, so a dispatch rule for the item's category assigns it, to a group of AGENTS people in the directory whose
  method is round robin: each task's dispatch takes the group's turn), through the catalogue API; REQUESTERS
  requesters
  (tokens of their own, in the group that may order the item) each submit requests one after another for SECONDS
  through the gateway: accepted requests a second, p50/p99 of the submit (201) latency; then each request's
  itsm.request.task_assigned as it reaches a consumer of itsm.requests (a group of its own, joined before the first
  submit): submit -> task assigned p50/p99, and how long after the last submit every task was assigned.

`python -m bench.requests` runs this one alone (a stack of its own); BENCH_DISPATCH_RULES, BENCH_DISPATCH_RUNS,
BENCH_REQUESTERS and BENCH_REQUESTS_SECONDS change the sizes, BENCH_REQUESTS_METHOD the tasks' group's method.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer

from bench.cmdb import percentile, signed_for
from itsm_contracts import CloudEvent, topics

RULES = int(os.environ.get("BENCH_DISPATCH_RULES", "500"))
RUNS = int(os.environ.get("BENCH_DISPATCH_RUNS", "2000"))
REQUESTERS = int(os.environ.get("BENCH_REQUESTERS", "32"))
AGENTS = 5  # members of the group the tasks go to
# The group's method: round_robin (each task's dispatch takes the group's turn, a row every submit locks) or none.
METHOD = os.environ.get("BENCH_REQUESTS_METHOD", "round_robin")
SECONDS = float(os.environ.get("BENCH_REQUESTS_SECONDS", "20"))
TARGET_P99_MS = 5
DRAIN_SECONDS = 120  # how long after the last submit task assignments may still arrive
RULES_IN_FLIGHT = 1  # rules are appended: one at a time keeps their order

FORM = {
    "type": "object",
    "required": ["model", "ram_gb"],
    "properties": {
        "model": {"type": "string", "enum": ["13-inch", "15-inch"]},
        "ram_gb": {"type": "integer", "enum": [16, 32, 64]},
        "accessories": {"type": "array", "items": {"type": "string", "enum": ["dock", "headset", "mouse"]},
                        "uniqueItems": True, "maxItems": 3},
        "justification": {"type": "string", "maxLength": 500},
    },
    "additionalProperties": False,
}
ANSWERS = {"model": "13-inch", "ram_gb": 32, "accessories": ["dock"], "justification": "benchmark"}


def ms(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 50), 3), "p99_ms": round(percentile(values, 99), 3),
            "max_ms": round(max(values), 3)}


# --- dispatch -----------------------------------------------------------------------------------------------------

def rule_bodies(tag: str, count: int) -> tuple[list[dict], dict, str]:
    """`count` rule bodies in order, the record (a dry run's body) that only the third from last matches, and that
    rule's name. The others accept every record type and priority but another category, so each is looked at."""
    matching = max(0, count - 3)
    bodies = []
    for n in range(count):
        body = {"name": f"bench-{tag}-{n:04}", "description": "benchmark rule",
                "record_types": ["incident", "problem", "task"],
                "conditions": {"category": [f"bench-other-{tag}-{n}", f"bench-also-{tag}-{n}"],
                               "priority": [1, 2, 3, 4, 5]},
                "assignment_group": f"bench-group-{n % 20}", "enabled": True}
        if n == matching:
            body["conditions"] = {"category": [f"bench-hardware-{tag}"], "business_service": ["bench-service"],
                                  "priority": [2, 3]}
            body["assignment_group"] = f"bench-dispatch-{tag}"
        bodies.append(body)
    record = {"record_type": "incident", "category": f"bench-hardware-{tag}", "business_service": "bench-service",
              "priority": 3}
    return bodies, record, bodies[matching]["name"]


def in_process(bodies: list[dict], record: dict, expected: str, runs: int) -> dict:
    """The pure decision (itsm_requests.domain.dispatch: Ruleset.first, timed by itsm_requests.dispatch_bench) over
    the same rules as the dry run, compiled once as the service keeps them; and over the dispatch helper's worst case
    (sample_rules: only the last of RULES matches, each rule checking a category, a priority and a location)."""
    from itsm_requests.dispatch_bench import decision_times, sample_rules, sample_traits
    from itsm_requests.domain.dispatch import DispatchRule, Facts, Ruleset, traits_of

    at = datetime.now(UTC)
    rules = [DispatchRule.create(id=str(uuid.uuid4()), position=n + 1, at=at, **body)
             for n, body in enumerate(bodies)]
    started = time.perf_counter()
    ruleset = Ruleset(rules)
    compiled_ms = (time.perf_counter() - started) * 1000
    traits = traits_of(Facts(**record))
    rule, evaluated = ruleset.first(traits)
    assert rule is not None and rule.name == expected, f"in process: {rule} matched, not {expected}"
    same = [t * 1000 for t in decision_times(ruleset, traits, runs)]
    worst_rules, worst_traits = Ruleset(sample_rules(len(bodies))), sample_traits(len(bodies))
    worst = [t * 1000 for t in decision_times(worst_rules, worst_traits, runs)]
    return {"rules": len(rules), "rules_evaluated": evaluated, "runs": runs, **ms(same),
            "compile_ms": round(compiled_ms, 2),
            "worst_case": {"rules_evaluated": worst_rules.first(worst_traits)[1], **ms(worst)},
            "target_p99_ms": TARGET_P99_MS}


async def with_reads(requests_db: str, record: dict, expected: str, runs: int) -> dict:
    """The decision as the requests service makes it for an incident or a task (handlers.dispatch.decide): the rules'
    generation read, the compiled rules kept between changes, the group's row, on the requests database with the
    RULES rules in it; each in a transaction rolled back (nothing kept): p50/p99/max, without HTTP."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import AsyncSession

    from itsm_kit.db import make_engine
    from itsm_requests.domain.dispatch import Facts
    from itsm_requests.handlers.dispatch import decide

    engine = make_engine(make_url(requests_db).set(drivername="postgresql+asyncpg"), pool_size=1)
    latencies, decision = [], None
    try:
        async with AsyncSession(engine) as session:
            for n in range(runs + 20):  # the first 20 warm the connection and the compiled rules
                await session.begin()
                began = time.perf_counter()
                decision = await decide(session, Facts(**record))
                if n >= 20:
                    latencies.append((time.perf_counter() - began) * 1000)
                await session.rollback()
    finally:
        await engine.dispose()
    assert decision is not None and decision.rule == expected, f"decide chose {decision}, not {expected}"
    return {"rules_evaluated": decision.rules_evaluated, "runs": runs, **ms(latencies), "target_p99_ms": TARGET_P99_MS}


async def create_rules(gateway: httpx.AsyncClient, bodies: list[dict]) -> list[tuple[str, str | None]]:
    """Each rule appended in order; (id, ETag) of each."""
    made = []
    for body in bodies:
        response = await gateway.post("/api/v1/dispatch/rules", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"creating a dispatch rule: {response.status_code} {response.text[:300]}")
        made.append((response.json()["id"], response.headers.get("etag")))
    return made


async def delete_all(gateway: httpx.AsyncClient, paths: list[tuple[str, str | None]]) -> None:
    for path, etag in paths:
        await gateway.delete(path, headers={"if-match": etag} if etag else {})


async def end_to_end(agent: httpx.AsyncClient, path: str, record: dict, expected: str, runs: int) -> dict:
    for _ in range(20):  # warm-up: connections, the service's compiled rules
        (await agent.post(path, json=record)).raise_for_status()
    latencies, answer = [], {}
    for _ in range(runs):
        began = time.perf_counter()
        response = await agent.post(path, json=record)
        latencies.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
        answer = response.json()
    assert answer["rule"] == expected, f"the dry run chose {answer['rule']}, not {expected}"
    return {"rules_evaluated": answer["rules_evaluated"], "runs": runs, **ms(latencies),
            "target_p99_ms": TARGET_P99_MS}


# --- submission ---------------------------------------------------------------------------------------------------

async def catalogue(gateway: httpx.AsyncClient, tag: str) -> tuple[dict, dict, list[tuple[str, str | None]]]:
    """A category and an orderable item (form, one-stage tasks flow with its group left to dispatch), a rule that
    sends the item's tasks to a group; what to undo afterwards."""
    response = await gateway.post("/api/v1/catalog/categories", json={
        "name": f"Bench hardware {tag}", "description": "benchmark category"})
    if response.status_code != 201:
        raise RuntimeError(f"creating a category: {response.status_code} {response.text[:300]}")
    category = response.json()
    response = await gateway.post("/api/v1/catalog/items", json={
        "name": f"Bench laptop {tag}", "category_id": category["id"], "short_description": "a laptop",
        "description": "benchmark item", "form": FORM,
        "flow": [{"kind": "tasks", "tasks": [{"name": "Prepare the laptop", "description": "image and ship it",
                                              "assignment_group": None}]}],
        "groups": [f"bench-orderers-{tag}"], "price": "1200.00", "currency": "EUR", "delivery_hours": 48,
        "response_target_minutes": 240, "fulfilment_target_minutes": 2880, "active": True})
    if response.status_code != 201:
        raise RuntimeError(f"creating a catalogue item: {response.status_code} {response.text[:300]}")
    item = response.json()
    [(rule_id, etag)] = await create_rules(gateway, [{
        "name": f"bench-tasks-{tag}", "position": 1, "description": "the benchmark item's tasks",
        "record_types": ["task"], "conditions": {"category": [category["name"]]},
        "assignment_group": f"bench-fulfil-{tag}", "enabled": True}])
    return category, item, [(f"/api/v1/dispatch/rules/{rule_id}", etag)]


async def fulfilment_group(gateway: httpx.AsyncClient, tag: str, timeout: float = 30) -> int:
    """The tasks' group in the directory with AGENTS people, its method METHOD; how many members the requests
    service knows of (its copy comes from itsm.directory) when it is ready, or when `timeout` has passed."""
    group = f"bench-fulfil-{tag}"
    people = [f"bench-agent-{tag}-{n}" for n in range(AGENTS)]
    for username in people:
        (await gateway.post("/api/v1/people", json={"username": username, "name": username})).raise_for_status()
    (await gateway.post("/api/v1/groups", json={"name": group, "members": people})).raise_for_status()
    (await gateway.put(f"/api/v1/dispatch/groups/{group}", json={"method": METHOD})).raise_for_status()
    deadline, members = time.perf_counter() + timeout, []
    while len(members) < AGENTS and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
        groups = (await gateway.get("/api/v1/dispatch/groups")).json()["items"]
        members = next((g["members"] for g in groups if g["name"] == group), [])
    return len(members)


class Assignments:
    """Each request's first itsm.request.task_assigned with a group, as a consumer of itsm.requests sees it (and
    which have a person too)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(topics.REQUESTS, bootstrap_servers=bootstrap,
                                         group_id=f"bench-{uuid.uuid4().hex}", auto_offset_reset="latest",
                                         enable_auto_commit=False, fetch_max_wait_ms=20)
        self.arrivals: dict[str, float] = {}  # request id -> time.perf_counter()
        self.assignees: dict[str, str | None] = {}  # request id -> the person its task went to
        self._task: asyncio.Task | None = None

    async def start(self) -> Assignments:
        await self.consumer.start()
        while not self.consumer.assignment():  # joined before the first submit: nothing is missed
            await self.consumer.getmany(timeout_ms=200)
        for partition in self.consumer.assignment():
            await self.consumer.position(partition)
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        while True:
            for records in (await self.consumer.getmany(timeout_ms=50)).values():
                now = time.perf_counter()
                for record in records:
                    event = CloudEvent.from_json(record.value)
                    if event.type == "itsm.request.task_assigned" and event.data.get("assignment_group"):
                        self.arrivals.setdefault(event.data.get("request_id"), now)
                        self.assignees.setdefault(event.data.get("request_id"), event.data.get("assignee"))

    async def wait_for(self, ids: set[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not ids <= self.arrivals.keys() and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()


async def submit(client: httpx.AsyncClient, token: str, item_id: str) -> tuple[httpx.Response, float, float]:
    began = time.perf_counter()
    response = await client.post("/api/v1/requests", headers={"authorization": f"Bearer {token}"}, json={
        "short_description": "bench laptop", "items": [{"catalog_item_id": item_id, "quantity": 1,
                                                        "answers": ANSWERS}]})
    return response, began, time.perf_counter()


async def submission(gateway: httpx.AsyncClient, secret: str, bootstrap: str, tag: str, item: dict,
                     members: int) -> dict:
    from itsm_gateway.auth import issue_token

    tokens = [issue_token(secret, f"bench-requester-{tag}-{n}", ["requester"], groups=[f"bench-orderers-{tag}"])
              for n in range(REQUESTERS)]
    limits = httpx.Limits(max_connections=REQUESTERS, max_keepalive_connections=REQUESTERS)
    async with httpx.AsyncClient(base_url=str(gateway.base_url), timeout=60, limits=limits) as client:
        for token in tokens[:4]:  # warm-up, and a bad body or route fails here with its answer
            response, _, _ = await submit(client, token, item["id"])
            if response.status_code != 201:
                raise RuntimeError(f"submitting a request: {response.status_code} {response.text[:300]}")
        assignments = await Assignments(bootstrap).start()
        submitted: dict[str, float] = {}  # request id -> when its submit began
        latencies: list[float] = []
        refused: dict[int, int] = {}
        try:
            started = time.perf_counter()
            stop_at = started + SECONDS

            async def requester(token: str) -> None:
                while time.perf_counter() < stop_at:
                    response, began, ended = await submit(client, token, item["id"])
                    if response.status_code == 201:
                        submitted[response.json()["id"]] = began
                        latencies.append((ended - began) * 1000)
                    else:
                        refused[response.status_code] = refused.get(response.status_code, 0) + 1

            await asyncio.gather(*(requester(t) for t in tokens))
            last_accepted = time.perf_counter()
            if not submitted:
                raise RuntimeError(f"no request was accepted: {refused}")
            elapsed = last_accepted - started
            await assignments.wait_for(set(submitted), DRAIN_SECONDS)
        finally:
            await assignments.stop()
    assigned = {r: assignments.arrivals[r] - began for r, began in submitted.items() if r in assignments.arrivals}
    delays = [d * 1000 for d in assigned.values()]
    everything = max(assignments.arrivals[r] for r in assigned) - last_accepted if assigned else None
    return {"requesters": REQUESTERS, "seconds": SECONDS, "accepted": len(submitted), "refused": refused,
            "accepted_per_s": round(len(submitted) / elapsed, 1),
            "submit_p50_ms": round(percentile(latencies, 50), 1), "submit_p99_ms": round(percentile(latencies, 99), 1),
            "submit_max_ms": round(max(latencies), 1),
            "tasks_assigned": len(assigned), "group_members": members, "group_method": METHOD,
            "tasks_with_assignee": sum(bool(assignments.assignees.get(r)) for r in assigned),
            "submit_to_assigned_p50_ms": round(percentile(delays, 50), 1) if delays else None,
            "submit_to_assigned_p99_ms": round(percentile(delays, 99), 1) if delays else None,
            "all_assigned_after_last_submit_s": round(max(0.0, everything), 2) if everything is not None else None,
            "submitting_s": round(elapsed, 1),
            "drain_s": DRAIN_SECONDS}


# --- the run ------------------------------------------------------------------------------------------------------

async def run(gateway: httpx.AsyncClient, secret: str, bootstrap: str, requests_url: str, internal_key: str,
              requests_db: str) -> dict:
    from itsm_gateway.auth import issue_token

    tag = uuid.uuid4().hex[:8]
    bodies, record, expected = rule_bodies(tag, RULES)
    pure = in_process(bodies, record, expected, RUNS)
    undo: list[tuple[str, str | None]] = []
    agent_headers = {"authorization": f"Bearer {issue_token(secret, f'bench-agent-{tag}', ['agent'])}"}
    try:
        made = await create_rules(gateway, bodies)
        undo += [(f"/api/v1/dispatch/rules/{rule_id}", etag) for rule_id, etag in made]
        service = await with_reads(requests_db, record, expected, RUNS)
        async with httpx.AsyncClient(base_url=str(gateway.base_url), headers=agent_headers, timeout=60) as agent:
            through = await end_to_end(agent, "/api/v1/dispatch/dry-run", record, expected, RUNS)
        async with httpx.AsyncClient(base_url=requests_url, timeout=60,
                                     auth=signed_for("requests", internal_key)) as direct:
            straight = await end_to_end(direct, "/dispatch/dry-run", record, expected, RUNS)
        # The RULES rules go before the submissions: each task's dispatch would look at them all.
        await delete_all(gateway, undo)
        undo.clear()
        _, item, more = await catalogue(gateway, tag)
        undo += more
        members = await fulfilment_group(gateway, tag)
        submitted = await submission(gateway, secret, bootstrap, tag, item, members)
        await gateway.patch(f"/api/v1/catalog/items/{item['id']}", json={"active": False})
    finally:
        await delete_all(gateway, undo)
    return {"dispatch_decision": {"rules": RULES, "in_process": pure, "in_the_service_with_its_reads": service,
                                  "dry_run_through_gateway": through,
                                  "dry_run_requests_direct": straight},
            "request_submission": submitted}


async def alone(platform, secret: str, incidents_db: str) -> dict:
    """This benchmark without the others (`python -m bench.requests`)."""
    from itsm_gateway.auth import issue_token

    headers = {"authorization": f"Bearer {issue_token(secret, 'bench', ['admin'])}"}
    async with httpx.AsyncClient(base_url=platform.url("gateway"), headers=headers, timeout=60) as gateway:
        return await run(gateway, secret, platform.infra_env["ITSM_KAFKA_BOOTSTRAP"], platform.url("requests"),
                         platform.internal_key, incidents_db.rsplit("/", 1)[0] + "/itsm_requests")


def standalone() -> int:
    """A stack and ports of its own: `make bench` or another benchmark may be running on the `bench` stack."""
    from bench.__main__ import main

    return main(alone, stack_name="bench-requests", pg_port=25600, kafka_port=29600, base_port=21300)


if __name__ == "__main__":
    sys.exit(standalone())
