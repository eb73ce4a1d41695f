# ruff: noqa: E501  (the page's CSS and JavaScript are text, kept whole rather than wrapped at 110)
"""The live dashboard: one server-rendered HTML page with a little vanilla JavaScript (no framework, no
build step, nothing fetched from elsewhere).

Long because it is one page whose stylesheet, script and markup read best side by side, the script inline
so the Content-Security-Policy can hash it; the only code is `render`, a few lines at the end.

The page holds no data: it reads the query API with the viewer's token (given once as `#token=...` in
the URL fragment, which browsers never send to a server, or pasted into the form; kept in
sessionStorage), so everything on it is shaped by the viewer's role. It asks `/v1/me` what the role may
use and calls nothing else, so a role never triggers a refused request. The feed is an EventSource on
`/v1/feed` (`access_token` in the query: EventSource cannot send headers), starting with the hub's recent
backlog. The customer card is the search (`/v1/customers/search`), the 360 view and the timeline; the
charts (funnel, NPS and CSAT by month, data-quality issues by source) are SVG drawn by the script below,
which stays inline so the Content-Security-Policy's hashes (http_headers.py) cover it. Data only ever
reaches the page as text (`textContent`, `append`), never as markup.
"""

from __future__ import annotations

import html

_STYLE = """
:root { --bg:#f6f7f9; --panel:#fff; --ink:#1d2430; --muted:#5b6675; --line:#dde2e8; --accent:#2563eb;
  --hold:#b42318; --hold-bg:#fdecea; --ok:#067647; --warn:#b54708; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg);
  color:var(--ink); }
header { display:flex; align-items:center; gap:16px; padding:10px 20px; background:#101828; color:#fff; }
header h1 { font-size:18px; margin:0; font-weight:600; }
header .who { margin-left:auto; font-size:14px; color:#d0d5dd; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; background:#344054; color:#fff;
  font-size:12px; }
main { display:grid; grid-template-columns: minmax(380px, 1.2fr) minmax(320px, 1fr); gap:16px; padding:16px 20px; }
.panel { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:14px 16px;
  min-width:0; }
.panel h2 { font-size:15px; margin:0 0 10px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.wide { grid-column: 1 / -1; }
.charts { display:grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap:16px; }
form.search { display:flex; gap:8px; }
input[type=text], input[type=password] { flex:1; padding:8px 10px; border:1px solid var(--line); border-radius:6px;
  font-size:15px; }
button { padding:8px 14px; border:0; border-radius:6px; background:var(--accent); color:#fff; font-size:14px;
  cursor:pointer; }
ul.results { list-style:none; margin:10px 0 0; padding:0; }
ul.results li { padding:6px 8px; border-bottom:1px solid var(--line); cursor:pointer; }
ul.results li:hover { background:#eef4ff; }
.score { color:var(--muted); font-size:12px; margin-left:6px; }
#card h3 { margin:12px 0 4px; font-size:20px; }
#card .sub { color:var(--muted); margin-bottom:8px; }
.hold { background:var(--hold-bg); color:var(--hold); border:1px solid #f5c2bd; border-radius:6px;
  padding:8px 10px; font-weight:600; margin:8px 0; }
.section { margin-top:10px; }
.section h4 { margin:0 0 4px; font-size:13px; color:var(--muted); text-transform:uppercase; }
dl { display:grid; grid-template-columns: max-content 1fr; gap:2px 12px; margin:0; }
dt { color:var(--muted); } dd { margin:0; overflow-wrap:anywhere; }
.chip { display:inline-block; padding:1px 8px; margin:2px 4px 2px 0; border-radius:10px; background:#eef4ff;
  color:#1849a9; font-size:12px; }
.chip.service_hold, .chip.churn_risk { background:var(--hold-bg); color:var(--hold); }
#feed { list-style:none; margin:0; padding:0; max-height:520px; overflow:auto; }
#feed li { padding:6px 4px; border-bottom:1px solid var(--line); font-size:14px; }
#feed li.signal.service_hold { background:var(--hold-bg); }
#feed .when { color:var(--muted); font-size:12px; margin-right:6px; }
#feed .contact { color:var(--accent); cursor:pointer; }
.status { font-size:13px; color:var(--muted); }
.status.live { color:var(--ok); } .status.down { color:var(--warn); }
table { border-collapse:collapse; width:100%; font-size:14px; }
th, td { text-align:right; padding:4px 8px; border-bottom:1px solid var(--line); }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align:left; }
svg text { font:12px system-ui, sans-serif; fill:var(--ink); }
.note { color:var(--muted); font-style:italic; }
#login { max-width:560px; margin:40px auto; }
ul.plain { list-style:none; margin:0; padding:0; }
ul.plain li { padding:3px 0; border-bottom:1px solid var(--line); font-size:14px; }
ul.timeline li { display:grid; grid-template-columns: 150px 96px 1fr; gap:6px; }
ul.timeline li.note { display:block; }
ul.timeline .when, ul.timeline .dept { color:var(--muted); font-size:12px; }
table.compact th, table.compact td { text-align:left; padding:3px 6px; font-size:13px; }
details { margin-top:10px; } summary { cursor:pointer; color:var(--muted); font-size:13px; }
"""

_SCRIPT = r"""
"use strict";
const S = { token: null, me: null, contact: null, names: {}, reload: null };
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function may(endpoint) { return S.me && S.me.endpoints.includes(endpoint); }
async function api(path) {
  const answer = await fetch(path, { headers: { Authorization: "Bearer " + S.token } });
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.message || answer.statusText);
  return body;
}
function show(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.map((v) => (typeof v === "object" ? JSON.stringify(v) : v)).join(", ");
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) =>
      k + ": " + (v && typeof v === "object" ? (v.touches !== undefined ? v.touches : JSON.stringify(v)) : v)).join(" · ");
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}
function nameOf(doc) {
  const c = doc.contact || {};
  const full = [c.first_name, c.last_name].filter(Boolean).join(" ");
  return full || (doc.identity && doc.identity.contact_id) || "customer";
}

async function search(event) {
  event.preventDefault();
  const text = $("q").value.trim();
  const list = $("results");
  list.replaceChildren();
  if (!text) return;
  try {
    const found = await api("/v1/customers/search?limit=8&q=" + encodeURIComponent(text));
    if (!found.results.length) list.append(el("li", { class: "note" }, "no customer matches"));
    for (const r of found.results) {
      const label = [r.first_name, r.last_name].filter(Boolean).join(" ") || r.contact_id;
      if (label !== r.contact_id) S.names[r.contact_id] = label;
      list.append(el("li", { "data-contact": r.contact_id, onclick: () => openCard(r.contact_id) },
        label, r.email ? " <" + r.email + ">" : "", r.company ? " · " + r.company : "",
        el("span", { class: "score" }, r.matched_on + " " + r.score.toFixed(2))));
    }
  } catch (err) { list.append(el("li", { class: "note" }, String(err.message))); }
}

function table(id, heads, rows) {
  const body = el("tbody");
  for (const row of rows) body.append(el("tr", {}, ...row.map((v) => el("td", {}, show(v)))));
  return el("table", { id: id, class: "compact" }, el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", {}, h)))), body);
}
function block(id, title, ...kids) { return el("div", { class: "section", id: id }, el("h4", {}, title), ...kids); }
function when(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  if (isNaN(at)) return String(iso);
  return at.toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
// Lists the card shows as their own blocks; the rest of each section goes in the details below them.
const SHOWN = new Set(["active_signals", "open_deals", "deal_amounts", "tickets", "service_hold", "service_hold_reason"]);

async function openCard(contactId) {
  S.contact = contactId;
  const card = $("card");
  try {
    const path = "/v1/customers/" + encodeURIComponent(contactId);
    const doc = await api(path);
    const touches = may("timeline") ? api(path + "/timeline?limit=10").catch((err) => err) : null;
    const name = nameOf(doc);
    S.names[contactId] = name;
    const parts = [el("h3", { id: "card-name" }, name)];
    const sub = [];
    if (doc.contact) sub.push([doc.contact.email, doc.contact.phone].filter(Boolean).join(" · "));
    if (doc.role) sub.push([doc.role.job_title, doc.role.company].filter(Boolean).join(" at "));
    if (doc.lifecycle) sub.push(doc.lifecycle.lifecycle_stage + " · health " + doc.lifecycle.health_score);
    parts.push(el("div", { class: "sub" }, sub.filter(Boolean).join(" · ")));
    const hold = doc.service_hold;
    if (hold && hold.service_hold) {
      parts.push(el("div", { class: "hold", id: "service-hold" }, "Service hold: " + (hold.service_hold_reason || "")));
    }
    if (doc.signals) {
      const active = doc.signals.active_signals || [];
      const list = el("ul", { class: "plain", id: "card-signals" });
      for (const s of active) {
        list.append(el("li", { "data-kind": s.kind }, el("span", { class: "chip " + s.kind }, s.kind), " ", s.reason || ""));
      }
      if (!active.length) list.append(el("li", { class: "note" }, "no active signal"));
      parts.push(block("card-signals-block", "Signals", list));
    }
    const deals = (doc.sales_promise && doc.sales_promise.open_deals) || null;
    const amounts = {};
    for (const d of (doc.pipeline && doc.pipeline.deal_amounts) || []) amounts[d.opportunity_id] = d.amount + " " + (d.currency || "");
    if (deals) {
      const withAmount = doc.pipeline && doc.pipeline.deal_amounts;
      const heads = ["deal", "stage", "owner", "expected close"].concat(withAmount ? ["amount"] : []);
      const rows = deals.map((d) => [d.name || d.opportunity_id, d.stage, d.owner, d.expected_close].concat(withAmount ? [amounts[d.opportunity_id] || "—"] : []));
      parts.push(block("card-deals-block", "Open deals (" + deals.length + ")", deals.length ? table("card-deals", heads, rows) : el("p", { class: "note" }, "no open deal")));
    } else if (doc.pipeline && doc.pipeline.deal_amounts) {
      const rows = doc.pipeline.deal_amounts.map((d) => [d.opportunity_id, d.stage, amounts[d.opportunity_id]]);
      parts.push(block("card-deals-block", "Open deals (" + rows.length + ")", rows.length ? table("card-deals", ["deal", "stage", "amount"], rows) : el("p", { class: "note" }, "no open deal")));
    }
    if (doc.tickets && doc.tickets.tickets) {
      const done = (t) => (["solved", "closed", "resolved"].includes(t.status) ? 1 : 0);
      const all = doc.tickets.tickets.slice().sort((a, b) => done(a) - done(b));
      const rows = all.slice(0, 8).map((t) => [t.ticket_id, t.priority, t.status, t.product, when(t.opened_at)]);
      const title = "Tickets (" + (doc.tickets.open_tickets || 0) + " open of " + all.length + ")";
      parts.push(block("card-tickets-block", title, all.length ? table("card-tickets", ["ticket", "priority", "status", "product", "opened"], rows) : el("p", { class: "note" }, "no ticket")));
    }
    if (touches) {
      const answer = await touches;
      const list = el("ul", { class: "plain timeline", id: "card-timeline" });
      if (answer instanceof Error) list.append(el("li", { class: "note" }, String(answer.message)));
      else {
        for (const t of answer.items) {
          list.append(el("li", { "data-type": t.type }, el("span", { class: "when" }, when(t.occurred_at)),
            el("span", { class: "dept" }, t.department), el("span", {}, t.summary || t.type)));
        }
        if (!answer.items.length) list.append(el("li", { class: "note" }, "no touchpoint"));
      }
      parts.push(block("card-timeline-block", "Latest touches", list));
    }
    const details = el("details", { id: "card-details" }, el("summary", {}, "All fields this role sees"));
    for (const [section, fields] of Object.entries(doc)) {
      const dl = el("dl");
      for (const [field, value] of Object.entries(fields)) {
        if (SHOWN.has(field)) continue;
        if (Array.isArray(value) && value.length && typeof value[0] === "object") {
          dl.append(el("dt", {}, field), el("dd", {}, value.length + " item(s): " + value.slice(0, 3).map(
            (v) => Object.values(v).filter((x) => x !== null).slice(0, 4).join(" / ")).join("; ")));
        } else dl.append(el("dt", {}, field), el("dd", {}, show(value)));
      }
      if (dl.children.length) details.append(el("div", { class: "section", "data-section": section }, el("h4", {}, section), dl));
    }
    parts.push(details);
    card.replaceChildren(...parts);
  } catch (err) { card.replaceChildren(el("p", { class: "note" }, String(err.message))); }
}

function addFeedItem(kind, message) {
  const feed = $("feed");
  // An account-level signal (`scope` "account") names the account, not a contact: nothing to open.
  const account = message.scope === "account" ? String(message.account_id || "") : "";
  const contact = account ? "" : (message.contact_id || "");
  const who = account ? "account " + account.slice(0, 10) + "…" : S.names[contact] || (contact ? contact.slice(0, 10) + "…" : "");
  const at = kind === "signal" ? (message.cleared_at || message.raised_at) : message.last_seen;
  const stamp = at ? when(at) : new Date().toLocaleTimeString();
  let text;
  let cls = kind;
  if (kind === "signal") {
    text = message.kind + " " + message.status + (message.reason ? ": " + message.reason : "");
    cls += " " + message.kind;
  } else {
    const bits = [];
    if (message.lifecycle_stage) bits.push(message.lifecycle_stage);
    if (message.health_score !== undefined) bits.push("health " + message.health_score);
    if (message.open_tickets !== undefined) bits.push(message.open_tickets + " open tickets");
    if (message.active_signals && message.active_signals.length) bits.push("signals: " + message.active_signals.join(", "));
    text = "updated" + (bits.length ? ": " + bits.join(" · ") : "");
  }
  const item = el("li", { class: cls, "data-kind": kind === "signal" ? message.kind : "change", "data-contact": contact },
    el("span", { class: "when" }, stamp), el("span", { class: "contact", onclick: () => { if (contact) openCard(contact); } }, who), " ", text);
  feed.prepend(item);
  while (feed.children.length > 100) feed.lastChild.remove();
  if (contact && contact === S.contact) {
    clearTimeout(S.reload);
    S.reload = setTimeout(() => openCard(contact), 150);
  }
}

function connectFeed() {
  if (!may("signals")) { $("feed-status").textContent = "no live feed for this role"; return; }
  const source = new EventSource("/v1/feed?backlog=50&access_token=" + encodeURIComponent(S.token));
  source.addEventListener("open", () => { $("feed-status").textContent = "live"; $("feed-status").className = "status live"; });
  source.addEventListener("error", () => { $("feed-status").textContent = "reconnecting…"; $("feed-status").className = "status down"; });
  source.addEventListener("signal", (e) => addFeedItem("signal", JSON.parse(e.data)));
  source.addEventListener("change", (e) => addFeedItem("change", JSON.parse(e.data)));
}

function unavailable(id, what) { $(id).replaceChildren(el("p", { class: "note" }, what + " is not available to the " + S.me.role + " role")); }

async function funnelChart() {
  if (!may("funnel")) return unavailable("funnel", "The funnel");
  const rows = (await api("/v1/funnel?limit=1000")).rows;
  const totals = { leads: 0, qualified: 0, opportunities: 0, won: 0 };
  for (const r of rows) for (const k of Object.keys(totals)) totals[k] += r[k] || 0;
  const max = Math.max(1, ...Object.values(totals));
  const chart = svg("svg", { viewBox: "0 0 460 150", width: "100%", role: "img", "aria-label": "sales funnel" });
  Object.entries(totals).forEach(([label, value], i) => {
    const y = 10 + i * 34, width = Math.max(2, (value / max) * 300);
    chart.append(svg("text", { x: 0, y: y + 17 }, label));
    chart.append(svg("rect", { x: 100, y: y, width: width, height: 24, rx: 3, fill: ["#2563eb", "#3b82f6", "#60a5fa", "#067647"][i] }));
    chart.append(svg("text", { x: 106 + width, y: y + 17 }, String(value)));
  });
  $("funnel").replaceChildren(chart);
}

function byMonth(rows, fold) {
  const months = {};
  for (const r of rows) fold((months[String(r.period).slice(0, 7)] ||= {}), r);
  return Object.keys(months).sort().map((m) => [m, months[m]]);
}
// A small line chart of monthly values between lo and hi (labels on each point; a dashed zero line).
function lineChart(label, points, lo, hi, color) {
  const chart = svg("svg", { viewBox: "0 0 460 170", width: "100%", role: "img", "aria-label": label });
  const x = (i) => 60 + (points.length === 1 ? 180 : (i * 360) / (points.length - 1));
  const y = (v) => 140 - ((v - lo) * 120) / (hi - lo);
  chart.append(svg("line", { x1: 50, x2: 440, y1: y(Math.max(lo, 0)), y2: y(Math.max(lo, 0)), stroke: "#98a2b3", "stroke-dasharray": "4 3" }));
  chart.append(svg("text", { x: 0, y: y(hi) + 4 }, String(hi)), svg("text", { x: 0, y: y(lo) + 4 }, String(lo)));
  chart.append(svg("polyline", { points: points.map(([, v], i) => x(i) + "," + y(v)).join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
  points.forEach(([period, v], i) => {
    chart.append(svg("circle", { cx: x(i), cy: y(v), r: 3.5, fill: color, "data-period": period }));
    chart.append(svg("text", { x: x(i) - 10, y: y(v) - 8 }, String(v)));
    chart.append(svg("text", { x: x(i) - 22, y: 162 }, period));
  });
  return chart;
}

async function satisfactionCharts() {
  if (!may("satisfaction")) { unavailable("nps", "NPS"); return unavailable("csat", "CSAT"); }
  const [nps, csat] = await Promise.all([api("/v1/satisfaction/nps?limit=1000"), api("/v1/satisfaction/csat?limit=1000")]);
  const npsPoints = byMonth(nps.rows, (p, r) => {
    p.promoters = (p.promoters || 0) + r.promoters; p.detractors = (p.detractors || 0) + r.detractors;
    p.responses = (p.responses || 0) + r.responses;
  }).map(([m, p]) => [m, Math.round(((p.promoters - p.detractors) * 100) / Math.max(1, p.responses))]);
  $("nps").replaceChildren(npsPoints.length ? lineChart("NPS by month", npsPoints, -100, 100, "#2563eb") : el("p", { class: "note" }, "no NPS responses yet"));
  const csatPoints = byMonth(csat.rows, (p, r) => {
    p.satisfied = (p.satisfied || 0) + r.satisfied; p.responses = (p.responses || 0) + r.responses;
  }).map(([m, p]) => [m, Math.round((p.satisfied * 100) / Math.max(1, p.responses))]);
  $("csat").replaceChildren(csatPoints.length ? lineChart("CSAT: percent satisfied by month", csatPoints, 0, 100, "#067647") : el("p", { class: "note" }, "no CSAT responses yet"));
}

const ISSUES = [["dead_lettered", "dead letters", "#b42318"], ["unresolved_identifier_events", "unresolved", "#f79009"],
  ["contacts_missing_fields", "missing fields", "#fdb022"], ["opportunities_without_activity", "no activity", "#7a5af8"],
  ["stalled_deals", "stalled", "#98a2b3"]];

async function qualityTable() {
  if (!may("data_quality")) return unavailable("quality", "Data quality");
  const rows = (await api("/v1/data-quality?limit=200")).rows;
  // One stacked bar per source: its issues by kind, scaled to the source with the most.
  const bySource = {};
  for (const r of rows) {
    const s = (bySource[r.source] ||= { events: 0 });
    s.events += r.events || 0;
    for (const [k] of ISSUES) s[k] = (s[k] || 0) + (r[k] || 0);
  }
  const sources = Object.keys(bySource).sort();
  const total = (s) => ISSUES.reduce((n, [k]) => n + bySource[s][k], 0);
  const max = Math.max(1, ...sources.map(total));
  const chart = svg("svg", { viewBox: "0 0 1300 " + (34 + sources.length * 24), width: "100%", role: "img", "aria-label": "data-quality issues by source", id: "quality-chart" });
  ISSUES.forEach(([, label, color], i) => {
    chart.append(svg("rect", { x: 120 + i * 110, y: 4, width: 10, height: 10, fill: color }), svg("text", { x: 134 + i * 110, y: 13 }, label));
  });
  sources.forEach((source, i) => {
    const y = 26 + i * 24;
    chart.append(svg("text", { x: 0, y: y + 14 }, source));
    let x = 120;
    for (const [k, label, color] of ISSUES) {
      const w = (bySource[source][k] / max) * 900;
      if (w > 0) chart.append(svg("rect", { x: x, y: y, width: w, height: 18, fill: color, "data-issue": k }, undefined));
      x += w;
    }
    chart.append(svg("text", { x: x + 6, y: y + 14 }, total(source) + " issues / " + bySource[source].events + " events"));
  });
  const columns = ["source", "department", "events", "dead_lettered", "unresolved_identifier_events",
    "contacts_missing_fields", "opportunities_without_activity", "stalled_deals"];
  const heads = ["source", "department", "events", "dead letters", "unresolved", "missing fields", "no activity", "stalled"];
  const details = el("details", { open: "" }, el("summary", {}, "by source and department"),
    table("quality-table", heads, rows.map((r) => columns.map((c) => r[c]))));
  $("quality").replaceChildren(chart, details);
}

async function start() {
  try { S.me = await api("/v1/me"); }
  catch (err) { sessionStorage.removeItem("touchstream-token"); return login(String(err.message)); }
  $("login").hidden = true; $("app").hidden = false;
  $("who").replaceChildren(S.me.subject + " ", el("span", { class: "badge", id: "role" }, S.me.role));
  if (!may("customers")) $("search-panel").replaceChildren(el("p", { class: "note" }, "customer lookup is not available to this role"));
  connectFeed();
  for (const draw of [funnelChart, satisfactionCharts, qualityTable]) draw().catch((err) => console.warn(err));
}

function login(message) {
  $("app").hidden = true; $("login").hidden = false;
  if (message) $("login-message").textContent = message;
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", search);
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    S.token = $("token").value.trim();
    sessionStorage.setItem("touchstream-token", S.token);
    start();
  });
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem("touchstream-token", fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  S.token = sessionStorage.getItem("touchstream-token");
  if (S.token) start(); else login("");
});
"""

_BODY = """
<header><h1>Touchstream</h1><span class="status" id="feed-status">connecting…</span>
<span class="who" id="who"></span></header>
<section id="login" class="panel" hidden>
  <h2>Sign in</h2>
  <p>Paste an API token (<code>touchstream api tokens add --role sales</code>).</p>
  <form id="login-form" class="search"><input type="password" id="token" autocomplete="off"
    placeholder="tsa_…"><button type="submit">Open</button></form>
  <p class="note" id="login-message"></p>
</section>
<div id="app" hidden>
<main>
  <section class="panel">
    <h2>Customer</h2>
    <div id="search-panel">
      <form id="search-form" class="search"><input type="text" id="q" autocomplete="off"
        placeholder="email, phone, external id or name"><button type="submit" id="search-button">Search</button></form>
      <ul class="results" id="results"></ul>
    </div>
    <div id="card"><p class="note">Search a customer to see the 360 view your role allows.</p></div>
  </section>
  <section class="panel">
    <h2>Feed: recent and live signals and customer changes</h2>
    <ul id="feed"></ul>
  </section>
  <section class="panel wide charts">
    <div><h2>Sales funnel (all periods)</h2><div id="funnel"></div></div>
    <div><h2>NPS by month</h2><div id="nps"></div></div>
    <div><h2>CSAT: % satisfied by month</h2><div id="csat"></div></div>
  </section>
  <section class="panel wide"><h2>Data quality</h2><div id="quality"></div></section>
</main>
</div>
"""


def render(title: str = "Touchstream") -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} · dashboard</title>"
        "<link rel='icon' href='data:,'>"
        f"<style>{_STYLE}</style></head><body>{_BODY}<script>{_SCRIPT}</script></body></html>"
    )
