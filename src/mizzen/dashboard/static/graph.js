// The mesh graph: a layered left-to-right layout (longest path from the entry points, then
// barycentre ordering to reduce crossings) drawn as SVG. Deterministic for the same data, so the
// picture does not jump between 2-second refreshes.

import { fmt, s } from "./dom.js";

const COL = 250;        // horizontal distance between layers
const ROW = 120;        // vertical distance between nodes of a layer
const MARGIN = 70;
const R = 18;           // node radius
const TYPE_ORDER = { gateway: 0, unknown: 1, workload: 2, service: 3 };

export function layout(nodes, edges) {
  const out = new Map(nodes.map((n) => [n.id, []]));
  const indeg = new Map(nodes.map((n) => [n.id, 0]));
  for (const e of edges) {
    if (!out.has(e.source) || !out.has(e.target)) continue;
    out.get(e.source).push(e.target);
    indeg.set(e.target, indeg.get(e.target) + 1);
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const order = (a, b) => (TYPE_ORDER[byId.get(a).type] - TYPE_ORDER[byId.get(b).type]) || a.localeCompare(b);
  const rank = new Map();
  const visit = (id, depth, stack) => {
    if (stack.has(id) || (rank.get(id) ?? -1) >= depth) return;  // back edge, or already deeper
    rank.set(id, depth);
    stack.add(id);
    for (const t of out.get(id)) visit(t, depth + 1, stack);
    stack.delete(id);
  };
  const ids = nodes.map((n) => n.id).sort(order);
  for (const id of ids.filter((i) => indeg.get(i) === 0)) visit(id, 0, new Set());
  for (const id of ids) if (!rank.has(id)) visit(id, 0, new Set());  // nodes only reachable in cycles

  const layers = [];
  for (const id of ids) (layers[rank.get(id)] ??= []).push(id);
  const pos = new Map();
  const preds = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) if (preds.has(e.target)) preds.get(e.target).push(e.source);
  layers.forEach((layer, r) => {
    if (r > 0) {
      const bary = (id) => {
        const ys = preds.get(id).filter((p) => pos.has(p)).map((p) => pos.get(p).y);
        return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : Infinity;
      };
      layer.sort((a, b) => (bary(a) - bary(b)) || order(a, b));
    }
    layer.forEach((id, i) => pos.set(id, { x: MARGIN + r * COL, y: MARGIN + i * ROW, rank: r }));
  });
  const tallest = Math.max(1, ...layers.map((l) => l.length));
  for (const layer of layers) {  // centre each layer vertically
    const shift = ((tallest - layer.length) * ROW) / 2;
    for (const id of layer) pos.get(id).y += shift;
  }
  return { pos, width: MARGIN * 2 + Math.max(0, layers.length - 1) * COL + 120, height: MARGIN * 2 + (tallest - 1) * ROW + 30 };
}

function shape(node) {
  switch (node.type) {
    case "gateway":
      return s("rect", { class: "shape", x: -R, y: -R, width: 2 * R, height: 2 * R, rx: 4, transform: "rotate(45)" });
    case "service":
      return s("polygon", { class: "shape", points: `0,${-R - 2} ${R + 2},${R - 2} ${-R - 2},${R - 2}` });
    default:
      return s("circle", { class: "shape", r: R });
  }
}

export function edgeState(edge) {
  if (!edge.requests) return "idle";
  if (edge.errorRate >= 0.1) return "failing";
  if (edge.errorRate > 0) return "degraded";
  return "active";
}

// What the destination's sidecar saw of the hop: Istio's connection_security_policy, as a label.
const SECURITY = { mutual_tls: "🔒 mTLS", none: "plaintext", mixed: "🔒 partly mTLS" };

function edgeLabel(edge) {
  if (!edge.requests) return ["idle"];
  const p99 = edge.p99 === null ? "–" : `${fmt(edge.p99, 1)} ms`;
  const lines = [`${fmt(edge.rps)} rps · ${fmt(edge.errorRate * 100, 1)}% err`, `p99 ${p99}`];
  const security = [SECURITY[edge.security], edge.denied ? `${edge.denied} denied` : ""].filter(Boolean);
  if (security.length) lines.push(security.join(" · "));
  return lines;
}

export function renderGraph(data, onNode) {
  const { pos, width, height } = layout(data.nodes, data.edges);
  // Scales down to the page width (CSS) but never above natural size, so labels stay legible.
  const svg = s("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, "data-testid": "graph" });
  svg.style.maxWidth = `${width}px`;
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#94a3b8" }))));
  const edgeLayer = s("g", {});
  const labelLayer = s("g", {});
  for (const e of data.edges) {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b) continue;
    const forward = b.rank > a.rank;
    const [x1, y1, x2, y2] = forward ? [a.x + R, a.y, b.x - R - 4, b.y] : [a.x, a.y + R, b.x, b.y + R + 4];
    const dx = Math.max(40, (x2 - x1) / 2);
    const d = forward
      ? `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`
      : `M ${x1} ${y1} C ${x1} ${y1 + 80}, ${x2} ${y2 + 80}, ${x2} ${y2}`;
    const state = edgeState(e);
    edgeLayer.append(s("g", { class: `edge ${state}`, "data-testid": "graph-edge", "data-source": e.source,
      "data-target": e.target, "data-rps": e.rps, "data-error-rate": e.errorRate,
      "data-security": e.security ?? "unknown", "data-denied": e.denied ?? 0 },
      s("path", { d, "marker-end": "url(#arrow)" }),
      s("title", {}, `${e.source} → ${e.target}\n${edgeLabel(e).join(" · ")}`)));
    const mx = (x1 + x2) / 2;
    const my = forward ? (y1 + y2) / 2 : Math.max(y1, y2) + 60;
    const lines = edgeLabel(e);
    const wide = Math.max(...lines.map((l) => l.length)) * 5.8;
    const g = s("g", { class: `edge ${state}`, "data-testid": "edge-label", "data-source": e.source, "data-target": e.target });
    g.append(s("rect", { class: "label-bg", x: mx - wide / 2, y: my - 9, width: wide, height: lines.length * 13 + 2, rx: 3 }));
    lines.forEach((line, i) => g.append(s("text", { x: mx, y: my + 2 + i * 13, "text-anchor": "middle" }, line)));
    if (e.share !== undefined) {
      g.append(s("text", { class: "share", x: mx, y: my - 13, "text-anchor": "middle", "data-testid": "edge-share",
        "data-source": e.source, "data-target": e.target, "data-share": e.share }, `${fmt(e.share * 100, 1)}%`));
    }
    labelLayer.append(g);
  }
  const nodeLayer = s("g", {});
  for (const n of data.nodes) {
    const p = pos.get(n.id);
    if (!p) continue;
    const g = s("g", { class: `node ${n.type}`, transform: `translate(${p.x},${p.y})`, "data-testid": "graph-node",
      "data-node-id": n.id, "data-type": n.type, onclick: () => onNode(n) },
      shape(n), s("text", { y: R + 16, "text-anchor": "middle" }, n.label),
      s("title", {}, `${n.type}: ${n.hostname || `${n.name}.${n.namespace}`}`));
    nodeLayer.append(g);
  }
  svg.append(edgeLayer, nodeLayer, labelLayer);
  return svg;
}
