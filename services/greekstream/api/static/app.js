// greekstream's desk-risk dashboard. Served with a strict Content-Security-Policy: no inline
// script or style, so every piece of data is set with textContent or setAttribute through
// el() below — never parsed as markup — and colours computed from data are set through the
// CSSOM (node.style), which the policy allows. The bearer token is kept in this tab's
// sessionStorage (typed into the login form), never in the URL. Charts: uPlot (MIT,
// its minified build from the npm registry, vendored as /static/uPlot.min.js).
"use strict";

import uPlot from "./uPlot.min.js";

const TOKEN_KEY = "greekstream.token";
const REFRESH_MS = 15000;
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d"];
// the charts: exposure field, title with its unit, the limit on it (a maximum of |value|,
// or a minimum), the breach metric whose openings are marked
const PANELS = [
  { field: "delta", title: "delta (coin)", unit: "coin", limit: "max_abs_delta", max: true, metric: "delta" },
  { field: "delta_usd", title: "delta (USD)", unit: "USD", limit: null, max: true, metric: null },
  { field: "gamma", title: "gamma (coin per USD)", unit: "coin per USD", limit: "max_abs_gamma", max: true, metric: "gamma" },
  { field: "vega", title: "vega (USD per vol point)", unit: "USD per vol point", limit: "max_abs_vega", max: true, metric: "vega" },
  { field: "theta", title: "theta (USD per day)", unit: "USD per day", limit: "min_theta", max: false, metric: "theta" },
];
const CLIP_PCT = [0.01, 0.99]; // y axes span these percentiles: one spike cannot flatten a chart

/** An element with attributes and text content. Event-handler and style attributes are
 * refused: behaviour is attached with addEventListener, looks come from app.css. */
export function el(tag, attrs = {}, text = undefined) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    const lower = name.toLowerCase();
    if (lower.startsWith("on") || lower === "style" || lower === "href" || lower === "src") {
      throw new Error(`el(): attribute ${name} is not allowed`);
    }
    node.setAttribute(name, String(value));
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ token and API

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  save: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

class Unauthorized extends Error {}

/** An answer other than 2xx or 401: its HTTP status and the service's detail. */
class HttpError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}: ${detail}`);
    this.status = status;
  }
}

/** The error an answer that is not 2xx stands for: the token refused (401), or the status
 * with the service's detail. */
async function refusal(res) {
  if (res.status === 401) return new Unauthorized("the token was refused");
  let detail = res.statusText;
  try { detail = (await res.json()).detail ?? detail; } catch { /* not JSON */ }
  return new HttpError(res.status, typeof detail === "string" ? detail : JSON.stringify(detail));
}

/** GET with the token; no answer at all (fetch's bare "Failed to fetch") is said in words. */
async function get(path) {
  try {
    return await fetch(path, {
      headers: { Authorization: "Bearer " + session.token() }, cache: "no-store", credentials: "omit",
    });
  } catch {
    throw new Error("the greekstream service did not answer (it may be restarting, or the network is down)");
  }
}

export async function api(path) {
  const res = await get(path);
  if (!res.ok) throw await refusal(res);
  return res.json();
}

/** /v1/books/{book}/... with the book percent-encoded (names may hold "/", "?", "#"). */
export function bookPath(book, what, query = {}) {
  const qs = new URLSearchParams(query).toString();
  return `/v1/books/${encodeURIComponent(book)}/${what}${qs ? "?" + qs : ""}`;
}

// Not secret: which book and bucket to show can be bookmarked (#book=...&bucket=...).
function wanted() {
  return new URLSearchParams(location.hash.slice(1));
}

// ------------------------------------------------------------------ formats

/** Fixed-point with thousands separators, never e-notation; small magnitudes keep 3
 * significant digits. */
export function num(v, digits = undefined) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  const d = digits ?? (a === 0 ? 0 : a >= 100 ? 0 : Math.min(8, 2 - Math.floor(Math.log10(a))));
  return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** A compact USD amount for ticks and cells: 12.3M, 450k, 980. */
export function usd(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + "B";
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(0) + "k";
  return v.toFixed(0);
}

/** A duration in seconds as h:mm:ss. */
export function hms(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  const pad = (x) => String(x).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

// a breach's value and limit in the unit of its metric (docs/contract.md); liq_distance is
// a fraction of the price, shown in %; an oracle breach's value is a spread or an age
const METRIC_UNITS = { delta: "coin", gamma: "coin per USD", vega: "USD per vol pt",
  theta: "USD per day", health_factor: "ratio", liq_distance: "% of price" };

/** A breach metric with its unit: "delta (coin)". */
export function metricLabel(metric) {
  const unit = METRIC_UNITS[metric];
  return unit ? `${metric} (${unit})` : metric;
}

/** A breach's value and limit, with as many decimals as it takes for a breached value not
 * to read as its limit (a health factor of 1.2483 against 1.25 is 1.248 / 1.250). */
export function breachNumbers(metric, value, limit) {
  const scale = metric === "liq_distance" ? 100 : 1;
  const show = (v, d) => (v === null || v === undefined ? "–" : num(v * scale, d) + (scale === 100 ? "%" : ""));
  const a = Math.abs((limit ?? value ?? 0) * scale);
  let d = a === 0 ? 0 : a >= 100 ? 0 : Math.min(8, 2 - Math.floor(Math.log10(a)));
  while (d < 8 && value !== limit && value !== null && limit !== null && show(value, d) === show(limit, d)) d += 1;
  return [show(value, d), show(limit, d)];
}

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const time = (iso) => (iso ? iso.slice(0, 19).replace("T", " ") : "–");
/** A Date as the API's RFC 3339 UTC (whole seconds without ".000"). */
const iso = (d) => d.toISOString().replace(".000Z", "Z");

/** One muted row across a table that has nothing to show. */
function emptyRow(table, text) {
  const tr = el("tr");
  tr.appendChild(el("td", { colspan: table.tHead.rows[0].cells.length, class: "muted wrap" }, text));
  table.tBodies[0].replaceChildren(tr);
}

function cell(tr, text, cls = undefined) {
  const td = el("td", cls ? { class: cls } : {}, text);
  tr.appendChild(td);
  return td;
}

// ------------------------------------------------------------------ overview

function useBar(row) {
  const wrap = el("div", { class: "use" });
  const worst = row.max_use_pct;
  if (worst === null || worst === undefined) {
    wrap.appendChild(el("span", { class: "muted" }, "no limits"));
    return wrap;
  }
  const bar = el("span", { class: "bar" });
  const fill = el("span", { class: worst >= 100 ? "fill over" : worst >= 80 ? "fill warn" : "fill" });
  fill.style.width = `${Math.min(100, worst)}%`;
  bar.appendChild(fill);
  const which = Object.entries(row.use_pct).filter(([, v]) => v !== null)
    .map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(", ");
  wrap.append(bar, el("span", { class: "use-text", title: which }, `${worst.toFixed(0)}%`));
  return wrap;
}

/** The liquidation cell, "down / up": each side kept on one line, the line free to break
 * after the "/" so that the overview fits a 1280 px window. */
function liqCell(tr, row) {
  const td = cell(tr, row.liq_move_down === undefined ? "–" : "", "num wrap");
  if (row.liq_move_down === undefined) return;
  const side = (m, p) => el("span", { class: "nw" },
    m === null ? "none" : `${(m * 100).toFixed(1)}%${p ? " @ " + num(p, 0) : ""}`);
  td.append(side(row.liq_move_down, row.liq_price_down), " / ", side(row.liq_move_up, row.liq_price_up));
}

function renderOverview(ov) {
  $("asof").textContent = ov.as_of ? `as of ${time(ov.as_of)} UTC (last stored event)` : "no events stored";
  $("overview").tBodies[0].replaceChildren(...ov.rows.map((r) => {
    const tr = el("tr", r.open_breaches.length ? { class: "breached" } : {});
    cell(tr, r.book); cell(tr, r.underlying);
    cell(tr, num(r.delta), "num"); cell(tr, num(r.delta_usd, 0), "num");
    cell(tr, num(r.gamma), "num"); cell(tr, num(r.vega, 0), "num"); cell(tr, num(r.theta, 0), "num");
    tr.appendChild(el("td")).appendChild(useBar(r));
    cell(tr, r.pnl ? num(r.pnl.total_usd, 0) : "–", "num");
    cell(tr, r.worst_loss === undefined ? "–" : num(r.worst_loss, 0), "num");
    liqCell(tr, r);
    cell(tr, r.open_breaches.join(", ") || "", r.open_breaches.length ? "alert wrap" : "");
    return tr;
  }));
  if (!ov.rows.length) {
    emptyRow($("overview"), "no exposures stored for the books this token may read: the sink " +
      "stores them as the processor emits them (or greekstream replay FILE --history DSN)");
  }
  $("overview").dataset.rows = String(ov.rows.length);
  $("open-breaches").tBodies[0].replaceChildren(...ov.open_breaches.map((b) => {
    const tr = el("tr");
    for (const v of [b.book, b.underlying, metricLabel(b.metric)]) cell(tr, v);
    cell(tr, hms(b.open_for_s), "num");
    for (const v of breachNumbers(b.metric, b.value, b.limit)) cell(tr, v, "num");
    return tr;
  }));
  if (!ov.open_breaches.length) emptyRow($("open-breaches"), "none open");
  $("open-breaches").dataset.rows = String(ov.open_breaches.length);
  const biggest = Math.max(1, ...ov.top.map((t) => t.abs_delta_usd));
  $("top").replaceChildren(...ov.top.map((t) => {
    const line = el("div", { class: "top-line" });
    const bar = el("span", { class: "top-bar" });
    bar.style.width = `${(t.abs_delta_usd / biggest) * 100}%`;
    line.append(el("span", { class: "top-book" }, t.book), bar,
      el("span", { class: "top-value" }, usd(t.abs_delta_usd) + " USD"));
    return line;
  }));
  if (!ov.top.length) $("top").replaceChildren(el("p", { class: "muted" }, "no exposures stored"));
  $("top").dataset.rows = String(ov.top.length);
}

// ------------------------------------------------------------------ time series

function quantile(sorted, q) {
  if (!sorted.length) return 0;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i), hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

/** The y range: the 1st..99th percentile of the values, widened to the limit lines, with
 * 8% padding; values outside it are clipped (and marked) rather than flattening the rest. */
function yRange(values, limits) {
  const s = values.filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  let lo = quantile(s, CLIP_PCT[0]), hi = quantile(s, CLIP_PCT[1]);
  for (const l of limits) { lo = Math.min(lo, l); hi = Math.max(hi, l); }
  if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

/** One axis's tick labels in one format: compact (2.5k, 1.2M) for every tick when the
 * largest is 10,000 or more, else fixed-point with separators; as many decimals as the
 * ticks need to be shown exactly (12,500 is 12.5k, never 13k). */
export function tickTexts(ticks) {
  const top = Math.max(0, ...ticks.filter(Number.isFinite).map(Math.abs));
  const [div, suffix] = top >= 1e9 ? [1e9, "B"] : top >= 1e6 ? [1e6, "M"] : top >= 1e4 ? [1e3, "k"] : [1, ""];
  const scaled = ticks.map((t) => t / div);
  const exact = (d) => scaled.every((x) => Math.abs(Math.round(x * 10 ** d) - x * 10 ** d) < 1e-6);
  let d = 0;
  while (d < 8 && !exact(d)) d += 1;
  return scaled.map((x) => (Math.abs(x) < 10 ** -(d + 1) ? "0" : num(x, d) + suffix));
}

/** Time tick labels in UTC: hh:mm, with the date (mm-dd) under the first tick and under
 * each tick that starts another day; ticks a day or more apart are dates, with the year
 * under the first and at each new year. ``ticks`` are epoch seconds. */
export function timeTexts(ticks, step) {
  let prev = null;
  return ticks.map((t) => {
    const s = new Date(t * 1000).toISOString();
    const [day, year, hhmm] = [s.slice(5, 10), s.slice(0, 4), s.slice(11, 16)];
    const key = step >= 86400 ? year : s.slice(0, 10);
    const first = key !== prev;
    prev = key;
    if (step >= 86400) return first ? `${day}\n${year}` : day;
    return first ? `${hhmm}\n${day}` : hhmm;
  });
}

function limitLines(panel, limits) {
  const out = [];
  for (const [, lim] of Object.entries(limits)) {
    const v = lim?.[panel.limit];
    if (v === null || v === undefined) continue;
    if (panel.max) out.push(v, -v); else out.push(v);
  }
  return [...new Set(out)];
}

/** ``limits``: per underlying the limits in force (a maximum scaled for the volatility
 * regime, as the engine checks it); ``scaling``: per underlying the limits as set and the
 * regime, to say when the line is not the limit as set. */
function chart(panel, series, limits, breaches, width, scaling = {}) {
  const box = el("div", { class: "panel", "data-field": panel.field });
  box.appendChild(el("h3", {}, panel.title));
  const unders = Object.keys(series);
  const times = [...new Set(unders.flatMap((u) => series[u].map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const cols = unders.map((u) => {
    const col = new Array(times.length).fill(null);
    for (const p of series[u]) col[index.get(p.t)] = p[panel.field];
    return col;
  });
  const values = cols.flat();
  const points = values.filter((v) => v !== null).length;
  box.dataset.points = String(points);
  if (!points) { box.appendChild(el("p", { class: "muted" }, "no data")); return box; }
  const lines = limitLines(panel, limits);
  const [lo, hi] = yRange(values, lines);
  // clipped points: drawn at the edge they cross, as triangles, with the true value on hover
  const clipped = cols.map((col) => col.map((v) => (v === null ? null : v > hi ? hi : v < lo ? lo : null)));
  const nClipped = clipped.flat().filter((v) => v !== null).length;
  box.dataset.clipped = String(nClipped);
  const marks = breaches.filter((b) => b.metric === panel.metric && b.opened_at)
    .map((b) => Date.parse(b.opened_at) / 1000);
  const data = [times.map((t) => t / 1000), ...cols.map((c) => c.map((v) => (v === null ? null : Math.min(hi, Math.max(lo, v))))), ...clipped];
  const opts = {
    width, height: 210,
    scales: { x: { time: true }, y: { range: () => [lo, hi] } },
    axes: [
      { stroke: "#4b5563", grid: { stroke: "#eef0f3" }, values: (u, ticks, ax, space, step) => {
        const texts = timeTexts(ticks, step);
        box.dataset.xticks = texts.join("|");
        return texts;
      } },
      { stroke: "#4b5563", grid: { stroke: "#eef0f3" }, size: 70, values: (u, ticks) => {
        const texts = tickTexts(ticks);
        box.dataset.yticks = texts.join("|");
        return texts;
      } },
    ],
    series: [
      { value: (u, t) => (t === null ? "–" : new Date(t * 1000).toISOString().slice(0, 19).replace("T", " ")) },
      ...unders.map((name, i) => ({
        label: name, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
        value: (u, v, si, di) => (di === null || di === undefined ? "–" : num(cols[i][di])),
      })),
      ...unders.map((name, i) => ({
        label: `${name} clipped`, stroke: COLORS[i % COLORS.length], width: 0,
        points: { show: true, size: 9, fill: "#ffffff", width: 2, space: 0 },
        value: (u, v) => (v === null ? "" : "beyond the axis"),
      })),
    ],
    legend: { live: true },
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.strokeStyle = "#b42318";
        for (const l of lines) {
          const y = u.valToPos(l, "y", true);
          ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
        }
        ctx.setLineDash([]);
        ctx.fillStyle = "#b42318";
        for (const t of marks) {
          const x = u.valToPos(t, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          const top = u.bbox.top;
          ctx.beginPath(); ctx.moveTo(x - 5 * devicePixelRatio, top); ctx.lineTo(x + 5 * devicePixelRatio, top);
          ctx.lineTo(x, top + 8 * devicePixelRatio); ctx.closePath(); ctx.fill();
          ctx.globalAlpha = 0.25; ctx.fillRect(x - 0.5, top, 1 * devicePixelRatio, u.bbox.height); ctx.globalAlpha = 1;
        }
        ctx.restore();
      }],
    },
  };
  const holder = el("div", { class: "plot" });
  box.appendChild(holder);
  box.plot = new uPlot(opts, data, holder);
  // an underlying's "clipped" legend entry only when it has clipped points
  const legend = holder.querySelectorAll(".u-legend .u-series");
  clipped.forEach((col, i) => {
    if (col.every((v) => v === null)) legend[1 + unders.length + i]?.classList.add("gone");
  });
  const notes = [];
  const limitValues = [...new Set(Object.values(limits).map((lim) => lim?.[panel.limit])
    .filter((v) => v !== null && v !== undefined))];
  if (lines.length) {
    const shown = (vs) => vs.map((v) => `${panel.max ? "±" : ""}${num(v)}`).join(", ");
    let note = `dashed red: limit ${shown(limitValues)} ${panel.unit}`;
    const set = [...new Set(Object.entries(limits).map(([u, lim]) => {
      const v = lim?.[panel.limit];
      const raw = scaling[u]?.limits?.[panel.limit];
      return v === null || v === undefined || raw === undefined || raw === v ? null
        : `${shown([raw])} as set, scaled for the ${scaling[u].regime} regime`;
    }).filter((t) => t !== null))];
    if (set.length) note += ` (${set.join("; ")})`;
    notes.push(note);
  }
  if (marks.length) notes.push(`▼ ${marks.length} breach opening${marks.length > 1 ? "s" : ""}`);
  if (nClipped) notes.push(`${nClipped} point${nClipped > 1 ? "s" : ""} beyond the 1st–99th percentile drawn at the edge (○)`);
  box.appendChild(el("p", { class: "note" }, notes.join(" · ")));
  box.dataset.limits = String(lines.length);
  box.dataset.marks = String(marks.length);
  return box;
}

// ------------------------------------------------------------------ risk matrix

function colour(v, scale) {
  // ColorBrewer RdBu (colour-blind safe): red losses, blue gains, white at 0
  const t = Math.max(-1, Math.min(1, v / (scale || 1)));
  const mix = (a, b, f) => Math.round(a + (b - a) * f);
  const white = [247, 247, 247], red = [178, 24, 43], blue = [33, 102, 172];
  const end = t < 0 ? red : blue;
  const f = Math.abs(t);
  return `rgb(${mix(white[0], end[0], f)}, ${mix(white[1], end[1], f)}, ${mix(white[2], end[2], f)})`;
}

/** A risk matrix's scenarios as cells: the event carries them as parallel columns,
 * cell i = (price_shocks[i], vol_shocks[i], time_shift_h[i], names[i], pnl[i]). */
function matrixCells(x) {
  return x.pnl.map((pnl, i) => ({
    price_shock: x.price_shocks[i], vol_shock: x.vol_shocks[i],
    time_shift_h: x.time_shift_h[i], name: x.names[i], pnl,
  }));
}

function renderMatrices(items) {
  const holder = $("matrix");
  if (!items.length) {
    holder.replaceChildren(el("p", { class: "muted" }, "no risk matrix stored for this book"));
    holder.dataset.cells = "0";
    return;
  }
  const scale = Math.max(1, ...items.flatMap((m) => m.matrix.pnl.map((x) => Math.abs(x))));
  let cells = 0;
  holder.replaceChildren(...items.map((m) => {
    const x = m.matrix;
    const scenarios = matrixCells(x);
    const grid = scenarios.filter((s) => !s.name);
    const prices = [...new Set(grid.map((s) => s.price_shock))].sort((a, b) => a - b);
    const rows = [...new Set(grid.map((s) => `${s.vol_shock}|${s.time_shift_h || 0}`))];
    const wrap = el("div", { class: "matrix" });
    const liq = (mv, p) => (mv === null || mv === undefined ? "none in range" : `${(mv * 100).toFixed(2)}%${p ? " @ " + num(p, 0) : ""}`);
    wrap.appendChild(el("h3", {}, `${m.underlying}: worst loss ${num(x.worst_loss, 0)} USD · liquidation down ${liq(x.liq_move_down, x.liq_price_down)}, up ${liq(x.liq_move_up, x.liq_price_up)} · as of ${time(m.ts)} UTC`));
    const table = el("table", { class: "heat" });
    const head = el("tr");
    head.appendChild(el("th", {}, "vol \\ price"));
    for (const p of prices) head.appendChild(el("th", {}, `${p > 0 ? "+" : ""}${(p * 100).toFixed(0)}%`));
    table.appendChild(head);
    for (const key of rows) {
      const [v, h] = key.split("|").map(Number);
      const tr = el("tr");
      tr.appendChild(el("th", {}, `${v >= 0 ? "+" : ""}${(v * 100).toFixed(0)} pts${h ? `, +${h} h` : ""}`));
      for (const p of prices) {
        const s = grid.find((g) => g.price_shock === p && g.vol_shock === v && (g.time_shift_h || 0) === h);
        const td = el("td", { title: s ? `${num(s.pnl, 0)} USD` : "" }, s ? usd(s.pnl) : "");
        if (s) {
          td.style.background = colour(s.pnl, scale);
          if (Math.abs(s.pnl) > 0.6 * scale) td.classList.add("dark");
          const w = x.worst_scenario;
          if (w && !w.name && w.price_shock === p && w.vol_shock === v && (w.time_shift_h || 0) === h) td.classList.add("worst");
          cells += 1;
        }
        tr.appendChild(td);
      }
      table.appendChild(tr);
    }
    wrap.appendChild(table);
    const named = scenarios.filter((s) => s.name);
    if (named.length) {
      wrap.appendChild(el("p", { class: "note" }, "named: " + named.map((s) => `${s.name} ${usd(s.pnl)}`).join(", ")));
    }
    return wrap;
  }));
  holder.appendChild(el("p", { class: "note" }, `one colour scale for every underlying: ±${usd(scale)} USD`));
  holder.dataset.cells = String(cells);
}

// ------------------------------------------------------------------ VaR

/** The latest stored `var` output (streamed with a returns file) and its distribution;
 * the PNG needs the bearer token, so it is fetched and shown as a data: URL (CSP).
 * ``current()``: false once another draw of the book cards began (then nothing is shown). */
async function showVar(book, current = () => true) {
  const text = $("var");
  const plot = $("var-plot");
  plot.replaceChildren();
  let v;
  try {
    v = await api(bookPath(book, "var"));
  } catch (err) {
    if (!current()) return;
    if (err instanceof Unauthorized) throw err;
    // none stored (404) is the usual answer without a returns file: say how to get one;
    // any other failure is not "none stored" and is shown as it is
    text.className = err.status === 404 ? "muted" : "error";
    text.textContent = err.status === 404
      ? `no VaR stored for ${book}: it is stored only when the processor runs with a returns ` +
        "file (GREEKSTREAM_ENGINE__RETURNS_FILE), or by greekstream replay FILE --returns " +
        "returns.csv --history DSN (docs/var.md), as make demo does"
      : `VaR could not be loaded: ${err.message}`;
    return;
  }
  if (!current()) return;
  text.className = "";
  text.textContent = `VaR ${num(v.var, 0)} USD, ES ${num(v.es, 0)} USD at ${v.confidence * 100}% ` +
    `over ${v.scenarios} days (worst ${v.worst_date}: ${num(v.worst_pnl, 0)} USD), ` +
    `as of ${time(v.as_of)} UTC`;
  let src;
  try {
    src = await pngSource(bookPath(book, "var", { format: "png" }));
  } catch (err) {
    if (!current()) return;
    if (err instanceof Unauthorized) throw err;
    plot.replaceChildren(el("p", { class: "error" }, `the distribution could not be drawn: ${err.message}`));
    return;
  }
  const img = el("img", { id: "var-png", alt: "one-day P&L distribution, VaR and ES marked" });
  img.src = src;
  await img.decode();
  if (!current()) return;
  plot.replaceChildren(img);
  document.body.dataset.var = "1";
}

// ------------------------------------------------------------------ regimes and explain

/** Every stored volatility regime change (any token may read them), newest first. */
async function renderRegimes() {
  const rows = (await api("/v1/regimes")).slice().reverse();
  const table = $("regimes");
  table.tBodies[0].replaceChildren(...rows.slice(0, 20).map((r) => {
    const tr = el("tr", r.regime === "stressed" ? { class: "breached" } : {});
    cell(tr, time(r.ts)); cell(tr, r.underlying);
    cell(tr, `${r.previous ?? "(first)"} → ${r.regime}`);
    cell(tr, pct(r.realized_vol), "num"); cell(tr, pct(r.implied_vol), "num");
    cell(tr, r.implied_instrument ?? "–");
    return tr;
  }));
  if (!rows.length) emptyRow(table, "no regime change stored");
  table.dataset.rows = String(rows.length);
}

/** A PNG of an authenticated route as a data: URL (the CSP allows data: images only). */
async function pngSource(path) {
  const res = await get(path);
  if (!res.ok) throw await refusal(res);
  const blob = await res.blob();
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(blob);
  });
}

/** The P&L explain waterfall of the book's last hour of stored events. On demand only:
 * the server re-derives the window from the stored inputs, which takes seconds. */
async function showExplain() {
  const book = $("book").value;
  const end = overviewCache?.as_of;
  const note = $("explain-note");
  if (!book || !end) { note.textContent = "no events stored"; return; }
  const to = new Date(Date.parse(end));
  const from = new Date(to.getTime() - 3600 * 1000);
  note.textContent = `explaining ${book} from ${time(iso(from))} to ${time(iso(to))} UTC…`;
  const src = await pngSource(bookPath(book, "explain", { from: iso(from), to: iso(to), format: "png" }));
  const img = el("img", { id: "explain-png", alt: `P&L explain waterfall of ${book}, last hour` });
  img.src = src;
  await img.decode();
  if ($("book").value !== book) {  // another book was chosen meanwhile: not its waterfall
    note.textContent = "re-derived from the stored inputs on request (takes seconds)";
    return;
  }
  $("explain-plot").replaceChildren(img);
  note.textContent = `${book}: P&L of the positions held at ${time(iso(from))} explained by Greeks ` +
    `up to ${time(iso(to))} UTC (USD; residual last)`;
  document.body.dataset.explain = book;
}

// ------------------------------------------------------------------ the book

let overviewCache = null;

// How far back the book's charts go per bucket, ending at the last stored event: the
// service answers a series of at most 100,000 rows (a 400 past it), and a month of
// 1-minute buckets of a few underlyings is past it. The API serves any range (from/to).
export const SERIES_DAYS = { "1m": 7, "1h": 365, "1d": null };
// The book's breaches and hedge intents: the latest this many (?last=N). Asked whole, a
// book with more than the service answers (100,000, a 400) had no cards, no charts.
export const LIST_LAST = 1000;
const counted = (n, what) => (n >= LIST_LAST ? `the latest ${n} ${what}` : `${n} ${what}`);

function seriesQuery(bucket) {
  const days = SERIES_DAYS[bucket];
  const end = overviewCache?.as_of;
  if (!days || !end) return { bucket };
  const from = new Date(Date.parse(end) - days * 86400 * 1000);
  return { bucket, from: iso(from) };
}

// Each draw of the book's cards takes a number: one that a later draw (another book, bucket
// or underlying chosen, or the next refresh) began after it is dropped when its answers
// come, else a late answer drew the book left over the book chosen.
let draws = 0;

async function renderBook() {
  const draw = ++draws;
  const current = () => draw === draws;
  const book = $("book").value;
  const bucket = $("bucket").value;
  const status = $("status");
  status.textContent = `loading ${book}…`;
  if (document.body.dataset.explain && document.body.dataset.explain !== book) {
    $("explain-plot").replaceChildren();  // another book's waterfall: not this one's
    $("explain-note").textContent = "re-derived from the stored inputs on request (takes seconds)";
    delete document.body.dataset.explain;
  }
  const query = seriesQuery(bucket);
  document.body.dataset.seriesFrom = query.from ?? "";
  let answers;
  try {
    answers = await Promise.all([
      api(bookPath(book, "timeseries", query)),
      api(bookPath(book, "breaches", { last: LIST_LAST })),
      api(bookPath(book, "hedge-intents", { last: LIST_LAST })),
      api(bookPath(book, "risk-matrix")),
    ]);
  } catch (err) {
    if (current()) throw err;
    return;  // superseded: its failure is not the page's state either
  }
  if (!current()) return;
  const [rows, breaches, intents, matrices] = answers;
  // one underlying at a time: a coin delta of BTC and one of ETH share no axis
  const mine = (overviewCache?.rows ?? []).filter((r) => r.book === book);
  const unders = [...new Set(rows.map((r) => r.underlying))];
  const select = $("underlying");
  const keep = unders.includes(select.value) ? select.value : null;
  const ranked = unders.slice().sort((a, b) => {
    const score = (u) => { const r = mine.find((x) => x.underlying === u); return r ? (r.open_breaches.length * 1e18 + Math.abs(r.delta_usd || 0)) : 0; };
    return score(b) - score(a);
  });
  select.replaceChildren(...ranked.map((u) => new Option(u, u)));
  const want = wanted().get("underlying");
  select.value = keep ?? (want && unders.includes(want) ? want : ranked[0] ?? "");
  const und = select.value;
  const span = query.from ? `, the last ${SERIES_DAYS[bucket]} days` : "";
  // the cards below the charts are the book's too: each title names it
  for (const name of document.querySelectorAll(".book-name")) name.textContent = `of ${book}`;
  $("book-title").textContent = `${book} ${und}: history (last value per ${bucket} bucket${span}, UTC)`;
  const series = {};
  for (const r of rows) if (r.underlying === und) (series[r.underlying] ||= []).push({ ...r, t: Date.parse(r.bucket) });
  const limits = {};
  const scaling = {};
  for (const r of mine) {
    if (r.underlying !== und) continue;
    // the limits the engine checks now (a maximum scaled for the regime), not as set
    limits[r.underlying] = r.limits_in_force ?? r.limits;
    scaling[r.underlying] = { limits: r.limits, regime: r.regime };
  }
  const shown = breaches.filter((b) => b.underlying === und);
  const panels = PANELS.map((p) => chart(p, series, limits, shown, 480, scaling));
  $("charts").replaceChildren(...panels);
  for (const p of panels) p.plot?.setSize({ width: Math.max(300, p.clientWidth - 24), height: 210 });
  $("legend").replaceChildren(...Object.keys(series).map(
    (u, i) => el("span", { class: `c${i % COLORS.length}` }, `■ ${u}`)));
  renderMatrices(matrices);
  const latest = intents.slice(-15).reverse();
  $("intents").tBodies[0].replaceChildren(...latest.map((i) => {
    const tr = el("tr");
    cell(tr, time(i.ts)); cell(tr, i.underlying); cell(tr, i.instrument_id); cell(tr, i.side);
    cell(tr, num(i.quantity, 0), "num");
    // the delta the intent hedges: the positions' or, with basis equity, with collateral
    cell(tr, `${num(i.delta_before)} → ${num(i.delta_after)}` +
      (i.basis === "equity" ? " (with collateral)" : ""), "num");
    cell(tr, i.followed ? `yes, ${num(i.trade_delay_s, 1)} s` : "no");
    return tr;
  }));
  if (!intents.length) emptyRow($("intents"), "no hedge intents for this book");
  $("intents").dataset.rows = String(intents.length);
  const history = breaches.slice().reverse();
  $("breaches").tBodies[0].replaceChildren(...history.map((b) => {
    const tr = el("tr", b.cleared_at ? {} : { class: "breached" });
    for (const v of [time(b.opened_at), b.cleared_at ? time(b.cleared_at) : "open"]) cell(tr, v);
    cell(tr, hms(b.duration_s), "num");
    for (const v of [b.underlying, metricLabel(b.metric)]) cell(tr, v);
    for (const v of breachNumbers(b.metric, b.value, b.limit)) cell(tr, v, "num");
    return tr;
  }));
  if (!history.length) emptyRow($("breaches"), `no breach of ${book}'s limits stored`);
  await showVar(book, current);
  if (!current()) return;
  status.className = "";  // an earlier failure's red is over
  status.textContent = `${book}: ${rows.length} points, ${counted(breaches.length, "breaches")}, ` +
    counted(intents.length, "hedge intents");
  document.body.dataset.points = String(rows.length);
  document.body.dataset.breaches = String(breaches.length);
}

async function refresh() {
  overviewCache = await api("/v1/overview");
  renderOverview(overviewCache);
  await renderRegimes();
  if ($("book").value) await renderBook();
  document.body.dataset.ready = "1";
  document.body.dataset.refreshed = String((Number(document.body.dataset.refreshed) || 0) + 1);
}

// ------------------------------------------------------------------ start

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
  document.body.dataset.ready = "login";
}

let timer = null;
let booksLoaded = false;

function fail(err) {
  if (err instanceof Unauthorized) {
    clearInterval(timer);
    session.clear();
    showLogin("That token was refused: sign in again.");
    return;
  }
  const status = $("status");
  status.textContent = `error: ${err.message} ` + ($("refresh").checked
    ? "(the page tries again every 15 s)" : "(tick refresh every 15 s, or reload the page, to try again)");
  status.className = "error";
  document.body.dataset.ready = "error";
}

async function loadBooks() {
  const books = await api("/v1/books");
  const select = $("book");
  select.replaceChildren(...books.map((b) => new Option(b, b)));
  const want = wanted();
  if (want.get("book") && books.includes(want.get("book"))) select.value = want.get("book");
  // a bucket the page does not offer (#bucket=5m) keeps the default: set, it emptied the
  // box, and every series request was refused (422) until another was picked
  const bucket = want.get("bucket");
  if ([...$("bucket").options].some((o) => o.value === bucket)) $("bucket").value = bucket;
  booksLoaded = true;
}

/** One load: the books first (until they have loaded once), then everything else. */
async function load() {
  if (!booksLoaded) await loadBooks();
  await refresh();
  if (!$("book").value) {  // renderBook, which says what it loaded, did not run
    $("status").className = "";
    $("status").textContent = "no books visible to this token";
  }
}

let loading = null;

/** One load at a time: a refresh tick while the last load still waits for its answers (a
 * slow or busy service) is skipped; ticks used to start a load each 15 s whatever, so
 * a service slow to answer got more and more of them at once from every open page. */
function loadOnce() {
  loading ??= load().catch(fail).finally(() => { loading = null; });
  return loading;
}

async function start() {
  if (!session.token()) { showLogin(); return; }
  $("login").hidden = true;
  $("app").hidden = false;
  booksLoaded = false;
  // the timer runs from the start: a first load that failed (the service restarting as
  // the page opened) is tried again like a refresh, not left as an error for good
  clearInterval(timer);
  timer = setInterval(() => { if ($("refresh").checked) loadOnce(); }, REFRESH_MS);
  await loadOnce();
}

function wire() {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    session.save($("token").value.trim());
    $("token").value = "";
    start();
  });
  $("logout").addEventListener("click", () => { clearInterval(timer); session.clear(); showLogin(); });
  $("explain-run").addEventListener("click", () => {
    // one explain at a time: a second click replayed the window again, or was the token's
    // 429 ("explain failed") while the first was still running
    const button = $("explain-run");
    button.disabled = true;
    showExplain().catch((err) => {
      if (err instanceof Unauthorized) { fail(err); return; }
      $("explain-note").textContent = "explain failed: " + err.message;
    }).finally(() => { button.disabled = false; });
  });
  for (const id of ["book", "bucket", "underlying"]) $(id).addEventListener("change", () => renderBook().catch(fail));
}

wire();
start();
