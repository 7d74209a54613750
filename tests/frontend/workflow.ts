// A service desk's screen, as a frontend team writes it: signed in with the organisation's provider
// (tokens from a test issuer), a live incident list kept current over Server-Sent Events, and a
// change that an agent submits and a change manager approves. Typed by ./api.d.ts like client.ts.
import createClient from "openapi-fetch";
import { EventSource } from "eventsource";
import type { components, paths } from "./api.js";

type Incident = components["schemas"]["IncidentPublic"];
type Change = components["schemas"]["ChangePublic"];

const base = process.env.GATEWAY ?? "";
const tag = process.env.TAG ?? "frontend";
const signedIn = (token: string | undefined) =>
  createClient<paths>({ baseUrl: base, headers: { authorization: `Bearer ${token}` } });
const agent = signedIn(process.env.AGENT_TOKEN);
const manager = signedIn(process.env.MANAGER_TOKEN);

// Who am I, and what may I do: the screen shows the approve button only to a change manager.
const me = await manager.GET("/api/v1/me");
if (!me.data) throw new Error(`me: ${JSON.stringify(me.error)}`);

// The live list: every incident event updates the row it names. EventSource cannot set headers
// itself; the library's fetch hook adds the bearer token (never a token in the URL).
const rows = new Map<string, { state?: string; assignment_group?: string | null; events: string[] }>();
const stream = new EventSource(`${base}/api/v1/stream?type=incident`, {
  fetch: (url, init) =>
    fetch(url, { ...init, headers: { ...init.headers, authorization: `Bearer ${process.env.AGENT_TOKEN}` } }),
});
const opened = new Promise<void>((resolve, reject) => {
  stream.addEventListener("open", () => resolve());
  stream.addEventListener("error", (event) => reject(new Error(`stream: ${event.message ?? "error"}`)));
});
stream.addEventListener("message", (message) => {
  const event = JSON.parse(message.data) as { type: string; subject: string; data: Record<string, unknown> };
  const row = rows.get(event.subject) ?? { events: [] };
  row.events.push(event.type);
  if (typeof event.data.state === "string") row.state = event.data.state;
  if (typeof event.data.to_state === "string") row.state = event.data.to_state;
  if ("assignment_group" in event.data) row.assignment_group = event.data.assignment_group as string | null;
  rows.set(event.subject, row);
});
await opened;

const until = async (done: () => boolean, what: string) => {
  for (let waited = 0; !done(); waited += 50) {
    if (waited > 20_000) throw new Error(`the live list never showed ${what}: ${JSON.stringify([...rows])}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const created = await agent.POST("/api/v1/incidents", {
  body: { short_description: `payments time out ${tag}`, impact: 2, urgency: 2 },
});
if (!created.data) throw new Error(`open: ${JSON.stringify(created.error)}`);
const incident: Incident = created.data;
await until(() => rows.has(incident.id), "the new incident");
const assigned = await agent.PATCH("/api/v1/incidents/{incident_id}", {
  params: { path: { incident_id: incident.id } },
  body: { assignment_group: `payments-${tag}` },
});
if (!assigned.data) throw new Error(`assign: ${JSON.stringify(assigned.error)}`);
await until(() => rows.get(incident.id)?.assignment_group === `payments-${tag}`, "the assignment");
stream.close();

// A normal change: an agent prepares and submits it; only a change manager may decide on it.
const hour = 3_600_000;
const requested = await agent.POST("/api/v1/changes", {
  body: {
    short_description: `rotate the payment gateway's certificate ${tag}`, change_type: "normal",
    planned_start: new Date(Date.now() + 24 * hour).toISOString(),
    planned_end: new Date(Date.now() + 25 * hour).toISOString(),
    // What authorization needs (the gateway's 422 lists what is missing).
    affected_cis: [`payment-gateway-${tag}`],
    implementation_plan: "install the new certificate, reload the gateway",
    backout_plan: "reinstall the old certificate",
    test_plan: "a test payment end to end",
  },
});
if (!requested.data) throw new Error(`request: ${JSON.stringify(requested.error)}`);
let change: Change = requested.data;
for (const state of ["assess", "authorize"] as const) {
  const moved = await agent.POST("/api/v1/changes/{change_id}/state", {
    params: { path: { change_id: change.id } }, body: { state },
  });
  if (!moved.data) throw new Error(`move to ${state}: ${JSON.stringify(moved.error)}`);
  change = moved.data;
}
const byAgent = await agent.POST("/api/v1/changes/{change_id}/approvals", {
  params: { path: { change_id: change.id } }, body: { decision: "approve" },
});
const approved = await manager.POST("/api/v1/changes/{change_id}/approvals", {
  params: { path: { change_id: change.id } }, body: { decision: "approve", comment: "window agreed with payments" },
});
if (!approved.data) throw new Error(`approve: ${JSON.stringify(approved.error)}`);

console.log(JSON.stringify({
  me: me.data,
  live: rows.get(incident.id),
  agent_approval: { status: byAgent.response.status, role: (byAgent.error as { role?: string } | undefined)?.role },
  approved: { state: approved.data.state, approvals: approved.data.approvals.map((a) => [a.approver, a.decision]) },
}));
