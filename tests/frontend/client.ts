// A frontend team's code against the gateway, typed by the types generated from its OpenAPI
// (./api.d.ts). It must compile under --strict: a renamed field or route fails the build.
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type Incident = components["schemas"]["IncidentPublic"];

const gateway = createClient<paths>({
  baseUrl: process.env.GATEWAY,
  headers: { authorization: `Bearer ${process.env.TOKEN}` },
});
const tag = process.env.TAG ?? "frontend";

const opened = await gateway.POST("/api/v1/incidents", {
  body: { short_description: `checkout is slow ${tag}`, impact: 2, urgency: 1 },
});
if (!opened.data) throw new Error(`open: ${JSON.stringify(opened.error)}`);
const incident: Incident = opened.data;

const listed = await gateway.GET("/api/v1/incidents", { params: { query: { q: tag, limit: 10 } } });
if (!listed.data) throw new Error(`list: ${JSON.stringify(listed.error)}`);

const imported = await gateway.POST("/api/v1/cmdb/imports", {
  body: {
    source: "frontend-test",
    items: [
      { ref: "app", ci_class: "application", name: `storefront ${tag}`, criticality: 2 },
      { ref: "svc", ci_class: "business_service", name: `shop ${tag}`, criticality: 1 },
    ],
    relationships: [{ source: "svc", type: "depends_on", target: "app" }],
  },
});
if (!imported.data) throw new Error(`import: ${JSON.stringify(imported.error)}`);
const app = imported.data.items.find((item) => item.ref === "app");
const impact = await gateway.GET("/api/v1/cmdb/cis/{ci_id}/impact", {
  params: { path: { ci_id: app?.ci_id ?? "" } },
});

// Bad input: the error is the problem+json document, typed as the route documents it.
const refused = await gateway.POST("/api/v1/incidents", { body: { short_description: "", impact: 2, urgency: 2 } });

console.log(JSON.stringify({
  opened: { id: incident.id, number: incident.number, priority: incident.priority, state: incident.state },
  listed: listed.data.items.map((i) => i.id),
  imported: imported.data.counts,
  impacted_services: impact.data?.business_services.map((s) => s.name),
  refused: { status: refused.response.status, type: refused.response.headers.get("content-type") },
}));
