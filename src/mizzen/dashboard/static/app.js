// The dashboard app: a hash router, one render function per page, live refresh every 2 seconds.

import { AuthError, NotFound, getJSON, login, logout } from "./api.js";
import { lineChart } from "./charts.js";
import { clock, fmt, h, ms, pct } from "./dom.js";
import { renderGraph } from "./graph.js";
import { toYaml } from "./yaml.js";

const REFRESH_MS = 2000;
const view = document.getElementById("view");
const statusEl = document.getElementById("status");
let generation = 0;  // bumps on navigation; stale refresh loops stop themselves
let graphWindow = 60;

// ---- pages: each returns an async refresh() that (re)draws the page from fresh API data ----

function graphPage() {
  const canvas = h("div", { class: "graph-wrap" });
  const table = h("div");
  const select = h("select", { "data-testid": "graph-window", onchange: (e) => { graphWindow = Number(e.target.value); } },
    [30, 60, 300, 600].map((w) => h("option", { value: w, selected: w === graphWindow }, w < 60 ? `${w}s` : `${w / 60} min`)));
  view.replaceChildren(
    h("h1", {}, "Mesh graph ", h("span", { class: "muted" }, "— traffic over the last "), select),
    h("p", { class: "legend" }, legendItem("gateway", "Gateway"), legendItem("service", "Service"),
      legendItem("workload", "Workload version"), legendItem("unknown", "Unknown source")),
    canvas, table);
  return async () => {
    const data = await getJSON(`/api/mizzen/v1/graph?window=${graphWindow}`);
    if (!data.nodes.length) {
      canvas.replaceChildren(h("p", { class: "muted", "data-testid": "graph-empty" },
        "No traffic yet. Send some requests through the mesh (for Bookinfo: curl http://127.0.0.1:8080/productpage)."));
      table.replaceChildren();
      return;
    }
    canvas.replaceChildren(renderGraph(data, (node) => {
      if (node.type === "service") location.hash = `#/service/${encodeURIComponent(node.hostname)}`;
    }));
    table.replaceChildren(edgeTable(data));
  };
}

function legendItem(type, text) {
  const dot = h("i");
  dot.style.background = `var(--${type})`;
  return h("span", {}, dot, text);
}

function edgeTable(data) {
  const label = new Map(data.nodes.map((n) => [n.id, n.type === "service" ? `${n.label} (service)` : n.label]));
  return h("div", { class: "panel" }, h("h2", {}, "Edges"), h("table", {},
    h("thead", {}, h("tr", {}, ["From", "To", "Req/s", "Errors", "p50", "p99", "Share"].map((c) => h("th", {}, c)))),
    h("tbody", {}, data.edges.map((e) => h("tr", { "data-testid": "edge-row", "data-source": e.source, "data-target": e.target },
      h("td", {}, label.get(e.source) ?? e.source), h("td", {}, label.get(e.target) ?? e.target),
      h("td", { class: "num" }, fmt(e.rps)), h("td", { class: "num" }, pct(e.errorRate)),
      h("td", { class: "num" }, ms(e.p50)), h("td", { class: "num" }, ms(e.p99)),
      h("td", { class: "num" }, e.share === undefined ? "" : pct(e.share)))))));
}

function servicesPage() {
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Services"), body);
  return async () => {
    const data = await getJSON("/api/mizzen/v1/graph?window=60");
    const services = data.nodes.filter((n) => n.type === "service");
    const incoming = (id) => data.edges.filter((e) => e.target === id);
    body.replaceChildren(h("div", { class: "panel" }, services.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["Service", "Namespace", "Req/s (1 min)", "Error rate", "p99"].map((c) => h("th", {}, c)))),
      h("tbody", {}, services.map((n) => {
        const edges = incoming(n.id);
        const rps = edges.reduce((a, e) => a + e.rps, 0);
        const reqs = edges.reduce((a, e) => a + e.requests, 0);
        const errs = edges.reduce((a, e) => a + e.errors, 0);
        const p99 = Math.max(-1, ...edges.map((e) => e.p99 ?? -1));
        return h("tr", { "data-testid": "service-row" },
          h("td", {}, h("a", { href: `#/service/${encodeURIComponent(n.hostname)}` }, n.name)),
          h("td", {}, n.namespace), h("td", { class: "num" }, fmt(rps)),
          h("td", { class: "num" }, pct(reqs ? errs / reqs : 0)), h("td", { class: "num" }, ms(p99 < 0 ? null : p99)));
      }))) : h("p", { class: "muted" }, "No service has received traffic yet.")));
  };
}

function servicePage(name) {
  const cards = h("div", { class: "cards" });
  const charts = h("div", { class: "row" });
  view.replaceChildren(h("h1", { "data-testid": "service-title" }, name), cards, charts);
  return async () => {
    const d = await getJSON(`/api/mizzen/v1/services/${encodeURIComponent(name)}/metrics?window=600`);
    const sm = d.summary;
    cards.replaceChildren(...[["Requests/s (10 min)", fmt(sm.rps)], ["Error rate", pct(sm.errorRate)],
      ["p50", ms(sm.p50)], ["p90", ms(sm.p90)], ["p99", ms(sm.p99)]].map(([k, v]) =>
      h("div", { class: "card", "data-testid": "service-stat" }, h("div", { class: "v" }, v), h("div", { class: "k" }, k))));
    if (!d.found) {
      charts.replaceChildren(h("p", { class: "muted" }, `No traffic to ${name} yet.`));
      return;
    }
    const at = (key) => d.points.map((p) => [p.t, p[key]]);
    const rate = [{ name: "total", points: at("rps") },
      ...Object.entries(d.versions).map(([v, values]) => ({ name: v, points: values.map((val, i) => [d.points[i].t, val]) }))];
    const errors = [{ name: "error rate %", points: d.points.map((p) => [p.t, p.requests ? p.errorRate * 100 : null]) }];
    const latency = ["p50", "p90", "p99"].map((q) => ({ name: q, points: at(q) }));
    const width = Math.max(420, Math.floor((charts.clientWidth || 1200) / 2) - 40);
    charts.replaceChildren(
      lineChart({ title: "Request rate (req/s)", series: rate, testid: "chart-rps", width }),
      lineChart({ title: "Error rate", series: errors, unit: "%", testid: "chart-errors", width }),
      lineChart({ title: "Latency (ms)", series: latency, testid: "chart-latency", width }));
  };
}

function proxiesPage() {
  const body = h("div", { class: "panel" });
  view.replaceChildren(h("h1", {}, "Proxies"), body);
  const types = ["CDS", "LDS", "EDS", "RDS"];
  return async () => {
    const data = await getJSON("/api/mizzen/v1/proxies");
    const items = Array.isArray(data) ? data : (data.items ?? []);
    const status = (p, t) => p.xds?.[t]?.status ?? p.status?.[t] ?? p[t] ?? "NOT SENT";
    body.replaceChildren(items.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["Proxy", "Type", "Host", ...types, "Envoy"].map((c) => h("th", {}, c)))),
      h("tbody", {}, items.map((p) => h("tr", { "data-testid": "proxy-row", "data-proxy-id": p.id },
        h("td", {}, p.id), h("td", {}, p.type), h("td", { "data-testid": "proxy-host" }, p.host ?? ""),
        types.map((t) => h("td", {}, h("span", { class: `badge ${String(status(p, t)).replace(" ", "-")}`,
          "data-testid": `sync-${t}` }, status(p, t)))),
        h("td", { class: "muted" }, p.envoyVersion ?? ""))))) : h("p", { class: "muted" }, "No proxy is connected."));
  };
}

// [kind, list path, heading]; the Gateway API's objects show with the status the control plane computes.
const ISTIO = "/apis/networking.istio.io/v1", GATEWAY_API = "/apis/gateway.networking.k8s.io/v1";
const CONFIG_KINDS = [
  ["VirtualService", `${ISTIO}/virtualservices`, "VirtualServices"],
  ["DestinationRule", `${ISTIO}/destinationrules`, "DestinationRules"],
  ["Gateway", `${ISTIO}/gateways`, "Gateways"],
  ["KubernetesGateway", `${GATEWAY_API}/gateways`, "Gateways (Gateway API)"],
  ["HTTPRoute", `${GATEWAY_API}/httproutes`, "HTTPRoutes"],
  ["GRPCRoute", `${GATEWAY_API}/grpcroutes`, "GRPCRoutes"],
  ["TCPRoute", `${GATEWAY_API}/tcproutes`, "TCPRoutes"],
  ["TLSRoute", `${GATEWAY_API}/tlsroutes`, "TLSRoutes"],
];

function configPage() {
  const warnings = h("div");
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Applied config"), warnings, body);
  return async () => {
    const lists = await Promise.all(CONFIG_KINDS.map(([, path]) => getJSON(path)
      .catch((e) => { if (e instanceof NotFound) return { items: [] }; throw e; })));
    const open = new Set([...body.querySelectorAll("details[open]")].map((d) => d.dataset.key));
    body.replaceChildren(...CONFIG_KINDS.map(([kind, , heading], i) => h("div", { class: "panel", "data-testid": `config-${kind}` },
      h("h2", {}, `${heading} (${lists[i].items?.length ?? 0})`),
      (lists[i].items ?? []).map((item) => {
        const key = `${kind}/${item.metadata?.namespace}/${item.metadata?.name}`;
        return h("details", { class: "resource", "data-key": key, open: open.has(key), "data-testid": "config-resource" },
          h("summary", {}, `${item.metadata?.namespace}/${item.metadata?.name}`),
          h("pre", { class: "yaml" }, toYaml(cleanResource(item, kind))));
      }))));
    warnings.replaceChildren(await analyzerPanel());
  };
}

function cleanResource(item, kind) {
  const { managedFields, uid, resourceVersion, generation: gen, ...metadata } = item.metadata ?? {};
  const out = { apiVersion: item.apiVersion ?? "networking.istio.io/v1", kind: item.kind ?? kind, metadata, spec: item.spec };
  if (item.status) out.status = item.status;
  return out;
}

async function analyzerPanel() {
  let data;
  try {
    data = await getJSON("/api/mizzen/v1/analyze");
  } catch (e) {
    if (e instanceof NotFound) return h("span");  // this control plane has no analyzer endpoint
    throw e;
  }
  const messages = Array.isArray(data) ? data : (data.messages ?? data.items ?? data.report ?? []);
  if (!messages.length) return h("div", { class: "panel", "data-testid": "analyzer" }, h("span", { class: "badge ok" }, "✔"), " No analyzer warnings.");
  return h("div", { class: "panel", "data-testid": "analyzer" }, h("h2", {}, `Analyzer (${messages.length})`), h("table", {},
    h("tbody", {}, messages.map((m) => h("tr", { "data-testid": "analyzer-message" },
      h("td", {}, h("span", { class: `badge ${m.level ?? m.severity ?? "Warning"}` }, m.level ?? m.severity ?? "Warning")),
      h("td", {}, h("code", {}, m.code ?? "")), h("td", {}, m.message ?? m.description ?? JSON.stringify(m)),
      h("td", { class: "muted" }, m.resource ?? m.origin ?? ""))))));
}

function tracesPage() {
  const body = h("div", { class: "panel" });
  view.replaceChildren(h("h1", {}, "Recent traces"), body);
  return async () => {
    const { traces } = await getJSON("/api/mizzen/v1/traces?limit=100");
    body.replaceChildren(traces.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["Started", "Root", "Duration", "Spans", "Services", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, traces.map((t) => h("tr", { "data-testid": "trace-row", "data-trace-id": t.traceId },
        h("td", {}, clock(t.start / 1e6)),
        h("td", {}, h("a", { href: `#/trace/${t.traceId}` }, `${t.rootService}: ${t.name}`)),
        h("td", { class: "num" }, ms(t.durationMs)), h("td", { class: "num" }, t.spanCount),
        h("td", {}, t.services.join(", ")),
        h("td", {}, t.error ? h("span", { class: "badge err" }, "error") : "")))))
      : h("p", { class: "muted" }, "No traces yet. Sampled requests appear here (Istio samples 1% by default)."));
  };
}

function tracePage(id) {
  const head = h("div");
  const body = h("div", { class: "panel timeline", "data-testid": "trace-timeline" });
  view.replaceChildren(h("h1", {}, "Trace ", h("code", {}, id)), head, body);
  return async () => {
    const { summary, spans } = await getJSON(`/api/mizzen/v1/traces/${encodeURIComponent(id)}`);
    head.replaceChildren(h("div", { class: "cards" },
      [["Duration", ms(summary.durationMs)], ["Spans", summary.spanCount], ["Services", summary.services.join(", ")]]
        .map(([k, v]) => h("div", { class: "card" }, h("div", { class: "v" }, v), h("div", { class: "k" }, k)))));
    const total = Math.max(1, summary.durationMs * 1000);
    body.replaceChildren(...spans.map((sp) => {
      const bar = h("div", { class: "bar" });
      bar.style.left = `${((sp.timestamp - summary.start) / total) * 100}%`;
      bar.style.width = `${Math.max(0.3, (sp.duration / total) * 100)}%`;
      const name = h("div", { class: "name", title: sp.name }, `${sp.service} · ${sp.name}`);
      name.style.paddingLeft = `${sp.depth * 14}px`;
      return h("div", { class: `span-row${sp.error ? " error" : ""}`, "data-testid": "trace-span", "data-service": sp.service },
        name, h("div", { class: "bar-track" }, bar), h("div", { class: "num" }, ms(sp.duration / 1000)));
    }));
  };
}

// ---- shell: routing, refresh loop, login ----

const ROUTES = [
  [/^#\/graph$/, () => graphPage()],
  [/^#\/services$/, () => servicesPage()],
  [/^#\/service\/(.+)$/, (m) => servicePage(decodeURIComponent(m[1]))],
  [/^#\/proxies$/, () => proxiesPage()],
  [/^#\/config$/, () => configPage()],
  [/^#\/traces$/, () => tracesPage()],
  [/^#\/trace\/(.+)$/, (m) => tracePage(decodeURIComponent(m[1]))],
];

function showLogin(message = "") {
  generation++;
  document.body.classList.add("logged-out");
  view.replaceChildren(document.getElementById("login-template").content.cloneNode(true));
  document.getElementById("login-error").textContent = message;
  document.getElementById("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = new FormData(e.target).get("token");
    if (await login(String(token).trim())) {
      document.body.classList.remove("logged-out");
      if (!location.hash || location.hash.startsWith("#/login")) location.hash = "#/graph";
      else route();
    } else {
      document.getElementById("login-error").textContent = "That token is not valid for this control plane.";
    }
  });
}

async function loop(refresh, gen) {
  while (gen === generation) {
    try {
      await refresh();
      statusEl.textContent = `live · updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
    } catch (e) {
      if (e instanceof AuthError) { showLogin(); return; }
      statusEl.textContent = `offline: ${e.message}`;
    }
    await new Promise((r) => setTimeout(r, REFRESH_MS));
  }
}

function route() {
  const hash = location.hash || "#/graph";
  if (hash.startsWith("#/login")) {
    showLogin(hash.includes("error=invalid") ? "That link's token is not valid for this control plane." : "");
    return;
  }
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", hash.startsWith(`#/${a.dataset.page}`));
  for (const [re, page] of ROUTES) {
    const m = hash.match(re);
    if (m) {
      const gen = ++generation;
      loop(page(m), gen);
      return;
    }
  }
  location.hash = "#/graph";
}

document.getElementById("logout").addEventListener("click", async () => { await logout(); showLogin(); });
window.addEventListener("hashchange", route);
route();
