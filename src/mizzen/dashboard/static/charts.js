// Line charts over time in SVG: one y axis, nice ticks, gaps where there is no data.

import { clock, fmt, h, s } from "./dom.js";

export const PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#7c3aed", "#d97706", "#0891b2", "#db2777"];
const PAD = { left: 52, right: 12, top: 10, bottom: 24 };

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// series: [{name, points: [[t, value|null], ...]}]
export function lineChart({ title, series, unit = "", testid, width = 620, height = 220 }) {
  const all = series.flatMap((sr) => sr.points.map((p) => p[1])).filter((v) => v !== null && v !== undefined);
  const ts = series.flatMap((sr) => sr.points.map((p) => p[0]));
  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts);
  const yMax = niceMax(Math.max(0, ...all));
  const W = width - PAD.left - PAD.right;
  const H = height - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * W : W / 2);
  const y = (v) => PAD.top + H - (v / yMax) * H;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, "data-testid": testid });
  const grid = s("g", { class: "grid" });
  const axis = s("g", { class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    grid.append(s("line", { x1: PAD.left, x2: PAD.left + W, y1: y(v), y2: y(v) }));
    axis.append(s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, `${fmt(v)}${unit}`));
  }
  if (ts.length) {
    for (let i = 0; i <= 4; i++) {
      const t = t0 + ((t1 - t0) * i) / 4;
      axis.append(s("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, clock(t)));
    }
  }
  svg.append(grid, axis);
  series.forEach((sr, i) => {
    let d = "";
    let pen = false;
    for (const [t, v] of sr.points) {
      if (v === null || v === undefined) { pen = false; continue; }
      d += `${pen ? "L" : "M"} ${x(t).toFixed(1)} ${y(v).toFixed(1)} `;
      pen = true;
    }
    if (d) svg.append(s("path", { class: "line", d, stroke: PALETTE[i % PALETTE.length], "data-series": sr.name }));
  });
  const legend = h("div", { class: "chart-legend" }, series.map((sr, i) => {
    const swatch = h("i");
    swatch.style.background = PALETTE[i % PALETTE.length];
    return h("span", {}, swatch, sr.name);
  }));
  return h("div", { class: "panel" }, h("h2", {}, title), svg, legend);
}
