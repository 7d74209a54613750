"""Search that ranks at scale: p50/p99 over 1,000,000 incidents and 10,000 published articles (target p99 under 50 ms).

- data, written straight into the services' databases (INSERT ... SELECT over generate_series, in batches of
  BATCH rows; PostgreSQL computes each row's generated `search` column and keeps both search indexes as it goes):
  INCIDENTS incidents whose titles, descriptions and resolution notes are drawn from a service desk vocabulary
  (things, symptoms, circumstances, fixes; the first of each list more often than the last, as real desks see a
  few things break most), over CALLERS callers, a quarter of them resolved in the last five days (not yet due for
  auto-close); and ARTICLES published articles (version 1, its article_versions
  row too; audience requesters for four in five, agents for the rest) in the knowledge database. The rows are
  numbered INC2xxxxxxx and KB2xxxxxxx: a batch already there is skipped, so a run on databases that have them loads
  nothing again. Then VACUUM (ANALYZE), as autovacuum would after such a load (not while searches are timed).
- queries: QUERIES texts of 1 to 4 words from the vocabulary (fixed seed), a third of them with a misspelled word
  (a letter dropped, doubled or swapped: corrected through the titles' vocabulary).
- measured, one at a time, every query once after a warm-up pass over all of them, once the machine has settled
  after the load (at most a minute):
  - incidents_sql and articles_sql: itsm_kit.search.ranked straight on the database (what PostgreSQL spends);
  - incidents_direct: GET /incidents/search at the incidents service, signed as the gateway signs its calls;
  - articles_direct: GET /articles/search?reader=requester at the knowledge service, likewise;
  - gateway_agent and gateway_requester: GET /api/v1/search through the gateway as an agent (incidents, problems,
    changes, articles) and as a requester (their own incidents, the articles requesters may read).
  Each: p50/p99/max, how many queries found something, and the target; with the machine's load average when
  the timing starts and ends (other work on the machine shows in every figure).

`python -m bench.search` runs this one alone (a stack of its own); BENCH_SEARCH_INCIDENTS, BENCH_SEARCH_ARTICLES and
BENCH_SEARCH_QUERIES change the sizes.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time

import asyncpg
import httpx

from bench.cmdb import percentile, signed_for

INCIDENTS = int(os.environ.get("BENCH_SEARCH_INCIDENTS", "1000000"))
ARTICLES = int(os.environ.get("BENCH_SEARCH_ARTICLES", "10000"))
QUERIES = int(os.environ.get("BENCH_SEARCH_QUERIES", "300"))
BATCH = 50_000
CALLERS = 1000  # bench-caller-0 .. : a requester's own incidents are a thousandth of them
FIRST = 20_000_000  # INC20000001 ..., KB20000001 ...: clear of the services' own numbers (INC0001001 ...)
LIMIT = 20
TARGET_P99_MS = 50

THINGS = [
    "printer", "laptop", "VPN client", "Outlook mailbox", "wifi", "password", "SAP", "Teams", "monitor",
    "docking station", "shared drive", "SharePoint site", "badge reader", "payroll portal", "Citrix desktop",
    "MFA token", "phone", "keyboard", "headset", "scanner", "projector", "Jira", "Confluence", "browser",
    "Windows update", "antivirus", "database", "file server", "web server", "load balancer", "firewall", "router",
    "switch", "DNS resolver", "certificate", "backup job", "storage array", "Kubernetes cluster", "API gateway",
    "message queue", "Kafka broker", "PostgreSQL replica", "Oracle instance", "LDAP directory", "single sign-on",
    "HR portal", "timesheet app", "expense tool", "CRM", "invoice system", "warehouse scanner", "label printer",
    "point of sale terminal", "video conference room", "calendar", "OneDrive", "Excel workbook", "PowerPoint",
    "mobile app", "intranet", "time clock", "camera", "door access panel", "UPS", "air conditioning in server room",
    "license server", "build pipeline", "git server", "artifact repository", "monitoring agent", "log shipper",
]
SYMPTOMS = [
    "not working", "very slow", "keeps crashing", "keeps disconnecting", "cannot connect", "shows an error",
    "frozen", "login fails", "times out", "no sound", "blank screen", "paper jam", "not syncing", "access denied",
    "out of disk space", "high latency", "expired", "account locked out", "not printing", "missing data",
    "wrong totals", "returns 500 errors", "unreachable", "high CPU usage", "memory leak", "packet loss",
    "intermittent failures", "cannot open attachments", "stuck in queue", "reboots randomly", "overheating",
    "battery drains fast", "flickering display", "duplicate entries", "cannot save changes", "stale cache",
    "replication lag", "certificate warning", "garbled characters", "prompting for credentials repeatedly",
]
CONTEXTS = [
    "since this morning", "after the update", "for the whole team", "in the Berlin office", "on floor three",
    "when working from home", "during month end", "for a new starter", "over VPN", "after a password change",
    "in meeting room B", "for external guests", "at the London branch", "on the night shift", "since the migration",
    "after the office move", "for finance users", "on macOS only", "for one user", "in the warehouse",
    "during peak hours", "after a power cut", "since yesterday", "on every login", "for customers in Spain",
]
FIXES = [
    "restarting the service", "clearing the cache", "reinstalling the driver", "resetting the password",
    "replacing the cable", "renewing the certificate", "rolling back the update", "extending the volume",
    "re-enrolling the device", "rebuilding the profile", "failing over to the standby", "raising the timeout",
    "replacing the toner", "updating the firmware", "flushing DNS", "recreating the mailbox rule",
    "adding the user to the group", "restarting the spooler", "reseating the memory", "patching the server",
]
GROUPS = ["service-desk", "network", "end-user-computing", "identity", "database", "platform", "applications",
          "facilities"]

# One of a list, the first more often than the last (power 1.5 of a uniform draw), per row (volatile); a function of
# this session only (pg_temp), so nothing is left in the service's database.
PICK = """CREATE OR REPLACE FUNCTION pg_temp.pick(choices text[]) RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT choices[1 + floor(power(random(), 1.5) * array_length(choices, 1))::int] $$"""

INSERT_INCIDENTS = """
INSERT INTO incidents (id, number, short_description, description, state, impact, urgency, priority, origin,
                       opened_at, updated_at, version, alert_count, caller, category, assignment_group, assignee,
                       resolution_code, resolution_notes, resolved_at, closed_at)
SELECT md5('bench-search-incident-' || g)::uuid::text, 'INC' || ($2::bigint + g),
       left(initcap(w.thing) || ' ' || w.symptom || ' ' || w.context, 160),
       'Reported by ' || w.caller || ': the ' || w.thing || ', ' || w.symptom || ' ' || w.context || '. It began '
         || 'after trouble with the ' || w.other || ' (' || w.symptom2 || '), and ' || w.tried || ' did not help. '
         || w.seen || ' users affected so far.',
       w.state, w.impact, w.urgency, least(5, w.impact + w.urgency - 1), 'manual',
       w.opened_at, w.opened_at + interval '3 hours', 1, 0, w.caller, w.category, w.group_name,
       CASE WHEN w.state IN ('resolved', 'closed') THEN 'bench-agent-' || (g % 40) END,
       CASE WHEN w.state IN ('resolved', 'closed') THEN 'solved' END,
       CASE WHEN w.state IN ('resolved', 'closed')
            THEN 'Fixed by ' || w.fix || ' on the ' || w.thing || '; ' || w.other || ' checked as well.' END,
       CASE WHEN w.state IN ('resolved', 'closed') THEN w.opened_at + interval '2 hours' END,
       CASE WHEN w.state = 'closed' THEN w.opened_at + interval '3 hours' END
FROM generate_series($1::bigint, $1::bigint + $3 - 1) AS g
CROSS JOIN LATERAL (
    SELECT pg_temp.pick($4) AS thing, pg_temp.pick($4) AS other, pg_temp.pick($5) AS symptom,
           pg_temp.pick($5) AS symptom2, pg_temp.pick($6) AS context, pg_temp.pick($7) AS fix,
           pg_temp.pick($7) AS tried, ($8::text[])[1 + g % array_length($8, 1)] AS group_name,
           (ARRAY['hardware', 'software', 'network', 'access', 'inquiry'])[1 + (g / 7) % 5] AS category,
           'bench-caller-' || (g % $9) AS caller, 1 + g % 3 AS impact, 1 + (g / 3) % 3 AS urgency,
           (g % 50 + 1)::text AS seen,
           CASE WHEN g % 20 < 2 THEN 'new' WHEN g % 20 < 4 THEN 'in_progress' WHEN g % 20 < 5 THEN 'on_hold'
                WHEN g % 20 < 10 THEN 'resolved' ELSE 'closed' END AS state,
           -- A resolved incident was resolved within the last days: older ones the incidents service's auto-close
           -- sweep would close, a quarter of a million events of work while the searches are timed.
           now() - interval '3 hours' - (g % 86400) * interval '1 second'
             - (CASE WHEN g % 20 BETWEEN 5 AND 9 THEN g % 5 ELSE g % 730 END) * interval '1 day' AS opened_at
) AS w
ON CONFLICT DO NOTHING
"""

ARTICLE_ROWS = """
CREATE TEMPORARY TABLE bench_articles ON COMMIT DROP AS
SELECT md5('bench-search-article-' || g)::uuid::text AS id, 'KB' || ($2::bigint + g) AS number,
       left('How to fix ' || w.thing || ' ' || w.symptom || ' ' || w.context, 200) AS title,
       '## Symptoms' || E'\n\n' || 'The ' || w.thing || ': ' || w.symptom || ' ' || w.context || ', often after '
         || 'trouble with the ' || w.other || ' (' || w.symptom2 || ').' || E'\n\n'
         || '## Workaround' || E'\n\n' || '1. Try ' || w.fix || '.' || E'\n'
         || '2. If it still fails, try ' || w.fix2 || '.' || E'\n\n'
         || '## Cause' || E'\n\n' || 'A known issue with the ' || w.thing || ' ' || w.context || '.' AS body,
       '<h2>Symptoms</h2><p>The ' || w.thing || ': ' || w.symptom || ' ' || w.context || ', often after trouble '
         || 'with the ' || w.other || ' (' || w.symptom2 || ').</p>'
         || '<h2>Workaround</h2><ol><li>Try ' || w.fix || '.</li><li>If it still fails, try ' || w.fix2 || '.</li></ol>'
         || '<h2>Cause</h2><p>A known issue with the ' || w.thing || ' ' || w.context || '.</p>' AS html,
       CASE WHEN g % 5 = 0 THEN 'agents' ELSE 'requesters' END AS audience,
       (ARRAY['hardware', 'software', 'network', 'access', 'how-to'])[1 + g % 5] AS category,
       ARRAY[lower(split_part(w.thing, ' ', 1))]::varchar(50)[] AS tags,
       now() - (g % 365) * interval '1 day' AS published_at
FROM generate_series($1::bigint, $1::bigint + $3 - 1) AS g
CROSS JOIN LATERAL (
    SELECT pg_temp.pick($4) AS thing, pg_temp.pick($4) AS other, pg_temp.pick($5) AS symptom,
           pg_temp.pick($5) AS symptom2, pg_temp.pick($6) AS context, pg_temp.pick($7) AS fix,
           pg_temp.pick($7) AS fix2, g AS n
) AS w
"""

INSERT_ARTICLES = """
INSERT INTO articles (id, number, title, body, state, published_version, latest_version, audience, category, tags,
                      source, review_by, views, helpful, not_helpful, attached, created_by, created_at, updated_at,
                      version)
SELECT id, number, title, body, 'published', 1, 1, audience, category, tags, 'written',
       (published_at + interval '365 days')::date, 0, 0, 0, 0, 'bench-writer', published_at, published_at, 3
FROM bench_articles ON CONFLICT DO NOTHING
"""

INSERT_VERSIONS = """
INSERT INTO article_versions (article_id, number, state, title, body, html, written_by, written_at, submitted_at,
                              approved_by, published_at)
SELECT id, 1, 'published', title, body, html, 'bench-writer', published_at, published_at, 'bench-approver',
       published_at
FROM bench_articles ON CONFLICT DO NOTHING
"""


def ms(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 50), 2), "p99_ms": round(percentile(values, 99), 2),
            "max_ms": round(max(values), 2)}


# --- data ---------------------------------------------------------------------------------------------------------

async def _batches(url: str, number_prefix: str, total: int, write) -> tuple[int, float]:
    """Rows FIRST+1 .. FIRST+total in batches; a batch whose last row is there is skipped. (written, seconds)"""
    connection = await asyncpg.connect(url)
    written, started = 0, time.perf_counter()
    try:
        await connection.execute(PICK)
        table = "incidents" if number_prefix == "INC" else "articles"
        for first in range(1, total + 1, BATCH):
            size = min(BATCH, total - first + 1)
            last = f"{number_prefix}{FIRST + first + size - 1}"
            if await connection.fetchval(f"SELECT 1 FROM {table} WHERE number = $1", last):
                continue
            async with connection.transaction():
                await write(connection, first, size)
            written += size
        if written:
            # What autovacuum would do after such a load, now rather than while the searches are timed.
            await connection.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await connection.close()
    return written, time.perf_counter() - started


async def load_incidents(incidents_db: str, total: int = INCIDENTS) -> dict:
    async def write(connection: asyncpg.Connection, first: int, size: int) -> None:
        await connection.execute(INSERT_INCIDENTS, first, FIRST, size, THINGS, SYMPTOMS, CONTEXTS, FIXES, GROUPS,
                                 CALLERS)

    written, seconds = await _batches(incidents_db, "INC", total, write)
    return {"rows": total, "written": written, "load_s": round(seconds, 1)}


async def load_articles(knowledge_db: str, total: int = ARTICLES) -> dict:
    async def write(connection: asyncpg.Connection, first: int, size: int) -> None:
        await connection.execute(ARTICLE_ROWS, first, FIRST, size, THINGS, SYMPTOMS, CONTEXTS, FIXES)
        await connection.execute(INSERT_ARTICLES)
        await connection.execute(INSERT_VERSIONS)

    written, seconds = await _batches(knowledge_db, "KB", total, write)
    return {"rows": total, "written": written, "load_s": round(seconds, 1)}


# --- queries ------------------------------------------------------------------------------------------------------

def misspelled(word: str, rng: random.Random) -> str:
    """The word with one typo inside it: a letter dropped, doubled, or two swapped."""
    at = rng.randrange(1, len(word) - 2)
    kind = rng.choice(("drop", "double", "swap"))
    if kind == "drop":
        return word[:at] + word[at + 1:]
    if kind == "double":
        return word[:at] + word[at] + word[at:]
    return word[:at] + word[at + 1] + word[at] + word[at + 2:]


def queries(count: int = QUERIES, seed: int = 18) -> list[str]:
    """1 to 4 words each: most from one incident's likely title (a thing, a symptom, a circumstance), some drawn
    from the whole vocabulary at random; a third with a misspelled word of five letters or more."""
    rng = random.Random(seed)
    vocabulary = sorted({w for phrase in THINGS + SYMPTOMS + CONTEXTS + FIXES for w in phrase.lower().split()
                         if len(w) > 3})
    texts = []
    for n in range(count):
        size = rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
        if n % 4 == 3:
            chosen = rng.sample(vocabulary, size)
        else:
            title = f"{rng.choice(THINGS)} {rng.choice(SYMPTOMS)} {rng.choice(CONTEXTS)}".lower().split()
            words = [w for w in title if len(w) > 2]
            chosen = [words[0], *rng.sample(words[1:], min(size - 1, len(words) - 1))]
        if n % 3 == 0:
            long = [i for i, w in enumerate(chosen) if len(w) >= 5]
            if long:
                i = rng.choice(long)
                chosen[i] = misspelled(chosen[i], rng)
        texts.append(" ".join(chosen))
    return texts


# --- measuring ----------------------------------------------------------------------------------------------------

async def timed(client: httpx.AsyncClient, path: str, texts: list[str], params: dict, items=None) -> dict:
    """Each text once after a warm-up pass: p50/p99/max, and how many found anything."""
    async def one(q: str) -> tuple[float, int]:
        started = time.perf_counter()
        response = await client.get(path, params={"q": q, "limit": str(LIMIT), **params})
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        body = response.json()
        return elapsed, len(items(body) if items else body)

    for q in texts:
        await one(q)
    latencies, found = [], 0
    for q in texts:
        elapsed, hits = await one(q)
        latencies.append(elapsed)
        found += hits > 0
    return {"queries": len(texts), "found_something": found, **ms(latencies), "target_p99_ms": TARGET_P99_MS}


async def sql_timed(database: str, texts: list[str], table, spec, columns, where) -> dict:
    """The ranked search as the service runs it (itsm_kit.search.ranked), straight on its database: what the
    database spends, apart from HTTP, signing and the service (each query once after a warm-up pass)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from itsm_kit.search import ranked

    engine = create_async_engine(database.replace("postgresql://", "postgresql+asyncpg://"))
    latencies, found = [], 0
    try:
        for timing in (False, True):
            for q in texts:
                async with async_sessionmaker(engine)() as session:
                    started = time.perf_counter()
                    hits = await ranked(session, table, spec, q, columns, limit=LIMIT, where=where)
                    if timing:
                        latencies.append((time.perf_counter() - started) * 1000)
                        found += bool(hits)
    finally:
        await engine.dispose()
    return {"queries": len(texts), "found_something": found, **ms(latencies), "target_p99_ms": TARGET_P99_MS}


async def settled(most_seconds: float = 60, load: float = 1.5) -> float:
    """Wait (at most `most_seconds`) for the work the load left behind (autovacuum, index merges, the relays) to
    end: the timings are of searches, not of the load. Returns the seconds waited."""
    started = time.monotonic()
    while os.getloadavg()[0] > load and time.monotonic() - started < most_seconds:
        await asyncio.sleep(2)
    return round(time.monotonic() - started, 1)


async def run(gateway_url: str, secret: str, incidents_url: str, knowledge_url: str, internal_key: str,
              server: str) -> dict:
    from itsm_gateway.auth import issue_token

    incidents_db, knowledge_db = f"{server}/itsm_incidents", f"{server}/itsm_knowledge"
    loaded_incidents, loaded_articles = await asyncio.gather(load_incidents(incidents_db),
                                                             load_articles(knowledge_db))
    texts = queries()
    waited = await settled()
    # Other work on the machine shows in every figure: the load average when the timing starts, and when it ends.
    figures: dict = {"load_average": [round(os.getloadavg()[0], 1)], "settled_after_s": waited}
    figures["data"] = {"incidents": loaded_incidents, "articles": loaded_articles}
    from itsm_incidents.store import INCIDENT_SEARCH, incidents
    from itsm_knowledge.store.tables import ARTICLE_SEARCH, articles
    from sqlalchemy import true

    i, a = incidents.c, articles.c
    figures["incidents_sql"] = await sql_timed(incidents_db, texts, incidents, INCIDENT_SEARCH,
                                               [i.id, i.number, i.short_description, i.state, i.priority, i.caller],
                                               true())
    figures["articles_sql"] = await sql_timed(knowledge_db, texts, articles, ARTICLE_SEARCH,
                                              [a.id, a.number, a.title, a.state, a.audience],
                                              (a.state == "published") & (a.audience == "requesters"))
    async with httpx.AsyncClient(base_url=incidents_url, timeout=60, auth=signed_for("incidents", internal_key)) as c:
        figures["incidents_direct"] = await timed(c, "/incidents/search", texts, {})
    async with httpx.AsyncClient(base_url=knowledge_url, timeout=60, auth=signed_for("knowledge", internal_key)) as c:
        figures["articles_direct"] = await timed(c, "/articles/search", texts, {"reader": "requester"})
    for role, subject in (("agent", "bench-search-agent"), ("requester", "bench-caller-7")):
        headers = {"authorization": f"Bearer {issue_token(secret, subject, [role])}"}
        async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=60) as c:
            figures[f"gateway_{role}"] = await timed(c, "/api/v1/search", texts, {}, items=lambda body: body["items"])
    figures["load_average"].append(round(os.getloadavg()[0], 1))
    return {"search": figures}


async def alone(platform, secret: str, incidents_db: str) -> dict:
    """This benchmark without the others (`python -m bench.search`)."""
    return await run(platform.url("gateway"), secret, platform.url("incidents"), platform.url("knowledge"),
                     platform.internal_key, incidents_db.rsplit("/", 1)[0])


def standalone() -> int:
    """A stack and ports of its own: `make bench` or another benchmark may be running on the `bench` stack."""
    from bench.__main__ import main

    return main(alone, stack_name="bench-search", pg_port=25610, kafka_port=29610, base_port=21400)


if __name__ == "__main__":
    sys.exit(standalone())
