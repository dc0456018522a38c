// greekstream's history page. Served with a strict Content-Security-Policy: no inline
// script or style, so every piece of data is set with textContent or setAttribute
// through el()/svg() below — never parsed as markup. The bearer token is kept in this tab's
// sessionStorage (typed into the login form), never in the URL.
"use strict";

const TOKEN_KEY = "greekstream.token";
const SVG_NS = "http://www.w3.org/2000/svg";
const METRICS = ["delta_usd", "gamma", "vega", "theta"];
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d"];

/** An element with attributes and text content. Event-handler and style attributes are
 * refused: behaviour is attached with addEventListener, looks come from app.css. */
export function el(tag, attrs = {}, text = undefined) {
  return build(document.createElement(tag), attrs, text);
}

/** The same for SVG elements. */
export function svg(tag, attrs = {}, text = undefined) {
  return build(document.createElementNS(SVG_NS, tag), attrs, text);
}

function build(node, attrs, text) {
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

export async function api(path) {
  const res = await fetch(path, {
    headers: { Authorization: "Bearer " + session.token() },
    cache: "no-store",
    credentials: "omit",
  });
  if (res.status === 401) throw new Unauthorized("the token was refused");
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new Error(`${res.status} ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
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

// ------------------------------------------------------------------ rendering

function fmt(v) {
  if (v === null || v === undefined) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e6 || a < 1e-3)
    ? v.toExponential(3) : v.toLocaleString(undefined, { maximumFractionDigits: 4 });
}

function chart(metric, series) {
  const W = 600, H = 200, L = 84, R = 10, T = 10, B = 24;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, "data-metric": metric, role: "img" });
  const points = Object.values(series).flat().filter((p) => p[metric] !== null);
  if (!points.length) { root.appendChild(svg("text", { x: 10, y: 20 }, "no data")); return root; }
  const xs = points.map((p) => p.t);
  const ys = points.flatMap((p) => [p[metric + "_min"], p[metric + "_max"], p[metric]])
    .filter((v) => v !== null && v !== undefined);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const sx = (t) => L + (W - L - R) * (x1 === x0 ? 0.5 : (t - x0) / (x1 - x0));
  const sy = (v) => T + (H - T - B) * (1 - (v - y0) / (y1 - y0));
  root.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#9aa3af" }));
  root.appendChild(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#9aa3af" }));
  for (const v of [y0, (y0 + y1) / 2, y1]) {
    root.appendChild(svg("text", { x: L - 4, y: sy(v) + 4, "text-anchor": "end", "font-size": 10 }, fmt(v)));
  }
  for (const t of [x0, x1]) {
    root.appendChild(svg("text", { x: sx(t), y: H - 6, "text-anchor": t === x0 ? "start" : "end", "font-size": 10 },
      new Date(t).toISOString().slice(0, 16).replace("T", " ")));
  }
  if (y0 < 0 && y1 > 0) {
    root.appendChild(svg("line", { x1: L, x2: W - R, y1: sy(0), y2: sy(0), stroke: "#d1d5db", "stroke-dasharray": "3 3" }));
  }
  Object.values(series).forEach((rows, i) => {
    const color = COLORS[i % COLORS.length];
    const band = rows.filter((p) => p[metric + "_min"] !== null && p[metric + "_min"] !== undefined);
    if (band.length > 1) {
      const top = band.map((p) => `${sx(p.t)},${sy(p[metric + "_max"])}`);
      const bottom = band.slice().reverse().map((p) => `${sx(p.t)},${sy(p[metric + "_min"])}`);
      root.appendChild(svg("polygon", { points: top.concat(bottom).join(" "), fill: color, "fill-opacity": 0.12 }));
    }
    const line = rows.filter((p) => p[metric] !== null).map((p) => `${sx(p.t)},${sy(p[metric])}`).join(" ");
    root.appendChild(svg("polyline", { points: line, fill: "none", stroke: color, "stroke-width": 1.5, class: "series" }));
  });
  return root;
}

/** The latest stored `var` output (streamed with a returns file) and its distribution;
 * the PNG needs the bearer token, so it is fetched and shown as a data: URL (CSP). */
async function showVar(book) {
  const text = $("var");
  const plot = $("var-plot");
  plot.replaceChildren();
  let v;
  try {
    v = await api(bookPath(book, "var"));
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    text.textContent = "no VaR stored for this book (the processor emits it with a returns file)";
    return;
  }
  text.textContent = `VaR ${fmt(v.var)} USD, ES ${fmt(v.es)} USD at ${v.confidence * 100}% ` +
    `over ${v.scenarios} days (worst ${v.worst_date}: ${fmt(v.worst_pnl)} USD), as of ${v.as_of}`;
  const res = await fetch(bookPath(book, "var", { format: "png" }), {
    headers: { Authorization: "Bearer " + session.token() }, cache: "no-store", credentials: "omit",
  });
  if (!res.ok) return;
  const blob = await res.blob();
  const src = await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(blob);
  });
  const img = el("img", { id: "var-png", alt: "one-day P&L distribution, VaR and ES marked" });
  img.src = src;
  await img.decode();
  plot.replaceChildren(img);
  document.body.dataset.var = "1";
}

async function render() {
  const book = $("book").value;
  const bucket = $("bucket").value;
  const status = $("status");
  status.textContent = `loading ${book}…`;
  const [rows, breaches] = await Promise.all([
    api(bookPath(book, "timeseries", { bucket })),
    api(bookPath(book, "breaches")),
  ]);
  const series = {};
  for (const r of rows) (series[r.underlying] ||= []).push({ ...r, t: Date.parse(r.bucket) });
  $("charts").replaceChildren(...METRICS.map((m) => {
    const panel = el("div", { class: "panel" });
    panel.append(el("h2", {}, `${m} (last per ${bucket}, band = min–max)`), chart(m, series));
    return panel;
  }));
  $("legend").replaceChildren(...Object.keys(series).map(
    (u, i) => el("span", { class: `c${i % COLORS.length}` }, `■ ${u}`)));
  $("breaches").tBodies[0].replaceChildren(...breaches.map((b) => {
    const tr = el("tr");
    for (const v of [b.opened_at, b.cleared_at || "open", b.duration_s, b.underlying, b.metric, b.value, b.limit]) {
      tr.appendChild(el("td", {}, typeof v === "number" ? fmt(v) : (v ?? "–")));
    }
    return tr;
  }));
  await showVar(book);
  status.textContent = `${book}: ${rows.length} points, ${breaches.length} breaches`;
  document.body.dataset.points = String(rows.length);
  document.body.dataset.breaches = String(breaches.length);
  document.body.dataset.ready = "1";
}

// ------------------------------------------------------------------ start

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
  document.body.dataset.ready = "login";
}

function fail(err) {
  if (err instanceof Unauthorized) {
    session.clear();
    showLogin("That token was refused: sign in again.");
    return;
  }
  const status = $("status");
  status.textContent = "error: " + err.message;
  status.className = "error";
  document.body.dataset.ready = "error";
}

async function start() {
  if (!session.token()) { showLogin(); return; }
  $("login").hidden = true;
  $("app").hidden = false;
  try {
    const books = await api("/v1/books");
    const select = $("book");
    select.replaceChildren(...books.map((b) => new Option(b, b)));
    const want = wanted();
    if (want.get("book") && books.includes(want.get("book"))) select.value = want.get("book");
    if (want.get("bucket")) $("bucket").value = want.get("bucket");
    if (books.length) await render();
    else { $("status").textContent = "no books visible to this token"; document.body.dataset.ready = "1"; }
  } catch (err) { fail(err); }
}

function wire() {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    session.save($("token").value.trim());
    $("token").value = "";
    start();
  });
  $("logout").addEventListener("click", () => { session.clear(); showLogin(); });
  for (const id of ["book", "bucket"]) $(id).addEventListener("change", () => render().catch(fail));
}

wire();
start();
