/// The console's script (served as `/ui/assets/console.HASH.js`): routing on the path, the pages, the trace
/// graph (SVG), the token dialog. Plain JavaScript, no library, nothing fetched from elsewhere.
enum ConsoleScript {
    static let source = #"""
// The Evento console: a page per address under /ui, rendered from Evento's JSON API. No dependencies.
"use strict";

const TOKEN_KEY = "evento.adminToken";
const main = () => document.getElementById("main");

// ---- DOM ----------------------------------------------------------------------------------------------
// h("a", {href: "/ui"}, "text", child…): elements built with properties and text nodes only (no HTML strings,
// so no value from the server is ever parsed as markup).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const enc = encodeURIComponent;
const link = (href, text, attrs) => h("a", Object.assign({ href }, attrs || {}), text);
const entityLink = (e) => link("/ui/entities/" + enc(e), e, { class: "mono" });
const eventLink = (id, text) => link("/ui/events/" + enc(id), text || short(id), { class: "mono", title: id });
const commandLink = (id, text) => link("/ui/commands/" + enc(id), text || short(id), { class: "mono", title: id });
const traceLink = (id, text) => link("/ui/trace/" + enc(id), text || "trace");
const badge = (text, kind) => h("span", { class: "badge " + (kind || text) }, text);
const short = (id) => (id && id.length > 13 ? id.slice(0, 8) + "…" + id.slice(-4) : id || "");
const pretty = (v) => JSON.stringify(v, null, 2);
function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? t : d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
function num(n, digits) {
  if (n === undefined || n === null || !isFinite(n)) return "–";
  return n.toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 1 : digits });
}
function errorBox(e) { return h("div", { class: "error", role: "alert" }, e && e.message ? e.message : String(e)); }
function table(headers, rows, opts) {
  return h("table", opts || {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", typeof x === "string" ? { scope: "col" } : Object.assign({ scope: "col" }, x.attrs), typeof x === "string" ? x : x.text)))),
    rows instanceof HTMLTableSectionElement ? rows : h("tbody", {}, rows));
}
function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}
function setTitle(t) { document.title = t + " · Evento"; }

// ---- API ----------------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, problem, path) {
    super((problem && (problem.detail || problem.title || problem.message)) || "HTTP " + status + " from " + path);
    this.status = status;
    this.problem = problem;
  }
}
function token() { return sessionStorage.getItem(TOKEN_KEY); }
function showTokenState() { document.getElementById("token-button").classList.toggle("set", !!token()); }

// Calls the API; on a 401 (no token, or a refused one) or a 403 naming a scope (the token's scope is too
// small), asks for a token and repeats the call with it.
async function api(path, opts) {
  opts = opts || {};
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const t = token();
    if (t) headers.Authorization = "Bearer " + t;
    const r = await fetch(path, {
      method: opts.method || "GET", headers, signal: opts.signal, cache: "no-store",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    if (r.status === 401 && attempt < 3 && !opts.noPrompt) {
      await askToken(t ? "The token was refused. Enter an access token of this server." : "This server needs an access token (EVENTO_TOKENS or EVENTO_ADMIN_TOKEN).");
      continue;
    }
    if (r.status === 403 && attempt < 3 && !opts.noPrompt) {
      const problem = await r.clone().json().catch(() => null);
      if (problem && problem.scope) {
        await askToken(`This needs a token of the ${problem.scope} scope; the one given has less.`);
        continue;
      }
    }
    const type = r.headers.get("Content-Type") || "";
    const body = r.status === 204 ? null : type.includes("json") ? await r.json().catch(() => null) : await r.text();
    if (!r.ok) throw new ApiError(r.status, typeof body === "object" ? body : { detail: body }, path);
    return body;
  }
}

// The token dialog. Resolves once a token is entered; rejects on cancel.
let tokenWaiters = [];
function askToken(reason) {
  const dialog = document.getElementById("token-dialog");
  document.getElementById("token-reason").textContent = reason || "Enter an access token of this server (EVENTO_TOKENS or EVENTO_ADMIN_TOKEN).";
  const input = document.getElementById("token-input");
  input.value = "";
  if (!dialog.open) dialog.showModal();
  input.focus();
  return new Promise((resolve, reject) => tokenWaiters.push({ resolve, reject }));
}
function settleToken(ok) {
  const waiters = tokenWaiters;
  tokenWaiters = [];
  for (const w of waiters) ok ? w.resolve() : w.reject(new ApiError(401, { detail: "This needs an access token; none was given." }, ""));
}
function setupTokenDialog() {
  const dialog = document.getElementById("token-dialog");
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = document.getElementById("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    showTokenState();
    dialog.close();
    if (tokenWaiters.length) settleToken(true); else route();
  });
  document.getElementById("token-cancel").addEventListener("click", () => { dialog.close(); settleToken(false); });
  document.getElementById("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    dialog.close();
    settleToken(false);
  });
  dialog.addEventListener("cancel", () => settleToken(false));
  document.getElementById("token-button").addEventListener("click", () => askToken("Enter an access token of this server (EVENTO_TOKENS or EVENTO_ADMIN_TOKEN).").then(route, () => {}));
  showTokenState();
}

// ---- Routing ------------------------------------------------------------------------------------------
// Every page is a function of the path and query; it gets a signal that aborts when the user leaves it
// (live updates stop with the page).
let current = null;
const routes = [
  [/^\/ui\/?$/, pageOverview, "overview"],
  [/^\/ui\/events\/?$/, pageFeed, "events"],
  [/^\/ui\/events\/(.+)$/, pageEvent, "events"],
  [/^\/ui\/entities\/?$/, pageEntitySearch, "entities"],
  [/^\/ui\/entities\/(.+)$/, pageEntity, "entities"],
  [/^\/ui\/commands\/?$/, pageCommands, "commands"],
  [/^\/ui\/commands\/(.+)$/, pageCommand, "commands"],
  [/^\/ui\/trace\/(.+)$/, pageTrace, ""],
  [/^\/ui\/dead-letters\/?$/, pageDeadLetters, "dead-letters"],
  [/^\/ui\/functions\/?$/, pageFunctions, "functions"],
  [/^\/ui\/functions\/(.+)$/, pageFunction, "functions"],
  [/^\/ui\/schemas\/?$/, pageSchemas, "schemas"],
  [/^\/ui\/schemas\/(.+)$/, pageSchema, "schemas"],
  [/^\/ui\/cluster\/?$/, pageCluster, "cluster"],
  [/^\/ui\/projectors\/?$/, pageProjectors, "projectors"],
  [/^\/ui\/views\/([^/]+)$/, pageView, "projectors"],
];
async function route() {
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  const root = main();
  root.replaceChildren();
  for (const [re, page, section] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll("header nav a")) {
      if (a.dataset.section === section) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    try {
      await page(root, { params: m.slice(1).map(decodeURIComponent), query, signal: controller.signal });
    } catch (e) {
      if (e.name === "AbortError" || controller.signal.aborted) return;
      root.append(errorBox(e));
      if (e.status === 401) root.append(h("p", {}, h("button", { type: "button", onclick: () => askToken().then(route, () => {}) }, "Enter an access token")));
    }
    return;
  }
  setTitle("Not found");
  root.append(h("h1", {}, "No such page"), h("p", {}, "Nothing lives at ", h("code", {}, path), ". ", link("/ui", "Back to the overview")));
}
function go(href) {
  history.pushState(null, "", href);
  route().then(() => main().focus({ preventScroll: true }));
  window.scrollTo(0, 0);
}
// Plain anchors everywhere; same-document navigation for the console's own addresses.
document.addEventListener("click", (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest && ev.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const href = a.getAttribute("href") || (a.getAttributeNS && a.getAttributeNS("http://www.w3.org/1999/xlink", "href"));
  if (!href || !href.startsWith("/ui")) return;
  ev.preventDefault();
  go(href);
});
window.addEventListener("popstate", route);
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  if (ev.key === "/" && !typing) { ev.preventDefault(); document.getElementById("q").focus(); }
});

// Sleeps, or rejects when the page is left.
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal && signal.addEventListener("abort", () => { clearTimeout(t); reject(new DOMException("left", "AbortError")); }, { once: true });
  });
}

// The search box: an event or command id goes to its page; an entity id to its stream; anything else is a
// prefix search.
async function search(q) {
  q = q.trim();
  if (!q) return;
  if (q.includes(":")) {
    const r = await api("/entities?limit=1&prefix=" + enc(q)).catch(() => null);
    if (r && r.entities[0] === q) return go("/ui/entities/" + enc(q));
    return go("/ui/entities?prefix=" + enc(q));
  }
  if (await api("/events/" + enc(q)).then(() => true, () => false)) return go("/ui/events/" + enc(q));
  if (await api("/commands/" + enc(q)).then(() => true, () => false)) return go("/ui/commands/" + enc(q));
  go("/ui/entities?prefix=" + enc(q));
}

// ---- Metrics ------------------------------------------------------------------------------------------
// Prometheus text → [{name, labels, value}].
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const p of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}
function metricSum(metrics, name, filter) {
  let sum = 0, found = false;
  for (const m of metrics) {
    if (m.name !== name) continue;
    if (filter && !Object.entries(filter).every(([k, v]) => m.labels[k] === v)) continue;
    sum += m.value;
    found = true;
  }
  return found ? sum : undefined;
}
// A small line chart of the last values (SVG, scaled to its own maximum).
function sparkline(values, label) {
  const w = 200, hgt = 42;
  const max = Math.max(1e-9, ...values.filter((v) => isFinite(v)));
  const pts = values.map((v, i) => [values.length < 2 ? 0 : (i / (values.length - 1)) * w, hgt - 2 - ((isFinite(v) ? v : 0) / max) * (hgt - 6)]);
  const line = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
  const svg = s("svg", { class: "spark", viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "none", role: "img", "aria-label": label });
  if (pts.length > 1) {
    svg.append(s("path", { class: "area", d: line + ` L${w} ${hgt} L0 ${hgt} Z` }), s("path", { class: "line", d: line }));
  }
  return svg;
}

// ---- Overview -----------------------------------------------------------------------------------------
async function pageOverview(root, { signal }) {
  setTitle("Overview");
  const series = { events: [], commands: [], backlog: [], latency: [] };
  const keep = 120;
  const cards = {};
  const card = (key, label, unit) => {
    const value = h("div", { class: "value", id: "ov-" + key, "aria-live": "off" }, "–");
    const chart = h("div", {});
    const sub = h("div", { class: "muted" }, unit || "");
    cards[key] = { value, chart, sub };
    return h("section", { class: "card", "aria-label": label }, h("div", { class: "label" }, label), value, chart, sub);
  };
  const stats = h("dl", { class: "kv" });
  const relay = h("div", {}, "–");
  const recent = h("tbody", {});
  root.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Overview"), h("span", { class: "live", id: "ov-live" }, "live, every second")),
    h("div", { class: "grid" },
      card("events", "Events / s", "appended"), card("commands", "Commands / s", "finished"),
      card("backlog", "Command backlog", "queued or running"), card("latency", "Function call latency", "mean over the last second")),
    h("div", { class: "cols" },
      h("section", { class: "panel" }, h("h2", {}, "Pipeline"), stats),
      h("section", { class: "panel" }, h("h2", {}, "Kafka relay"), relay)),
    h("section", { class: "panel" },
      h("div", { class: "toolbar" }, h("h2", {}, "Latest events"), link("/ui/events", "the whole feed")),
      table(["Position", "Entity", "Type", "Event", "Time"], recent)));

  let previous = null;
  const feed = followFeed(recent, signal, 12);
  const tick = async () => {
    const [text, health] = await Promise.all([
      fetch("/metrics", { signal, cache: "no-store" }).then((r) => r.text()),
      api("/healthz", { signal }),
    ]);
    const m = parseMetrics(text);
    const now = performance.now();
    const sample = {
      t: now,
      events: metricSum(m, "evento_events_appended_total") || 0,
      commands: ["succeeded", "failed", "dead"].reduce((a, st) => a + (metricSum(m, "evento_commands_total", { status: st }) || 0), 0),
      callSum: metricSum(m, "evento_function_call_duration_seconds_sum") || 0,
      callCount: metricSum(m, "evento_function_call_duration_seconds_count") || 0,
    };
    if (previous) {
      const dt = Math.max(0.001, (now - previous.t) / 1000);
      const calls = sample.callCount - previous.callCount;
      push(series.events, Math.max(0, (sample.events - previous.events) / dt));
      push(series.commands, Math.max(0, (sample.commands - previous.commands) / dt));
      push(series.latency, calls > 0 ? ((sample.callSum - previous.callSum) / calls) * 1000 : NaN);
    }
    push(series.backlog, health.commandBacklog || 0);
    previous = sample;
    show("events", series.events, (v) => num(v));
    show("commands", series.commands, (v) => num(v));
    show("backlog", series.backlog, (v) => num(v, 0));
    show("latency", series.latency.map((v) => (isFinite(v) ? v : 0)), () => {
      const last = [...series.latency].reverse().find((v) => isFinite(v));
      return last === undefined ? "–" : num(last, 2) + " ms";
    });
    const lagRows = m.filter((x) => x.name === "evento_dispatcher_lag_events").map((x) => ["Dispatcher " + x.labels.dispatcher + " lag", num(x.value, 0) + " events"]);
    stats.replaceChildren(...kv([
      ["Head position", h("span", { id: "ov-head" }, num(health.headPosition, 0))],
      ["Events appended (since start)", num(sample.events, 0)],
      ["Commands accepted", num(metricSum(m, "evento_commands_accepted_total"), 0)],
      ["Commands succeeded", num(metricSum(m, "evento_commands_total", { status: "succeeded" }) || 0, 0)],
      ["Commands failed", num(metricSum(m, "evento_commands_total", { status: "failed" }) || 0, 0)],
      ["Commands dead", link("/ui/dead-letters", num(metricSum(m, "evento_commands_total", { status: "dead" }) || 0, 0))],
      ["Retries", num(metricSum(m, "evento_commands_total", { status: "retried" }) || 0, 0)],
      ["Dispatch lag", num(metricSum(m, "evento_dispatch_lag_events"), 0) + " events"],
      ...lagRows,
      ["Memory (RSS)", num((health.rssBytes || 0) / 1048576, 0) + " MiB"],
    ]).childNodes);
    if (health.kafka) {
      relay.replaceChildren(kv([
        ["State", badge(health.kafka.connected ? "connected" : "disconnected")],
        ["Outbox lag", num(health.kafka.lag, 0) + " events"],
        ["Cursor", num(health.kafka.cursor, 0)],
        ["Published (since start)", num(metricSum(m, "evento_kafka_published_total"), 0)],
        ["Delivery errors", num(metricSum(m, "evento_kafka_delivery_errors_total"), 0)],
      ]));
    } else {
      relay.replaceChildren(h("p", { class: "muted" }, "Kafka is not configured: events wait in the outbox (evento serve --kafka-brokers HOST:PORT)."));
    }
  };
  function push(arr, v) { arr.push(v); if (arr.length > keep) arr.shift(); }
  function show(key, values, fmt) {
    const c = cards[key];
    c.value.textContent = values.length ? fmt(values[values.length - 1]) : "–";
    c.chart.replaceChildren(sparkline(values, key + " over the last " + values.length + " seconds"));
  }
  while (!signal.aborted) {
    try {
      await tick();
      document.getElementById("ov-live").classList.remove("off");
    } catch (e) {
      if (signal.aborted) break;
      document.getElementById("ov-live").classList.add("off");
    }
    await sleep(1000, signal).catch(() => {});
  }
  await feed.catch(() => {});
}

// Long-polls the global feed into a table body, newest first, keeping `keep` rows.
async function followFeed(tbody, signal, keep, onEvent) {
  const health = await api("/healthz", { signal });
  let after = Math.max(0, health.headPosition - keep);
  let first = true;
  while (!signal.aborted) {
    let page;
    try {
      page = await api(`/events?afterPosition=${after}&limit=200&waitMs=${first ? 0 : 20000}`, { signal });
    } catch (e) {
      if (signal.aborted) return;
      await sleep(2000, signal);
      continue;
    }
    for (const e of page.events) {
      const row = eventRow(e, !first);
      tbody.prepend(row);
      onEvent && onEvent(e);
    }
    while (tbody.children.length > keep) tbody.lastChild.remove();
    after = page.lastPosition;
    first = false;
  }
}
function eventRow(e, fresh) {
  return h("tr", { class: fresh ? "fresh" : "" },
    h("td", { class: "num" }, e.position), h("td", {}, entityLink(e.entity), h("span", { class: "muted" }, " #" + e.sequence)),
    h("td", {}, e.type), h("td", {}, eventLink(e.id)), h("td", { class: "muted" }, when(e.time)));
}

// ---- The global feed ----------------------------------------------------------------------------------
async function pageFeed(root, { query, signal }) {
  setTitle("Feed");
  const size = 50;
  if (query.has("after")) {
    // A fixed page, from a position: shareable, and paged both ways.
    const after = Math.max(0, Number(query.get("after")) || 0);
    const page = await api(`/events?afterPosition=${after}&limit=${size}`, { signal });
    const health = await api("/healthz", { signal });
    root.append(h("h1", {}, "Feed from position " + (after + 1)),
      pager([after > 0 && ["/ui/events?after=" + Math.max(0, after - size), "← earlier"],
        page.events.length && page.lastPosition < health.headPosition && ["/ui/events?after=" + page.lastPosition, "later →"],
        ["/ui/events", "live"]]),
      table(["Position", "Entity", "Type", "Event", "Time"], page.events.map((e) => eventRow(e, false))),
      page.events.length ? null : h("p", { class: "muted" }, "No events after this position."));
    return;
  }
  const tbody = h("tbody", {});
  const head = await api("/healthz", { signal });
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Feed"), h("span", { class: "live" }, "live: new events appear at the top")),
    pager([head.headPosition > size && ["/ui/events?after=" + Math.max(0, head.headPosition - 2 * size), "← earlier"], ["/ui/events?after=0", "from the start"]]),
    table(["Position", "Entity", "Type", "Event", "Time"], tbody));
  await followFeed(tbody, signal, 200);
}
function pager(items) {
  return h("nav", { class: "pager", "aria-label": "Pages" }, items.filter(Boolean).map(([href, text]) => link(href, text)));
}

// ---- Streams ------------------------------------------------------------------------------------------
async function pageEntitySearch(root, { query, signal }) {
  setTitle("Streams");
  const prefix = query.get("prefix") || "";
  const input = h("input", { id: "prefix", name: "prefix", value: prefix, placeholder: "checking: or checking:an", spellcheck: "false", autocomplete: "off" });
  const form = h("form", { class: "toolbar", role: "search", onsubmit: (ev) => { ev.preventDefault(); go("/ui/entities?prefix=" + enc(input.value.trim())); } },
    h("label", { for: "prefix" }, "Entity id or prefix"), input, h("button", { type: "submit", class: "primary" }, "Search"));
  root.append(h("h1", {}, "Streams"), form);
  if (!prefix) {
    const schemas = await api("/schemas", { signal }).catch(() => ({ aggregates: [] }));
    root.append(h("p", { class: "muted" }, "Type the start of an entity id (AGGREGATE:ID). Aggregates with a schema: "),
      h("ul", {}, schemas.aggregates.map((a) => h("li", {}, link("/ui/entities?prefix=" + enc(a.aggregate + ":"), a.aggregate + ":")))));
    input.focus();
    return;
  }
  const after = query.get("after");
  const r = await api(`/entities?limit=50&prefix=${enc(prefix)}` + (after ? "&after=" + enc(after) : ""), { signal });
  if (!r.prefixSearch) root.append(h("p", { class: "note" }, "This store finds exact entity ids only (no prefix search on PostgreSQL yet)."));
  root.append(r.entities.length
    ? h("ul", { class: "results", id: "entity-results" }, r.entities.map((e) => h("li", {}, entityLink(e))))
    : h("p", {}, "No entity starts with ", h("code", {}, prefix), "."));
  root.append(pager([after && ["/ui/entities?prefix=" + enc(prefix), "← first"], r.next && ["/ui/entities?prefix=" + enc(prefix) + "&after=" + enc(r.next), "more →"]]));
}

async function pageEntity(root, { params, query, signal }) {
  const entity = params[0];
  setTitle(entity);
  const size = 50;
  const aggregate = await api("/aggregates/" + enc(entity), { signal }).catch((e) => ({ error: e }));
  const version = aggregate.error ? 0 : aggregate.version;
  const streamVersion = aggregate.streamVersion || version;
  const from = query.has("from") ? Math.max(1, Number(query.get("from")) || 1) : Math.max(1, streamVersion - size + 1);
  const page = await api(`/entities/${enc(entity)}/events?fromSequence=${from}&limit=${size}`, { signal });
  root.append(h("h1", {}, entity));
  const stateBox = h("section", { class: "panel", "aria-labelledby": "state-title" }, h("h2", { id: "state-title" }, "State"));
  if (aggregate.error) stateBox.append(errorBox(aggregate.error));
  else {
    stateBox.append(kv([["Version", String(version)], aggregate.lagging && ["Lagging", h("span", { class: "badge bad" }, "aggregator failing at " + aggregate.streamVersion)], aggregate.error && ["Error", aggregate.error]]));
    if (aggregate.lagging) stateBox.append(h("p", { class: "note" }, aggregate.error || "The aggregator cannot catch up."));
    stateBox.append(h("pre", { id: "state" }, pretty(aggregate.state)));
  }
  const commandsBox = h("section", { class: "panel", "aria-labelledby": "commands-title" }, h("h2", { id: "commands-title" }, "Commands on this page"),
    h("p", { class: "muted" }, "The commands whose events are shown here. Commands that produced no event: ", link("/ui/commands?status=failed", "failed"), ", ", link("/ui/dead-letters", "dead letters"), "."));
  root.append(h("div", { class: "cols" }, stateBox, commandsBox));
  const last = page.events.length ? page.events[page.events.length - 1].sequence : from - 1;
  root.append(h("h2", {}, "Events"),
    pager([from > 1 && [`/ui/entities/${enc(entity)}?from=1`, "⇤ first"], from > 1 && [`/ui/entities/${enc(entity)}?from=${Math.max(1, from - size)}`, "← earlier"],
      last < streamVersion && [`/ui/entities/${enc(entity)}?from=${page.nextSequence}`, "later →"]]),
    page.events.length
      ? table(["#", "Type", "Event", "Caused by", "Time", "Payload"], page.events.map((e) => h("tr", {},
          h("td", { class: "num" }, e.sequence), h("td", {}, e.type), h("td", {}, eventLink(e.id)),
          h("td", {}, causeLink(e)), h("td", { class: "muted" }, when(e.time)),
          h("td", { class: "wrap mono" }, JSON.stringify(e.payload)))), { id: "entity-events" })
      : h("p", { class: "muted" }, "This entity has no events."));
  // The commands behind the events on this page, with their outcome.
  const ids = [...new Set(page.events.filter((e) => e.causationKind === "command").map((e) => e.causationId))];
  const commands = await Promise.all(ids.map((id) => api("/commands/" + enc(id), { signal }).catch(() => null)));
  commandsBox.append(commands.some(Boolean)
    ? table(["Command", "Type", "Status", "Attempts"], commands.filter(Boolean).map((c) => h("tr", {},
        h("td", {}, commandLink(c.id)), h("td", {}, c.type), h("td", {}, badge(c.status)), h("td", { class: "num" }, c.attempts))))
    : h("p", {}, "None: these events were published directly."));
}
function causeLink(x) {
  if (!x.causationId) return h("span", { class: "muted" }, "—");
  if (x.causationKind === "command") return ["command ", commandLink(x.causationId)];
  if (x.causationKind === "event") return ["event ", eventLink(x.causationId)];
  return ["external ", traceLink(x.causationId, short(x.causationId))];
}

// ---- Event and command pages --------------------------------------------------------------------------
async function pageEvent(root, { params, signal }) {
  const id = params[0];
  const e = await api("/events/" + enc(id), { signal });
  setTitle(e.type + " " + e.entity);
  root.append(h("h1", {}, "Event ", e.type), h("div", { class: "cols" },
    h("section", { class: "panel" }, h("h2", {}, "Envelope"), kv([
      ["Id", h("span", { class: "mono" }, e.id)], ["Entity", entityLink(e.entity)], ["Type", e.type],
      ["Sequence", String(e.sequence)], ["Position", link("/ui/events?after=" + Math.max(0, e.position - 1), String(e.position))],
      ["Time", when(e.time)], ["Caused by", causeLink(e)], ["Correlation", traceLink(e.correlationId, e.correlationId)],
      ["Traceparent", e.traceparent && h("span", { class: "mono" }, e.traceparent)],
      ["Schema id", e.schemaId !== undefined ? String(e.schemaId) : "none (schemaless)"],
    ])),
    h("section", { class: "panel" }, h("h2", {}, "Payload"), h("pre", { id: "payload" }, pretty(e.payload)))));
  if (e.schemaId !== undefined) root.append(schemaPanel(e.schemaId, e.entity.split(":")[0] + "." + e.type, signal));
  await tracePanel(root, e.id, signal);
}

async function pageCommand(root, { params, signal }) {
  const id = params[0];
  let c = await api("/commands/" + enc(id), { signal });
  setTitle(c.type + " " + c.entity);
  const status = h("span", { id: "command-status" }, badge(c.status));
  const actions = h("div", { class: "toolbar" });
  const details = h("div", {});
  const render = () => {
    status.replaceChildren(badge(c.status));
    details.replaceChildren(kv([
      ["Id", h("span", { class: "mono" }, c.id)], ["Entity", entityLink(c.entity)], ["Type", c.type], ["Status", status],
      ["Attempts", String(c.attempts)], ["Accepted", when(c.createdAt)], ["Updated", when(c.updatedAt)],
      ["Caused by", causeLink(c)], ["Correlation", traceLink(c.correlationId, c.correlationId)],
      ["Events", h("span", { id: "result-events" }, c.resultEventIds && c.resultEventIds.length ? c.resultEventIds.map((x, i) => [i ? ", " : "", eventLink(x)]) : "none")],
    ]), c.lastError ? [h("h3", {}, "Last error"), h("pre", { class: "error-text", id: "last-error" }, c.lastError)] : []);
    actions.replaceChildren();
    if (c.status === "dead" || c.status === "failed") {
      actions.append(h("button", { type: "button", class: "primary", id: "retry", onclick: retry }, "Retry"),
        h("span", { class: "muted" }, c.status === "dead" ? "Retries exhausted." : "Failed for a reason retrying may not fix."));
    }
  };
  async function retry(ev) {
    ev.target.disabled = true;
    try {
      await api(`/dead-letters/${enc(c.id)}/retry`, { method: "POST", body: {} });
      c = await watchCommand(c.id, signal, (x) => { c = x; render(); });
    } catch (e) {
      actions.append(errorBox(e));
      ev.target.disabled = false;
    }
    render();
  }
  root.append(h("h1", {}, "Command ", c.type), actions, h("div", { class: "cols" },
    h("section", { class: "panel" }, h("h2", {}, "Record"), details),
    h("section", { class: "panel" }, h("h2", {}, "Payload"), h("pre", { id: "payload" }, pretty(c.payload)))));
  render();
  if (c.status === "pending") watchCommand(c.id, signal, (x) => { c = x; render(); }).catch(() => {});
  await tracePanel(root, c.id, signal);
}

// Polls a command until it is final; calls `update` on every change.
async function watchCommand(id, signal, update) {
  let last = null;
  for (let i = 0; i < 600; i++) {
    const c = await api("/commands/" + enc(id), { signal });
    if (!last || c.status !== last.status || c.attempts !== last.attempts) update(c);
    last = c;
    if (c.status !== "pending") return c;
    await sleep(i < 20 ? 250 : 1000, signal);
  }
  return last;
}

// The Avro schema a payload was validated with (the subject's version with that id).
function schemaPanel(schemaId, subject, signal) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const panel = h("section", { class: "panel" }, h("h2", {}, "Schema ", h("span", { class: "muted" }, "id " + schemaId)), body);
  api("/schemas/ids/" + schemaId, { signal }).then((r) => {
    let text = r.schema;
    try { text = pretty(JSON.parse(r.schema)); } catch (_) { /* shown as stored */ }
    body.replaceChildren(h("p", {}, "Subject ", link("/ui/schemas/" + enc(subject.split(".")[0]) + "?subject=" + enc(subject), subject)), h("pre", { id: "schema" }, text));
  }, (e) => body.replaceChildren(errorBox(e)));
  return panel;
}

// ---- Traces -------------------------------------------------------------------------------------------
async function pageTrace(root, { params, signal }) {
  setTitle("Trace " + params[0]);
  root.append(h("h1", {}, "Trace of ", h("span", { class: "mono" }, params[0])));
  await tracePanel(root, params[0], signal, true);
}

async function tracePanel(root, id, signal, full) {
  const t = await api("/trace/" + enc(id), { signal });
  const box = h("section", { class: "panel", "aria-labelledby": "trace-title" },
    h("div", { class: "toolbar" }, h("h2", { id: "trace-title" }, "Trace"), full ? null : traceLink(id, "open the trace on its own page")),
    h("div", { class: "legend" }, "Back to the external cause, then everything it caused. Each box opens its page; Tab moves between them.",
      h("span", {}, "red: failed or dead"), h("span", {}, "amber: pending or rejected")));
  if (t.chainTruncated) box.append(h("p", { class: "note" }, "The chain is longer than shown: ", traceLink(t.chain[0].causationId || t.chain[0].id, "continue from its first link")));
  if (t.truncated) box.append(h("p", { class: "note" }, "Not everything caused is shown (the trace is too large): open a node's trace to see its part."));
  box.append(traceGraph(t), h("h3", {}, "As a list"), traceOutline(t));
  root.append(box);
}

function nodeLabel(n) {
  if (n.kind === "external") return { kind: "EXTERNAL", title: "request", sub: "", href: "/ui/trace/" + enc(n.id) };
  if (n.kind === "command") return { kind: "COMMAND", title: n.type, sub: n.entity + " · " + n.status, href: "/ui/commands/" + enc(n.id), status: n.status };
  return { kind: "EVENT", title: n.type, sub: n.entity + " #" + n.sequence, href: "/ui/events/" + enc(n.id) };
}
function nodeClasses(n, currentId) {
  const c = ["node", n.kind || "event"];
  if (n.kind === "command" && n.status !== "succeeded") c.push(n.status);
  if (n.missing) c.push("failed");
  if (n.kind !== "command" && /Rejected$/.test(n.type || "")) c.push("rejected");
  if (n.id === currentId) c.push("current");
  return c.join(" ");
}
const clip = (text, n) => (text && text.length > n ? text.slice(0, n - 1) + "…" : text || "");

// The chain (root first) on one row leading to the traced item; the tree of what it caused to its right,
// one column per generation, leaves one row each.
function traceGraph(t) {
  const W = 250, H = 62, GX = 44, GY = 16, PAD = 10;
  const nodes = [];
  const edges = [];
  let nextRow = 0;
  const chain = t.chain.length ? t.chain : [{ id: t.id, kind: "external" }];
  const depth0 = chain.length - 1;
  function place(n, depth) {
    const kids = (n.caused || []).map((c) => place(c, depth + 1));
    const row = kids.length ? (kids[0].row + kids[kids.length - 1].row) / 2 : nextRow++;
    const p = { n, depth, row };
    nodes.push(p);
    for (const k of kids) edges.push([p, k]);
    return p;
  }
  const item = { n: chain[depth0], depth: depth0, row: 0 };
  const kids = t.descendants.map((c) => place(c, depth0 + 1));
  item.row = kids.length ? (kids[0].row + kids[kids.length - 1].row) / 2 : 0;
  nodes.push(item);
  for (const k of kids) edges.push([item, k]);
  let before = item;
  for (let i = depth0 - 1; i >= 0; i--) {
    const p = { n: chain[i], depth: i, row: item.row };
    nodes.push(p);
    edges.push([p, before]);
    before = p;
  }
  const rows = Math.max(1, nextRow);
  const cols = Math.max(...nodes.map((p) => p.depth)) + 1;
  const width = PAD * 2 + cols * W + (cols - 1) * GX, height = PAD * 2 + rows * H + (rows - 1) * GY;
  const x = (p) => PAD + p.depth * (W + GX), y = (p) => PAD + p.row * (H + GY);
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "Trace graph", id: "trace-graph" });
  for (const [a, b] of edges) {
    const x1 = x(a) + W, y1 = y(a) + H / 2, x2 = x(b), y2 = y(b) + H / 2, mx = (x1 + x2) / 2;
    svg.append(s("path", { class: "edge", d: `M${x1} ${y1} C${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}` }));
  }
  // Drawn in reading order (chain, then depth first) so that Tab follows the tree.
  nodes.sort((a, b) => a.depth - b.depth || a.row - b.row);
  for (const p of nodes) {
    const n = p.n, l = nodeLabel(n);
    const a = s("a", { href: l.href, class: nodeClasses(n, t.id), "data-id": n.id, "data-kind": n.kind || "event", "data-type": n.type || "",
      "aria-label": `${n.kind || "event"} ${n.type || ""} ${n.entity || ""} ${n.status || ""} ${n.id}` });
    a.append(s("title", { text: `${l.kind} ${n.type || ""}\n${n.entity || ""}\n${n.id}` }),
      s("rect", { x: x(p), y: y(p), width: W, height: H, rx: 8 }),
      s("text", { x: x(p) + 10, y: y(p) + 15, class: "kind", text: l.kind + (l.status && l.status !== "succeeded" ? " · " + l.status.toUpperCase() : "") }),
      s("text", { x: x(p) + 10, y: y(p) + 31, text: clip(l.title || n.id, 30) }),
      s("text", { x: x(p) + 10, y: y(p) + 46, class: "id", text: clip(l.sub, 34) }),
      s("text", { x: x(p) + 10, y: y(p) + 58, class: "id", text: clip(n.id, 36) }));
    svg.append(a);
  }
  return h("div", { class: "graph" }, svg);
}
function traceOutline(t) {
  const item = (n) => {
    const l = nodeLabel(n);
    return h("li", {}, link(l.href, `${(n.kind || "event")} ${n.type || n.id}`), " ", h("span", { class: "muted" }, l.sub),
      n.caused && n.caused.length ? h("ul", { class: "outline" }, n.caused.map(item)) : null);
  };
  const chain = t.chain.length ? t.chain : [{ id: t.id, kind: "external" }];
  let inner = h("ul", { class: "outline" }, item(Object.assign({}, chain[chain.length - 1], { caused: t.descendants })));
  for (let i = chain.length - 2; i >= 0; i--) inner = h("ul", { class: "outline" }, h("li", {}, link(nodeLabel(chain[i]).href, `${chain[i].kind} ${chain[i].type || chain[i].id}`), inner));
  return inner;
}

// ---- Commands by status -------------------------------------------------------------------------------
const STATUSES = ["pending", "scheduled", "retrying", "failed", "dead", "succeeded"];
async function pageCommands(root, { query, signal }) {
  const status = STATUSES.includes(query.get("status")) ? query.get("status") : "pending";
  setTitle("Commands: " + status);
  const before = query.get("before");
  root.append(h("h1", {}, "Commands"), h("nav", { class: "tabs", "aria-label": "Status" },
    STATUSES.map((st) => link("/ui/commands?status=" + st, st, { "aria-current": st === status ? "page" : null }))));
  const r = await api(`/commands?status=${status}&limit=50` + (before ? "&beforeSeq=" + enc(before) : ""), { signal });
  const rows = r.commands.map((c) => {
    const cell = h("td", {});
    if (c.status === "dead" || c.status === "failed") cell.append(retryButton(c.id, cell, signal));
    return h("tr", {}, h("td", { class: "num" }, c.seq || ""), h("td", {}, commandLink(c.id)), h("td", {}, entityLink(c.entity)), h("td", {}, c.type),
      h("td", {}, badge(c.status)), h("td", { class: "num" }, c.attempts), h("td", { class: "wrap" }, clip(c.lastError || "", 200)),
      h("td", { class: "muted" }, when(c.updatedAt)), cell);
  });
  root.append(
    h("p", { class: "muted" }, { pending: "Accepted and not finished yet, newest first.", scheduled: "Waiting for their time (notBefore / delayMs): durable timers.", retrying: "Pending after a failed attempt: a retry is due.",
      failed: "Ended without events for a reason retrying may not fix.", dead: "Retries exhausted; retry them once the function is fixed.",
      succeeded: "Finished with their events." }[status]),
    rows.length ? table(["Seq", "Command", "Entity", "Type", "Status", "Attempts", "Last error", "Updated", ""], rows, { id: "commands" })
      : h("p", {}, "No " + status + " commands."),
    pager([before && ["/ui/commands?status=" + status, "⇤ newest"], r.nextBeforeSeq && [`/ui/commands?status=${status}&before=${r.nextBeforeSeq}`, "older →"]]));
}

// A Retry button that revives a dead command, then shows it through to its end.
function retryButton(id, cell, signal) {
  const b = h("button", { type: "button", class: "primary", "data-retry": id, onclick: async () => {
    b.disabled = true;
    const state = h("span", { class: "retry-state", "data-for": id }, badge("pending"));
    cell.replaceChildren(state);
    try {
      const r = await api(`/dead-letters/${enc(id)}/retry`, { method: "POST", body: {} });
      if (r && r.kind === "dispatch") {
        state.replaceChildren(badge("succeeded"), " dispatched ", (r.commands || []).map((c) => [" ", commandLink(c.id)]));
        return;
      }
      const c = await watchCommand(id, signal, (x) => state.replaceChildren(badge(x.status), " ", x.status === "pending" ? "running…" : ""));
      state.replaceChildren(badge(c.status), " ", commandLink(id, c.status === "succeeded" ? "done" : "see why"));
    } catch (e) {
      cell.replaceChildren(errorBox(e), b);
      b.disabled = false;
    }
  } }, "Retry");
  return b;
}

async function pageDeadLetters(root, { signal }) {
  setTitle("Dead letters");
  root.append(h("h1", {}, "Dead letters"), h("p", { class: "muted" },
    "Commands whose retries ran out, and dispatches a dispatcher could not answer. Fix the function, then retry."));
  const r = await api("/dead-letters?limit=200", { signal });
  if (!r.deadLetters.length) { root.append(h("p", { id: "no-dead-letters" }, "No dead letters.")); return; }
  root.append(table(["Kind", "Item", "Function", "Attempts", "Error", "Since", ""], r.deadLetters.map((d) => {
    const cell = h("td", {});
    cell.append(retryButton(d.id, cell, signal));
    return h("tr", { "data-id": d.id },
      h("td", {}, d.kind), h("td", {}, d.kind === "command" ? commandLink(d.id) : ["event ", eventLink(d.eventId)]),
      h("td", {}, d.function ? link("/ui/functions/" + enc(d.function), d.function) : "—"), h("td", { class: "num" }, d.attempts),
      h("td", { class: "wrap" }, h("pre", { class: "error-text" }, d.lastError || "")), h("td", { class: "muted" }, when(d.time)), cell);
  }), { id: "dead-letters" }));
  if (r.truncatedByBytes) root.append(h("p", { class: "note" }, "The list is cut at the response size limit."));
}

// ---- Functions ----------------------------------------------------------------------------------------
function transportText(t) {
  if (!t) return "";
  if (t.http) return "http " + t.http.url;
  if (t.process) return "process: " + (t.process.command || []).join(" ") + " ×" + (t.process.workers || 1);
  if (t.container) return "container " + (t.container.image || "") + " ×" + (t.container.replicas || 1);
  return Object.keys(t)[0] || "";
}
function healthOf(f) {
  const st = f.status;
  if (!st) return badge(f.transport && f.transport.http ? "http" : "–", "ok");
  if (st.replicas) {
    const healthy = st.replicas.filter((r) => r.healthy !== false && r.state !== "failed").length;
    return badge(healthy + "/" + st.replicas.length + " replicas", healthy === st.replicas.length && healthy > 0 ? "healthy" : "unhealthy");
  }
  if (st.workers) return [badge(st.workers.length + " workers", st.respawning ? "respawning" : st.workers.length ? "healthy" : "unhealthy"),
    st.restarts ? h("span", { class: "muted" }, " " + st.restarts + " restarts") : null];
  return badge("ok");
}
function functionStats(m, name) {
  const calls = (o) => metricSum(m, "evento_function_calls_total", { function: name, outcome: o }) || 0;
  const sum = metricSum(m, "evento_function_call_duration_seconds_sum", { function: name }) || 0;
  const count = metricSum(m, "evento_function_call_duration_seconds_count", { function: name }) || 0;
  return { ok: calls("ok"), error: calls("error"), timeout: calls("timeout"), mean: count ? (sum / count) * 1000 : undefined };
}
async function pageFunctions(root, { signal }) {
  setTitle("Functions");
  const [list, text] = await Promise.all([api("/functions", { signal }), fetch("/metrics", { signal }).then((r) => r.text())]);
  const m = parseMetrics(text);
  const detailed = await Promise.all(list.functions.map((f) => api("/functions/" + enc(f.name), { signal }).catch(() => f)));
  root.append(h("h1", {}, "Functions"), h("p", { class: "muted" }, "Calls, errors and latency since the server started."));
  root.append(detailed.length ? table(["Name", "Kind", "For", "Transport", "Health", { text: "Calls", attrs: { class: "num" } }, { text: "Errors", attrs: { class: "num" } },
    { text: "Timeouts", attrs: { class: "num" } }, { text: "Mean latency", attrs: { class: "num" } }, ""],
    detailed.map((f) => {
      const st = functionStats(m, f.name);
      return h("tr", { "data-name": f.name }, h("td", {}, link("/ui/functions/" + enc(f.name), f.name)), h("td", {}, f.kind),
        h("td", {}, f.aggregate || (f.events || []).join(", ")), h("td", { class: "wrap mono" }, transportText(f.transport)), h("td", {}, healthOf(f)),
        h("td", { class: "num" }, num(st.ok + st.error + st.timeout, 0)), h("td", { class: "num" }, num(st.error, 0)), h("td", { class: "num" }, num(st.timeout, 0)),
        h("td", { class: "num" }, st.mean === undefined ? "–" : num(st.mean, 2) + " ms"),
        h("td", {}, removeButton(f.name)));
    }), { id: "functions" }) : h("p", {}, "No functions registered."));
  const area = h("textarea", { id: "function-json", rows: 10, spellcheck: "false", "aria-describedby": "function-help" },
    pretty({ name: "savings-handler", kind: "handler", aggregate: "savings", transport: { process: { command: ["python3", "functions/savings/savings.py"], workers: 2 } }, timeoutMs: 5000, maxAttempts: 5 }));
  const out = h("div", { "aria-live": "polite" });
  root.append(h("section", { class: "panel" }, h("h2", {}, "Register a function"),
    h("p", { id: "function-help", class: "muted" }, "The definition as POST /functions takes it (docs/functions.md). A name already registered is refused: remove it first."),
    h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      let body;
      try { body = JSON.parse(area.value); } catch (e) { out.replaceChildren(errorBox("Not valid JSON: " + e.message)); return; }
      try {
        const f = await api("/functions", { method: "POST", body });
        out.replaceChildren(h("p", {}, "Registered ", link("/ui/functions/" + enc(f.name), f.name), "."));
        setTimeout(route, 600);
      } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, h("label", { for: "function-json" }, "Definition (JSON)"), area, h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, "Register"))), out));
}
function removeButton(name) {
  return h("button", { type: "button", class: "danger", "data-remove": name, onclick: async (ev) => {
    if (!window.confirm(`Remove the function ${name}? Its workers stop; commands for its aggregate wait until a function is registered again.`)) return;
    ev.target.disabled = true;
    try {
      await api("/functions/" + enc(name), { method: "DELETE" });
      if (location.pathname === "/ui/functions") route(); else go("/ui/functions");
    } catch (e) { ev.target.after(errorBox(e)); ev.target.disabled = false; }
  } }, "Remove");
}
async function pageFunction(root, { params, signal }) {
  const name = params[0];
  setTitle(name);
  const [f, text] = await Promise.all([api("/functions/" + enc(name), { signal }), fetch("/metrics", { signal }).then((r) => r.text())]);
  const st = functionStats(parseMetrics(text), name);
  const definition = Object.assign({}, f);
  delete definition.status;
  root.append(h("h1", {}, "Function ", name), h("div", { class: "toolbar" }, removeButton(name)),
    h("div", { class: "cols" },
      h("section", { class: "panel" }, h("h2", {}, "Health"), kv([["Kind", f.kind], ["For", f.aggregate || (f.events || []).join(", ")],
        ["Transport", transportText(f.transport)], ["Health", healthOf(f)], ["Calls ok", num(st.ok, 0)], ["Errors", num(st.error, 0)],
        ["Timeouts", num(st.timeout, 0)], ["Mean latency", st.mean === undefined ? "–" : num(st.mean, 2) + " ms"]]),
        f.status ? [h("h3", {}, "Status"), h("pre", {}, pretty(f.status))] : null),
      h("section", { class: "panel" }, h("h2", {}, "Definition"), h("pre", {}, pretty(definition)))));
}

// ---- Projectors and views ------------------------------------------------------------------------------
async function pageProjectors(root, { signal }) {
  setTitle("Projectors and views");
  const r = await api("/projectors", { signal });
  root.append(h("h1", {}, "Projectors"),
    h("p", { class: "muted" }, "Each projector follows the log on its own cursor and keeps its views; lag is the events it has still to see. ",
      "A rebuild replays from the first event into a new generation and swaps when it has caught up; reads keep the current one meanwhile."));
  if (!r.projectors.length) { root.append(h("p", {}, "No projector is registered.")); return; }
  root.append(table(["Projector", "State", "Cursor", { text: "Lag", attrs: { class: "num" } }, "Generation", "Events", "Last error", ""],
    r.projectors.map((p) => {
      const actions = h("td", {});
      const act = (label, path, primary) => h("button", { type: "button", class: primary ? "primary" : "", "data-action": label.toLowerCase(), onclick: async (ev) => {
        ev.target.disabled = true;
        try { await api(path, { method: "POST", body: {} }); route(); } catch (e) { actions.replaceChildren(errorBox(e)); }
      } }, label);
      if (p.state === "parked") actions.append(act("Retry", `/projectors/${enc(p.name)}/retry`, true), " ");
      actions.append(act("Rebuild", `/projectors/${enc(p.name)}/rebuild`, false));
      return h("tr", { "data-name": p.name }, h("td", {}, link("/ui/functions/" + enc(p.name), p.name)), h("td", {}, badge(p.state)),
        h("td", { class: "num" }, p.state === "rebuilding" ? `${p.cursor} (rebuild at ${p.rebuildCursor})` : String(p.cursor)),
        h("td", { class: "num" }, num(p.lag, 0)), h("td", { class: "num" }, String(p.generation)), h("td", {}, (p.events || []).join(", ")),
        h("td", {}, p.lastError ? h("code", {}, p.lastError) : "—"), actions);
    }), { id: "projectors" }));
  const form = h("form", { class: "toolbar", onsubmit: (ev) => { ev.preventDefault(); go("/ui/views/" + enc(input.value.trim())); } },
    h("label", { for: "view-name" }, "Browse a view "), h("input", { id: "view-name", placeholder: "friends" }), h("button", { type: "submit" }, "Open"));
  const input = form.querySelector("input");
  root.append(h("h2", {}, "Views"), form);
}
async function pageView(root, { params, query, signal }) {
  const view = params[0];
  const prefix = query.get("prefix") || "";
  const after = query.get("after");
  setTitle("View " + view);
  const r = await api(`/views/${enc(view)}?limit=50&prefix=${enc(prefix)}` + (after ? "&after=" + enc(after) : ""), { signal });
  const input = h("input", { id: "view-prefix", value: prefix, placeholder: "key prefix" });
  root.append(h("h1", {}, "View ", view),
    h("form", { class: "toolbar", onsubmit: (ev) => { ev.preventDefault(); go(`/ui/views/${enc(view)}?prefix=${enc(input.value)}`); } },
      h("label", { for: "view-prefix" }, "Keys starting with "), input, h("button", { type: "submit" }, "Filter")),
    r.items.length ? table(["Key", "Document", { text: "Position", attrs: { class: "num" } }], r.items.map((d) => h("tr", {},
      h("td", { class: "mono" }, d.key), h("td", {}, h("pre", {}, pretty(d.doc))), h("td", { class: "num" }, String(d.position)))), { id: "documents" })
      : h("p", {}, "No documents", prefix ? " with this prefix." : "."),
    pager([after && [`/ui/views/${enc(view)}?prefix=${enc(prefix)}`, "⇤ first"], r.next && [`/ui/views/${enc(view)}?prefix=${enc(prefix)}&after=${enc(r.next)}`, "more →"]]));
}

// ---- Schemas ------------------------------------------------------------------------------------------
async function pageSchemas(root, { signal }) {
  setTitle("Schemas");
  const [list, config] = await Promise.all([api("/schemas", { signal }), api("/config", { signal }).catch(() => ({}))]);
  root.append(h("h1", {}, "Schemas"), kv([["Compatibility (global)", config.compatibilityLevel || "–"]]),
    list.aggregates.length ? table(["Aggregate", "Schema file version", "Streams"], list.aggregates.map((a) => h("tr", {},
      h("td", {}, link("/ui/schemas/" + enc(a.aggregate), a.aggregate)), h("td", { class: "num" }, a.version),
      h("td", {}, link("/ui/entities?prefix=" + enc(a.aggregate + ":"), a.aggregate + ":…")))), { id: "schemas" })
      : h("p", {}, "No aggregate has a schema."));
}
async function pageSchema(root, { params, query, signal }) {
  const aggregate = params[0];
  setTitle("Schema " + aggregate);
  const [file, subjects, global] = await Promise.all([api("/schemas/" + enc(aggregate), { signal }), api("/subjects", { signal }), api("/config", { signal }).catch(() => ({}))]);
  const mine = subjects.filter((x) => x.startsWith(aggregate + "."));
  const versions = await Promise.all(mine.map((x) => api(`/subjects/${enc(x)}/versions`, { signal }).catch(() => [])));
  const levels = await Promise.all(mine.map((x) => api(`/config/${enc(x)}`, { signal, noPrompt: true }).then((c) => c.compatibilityLevel, () => null)));
  root.append(h("h1", {}, "Schema ", aggregate), kv([["Schema file version", String(file.version)], ["Compatibility (global)", global.compatibilityLevel || "–"]]));
  root.append(h("h2", {}, "Subjects"), table(["Subject", "Versions", "Compatibility", "Schema id (latest)"], mine.map((x, i) => h("tr", {},
    h("td", {}, link(`/ui/schemas/${enc(aggregate)}?subject=${enc(x)}`, x)), h("td", {}, versions[i].join(", ")),
    h("td", {}, levels[i] || h("span", { class: "muted" }, "global")), h("td", { class: "num" }, (file.schemaIds || {})[x.slice(aggregate.length + 1)] || "")))));
  const subject = query.get("subject") && mine.includes(query.get("subject")) ? query.get("subject") : null;
  if (subject) {
    const vs = versions[mine.indexOf(subject)];
    const a = Number(query.get("from")) || (vs.length > 1 ? vs[vs.length - 2] : vs[0]);
    const b = Number(query.get("to")) || vs[vs.length - 1];
    const pick = (name, value) => h("select", { name, id: "diff-" + name }, vs.map((v) => h("option", { value: v, selected: v === value }, "version " + v)));
    const from = pick("from", a), to = pick("to", b);
    const [x, y] = await Promise.all([a, b].map((v) => api(`/subjects/${enc(subject)}/versions/${v}`, { signal })));
    const text = (r) => { try { return pretty(JSON.parse(r.schema)); } catch (_) { return r.schema; } };
    root.append(h("section", { class: "panel" }, h("h2", {}, "Versions of ", subject),
      h("form", { class: "toolbar", onsubmit: (ev) => { ev.preventDefault(); go(`/ui/schemas/${enc(aggregate)}?subject=${enc(subject)}&from=${from.value}&to=${to.value}`); } },
        h("label", { for: "diff-from" }, "Compare"), from, h("label", { for: "diff-to" }, "with"), to, h("button", { type: "submit" }, "Show the difference")),
      a === b ? h("pre", {}, text(y)) : h("pre", { class: "diff", id: "diff" }, lineDiff(text(x), text(y)))));
  }
  root.append(h("h2", {}, "Schema file"), h("pre", { id: "schema-file" }, pretty(file.schema)));
}
// A line diff (longest common subsequence; schemas are small).
function lineDiff(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { out.push(h("span", { class: "same" }, "  " + x[i])); i++; j++; }
    else if (j < m && (i === n || L[i][j + 1] >= L[i + 1][j])) { out.push(h("span", { class: "add" }, "+ " + y[j])); j++; }
    else { out.push(h("span", { class: "del" }, "- " + x[i])); i++; }
  }
  return out;
}

// ---- Cluster ------------------------------------------------------------------------------------------
async function pageCluster(root, { signal }) {
  setTitle("Cluster");
  const c = await api("/cluster", { signal });
  root.append(h("h1", {}, "Cluster"));
  if (c.mode === "single") { root.append(h("p", {}, "A single instance on SQLite: no partitions, no leases.")); return; }
  root.append(kv([["This instance", c.self], ["Partitions", String(c.partitions)], ["Unowned partitions", String(c.unownedPartitions)]]),
    h("h2", {}, "Instances"), table(["Instance", "Address", "Partitions", "Last seen", "Started"], c.instances.map((i) => h("tr", {},
      h("td", { class: "mono" }, i.id), h("td", {}, i.address), h("td", {}, i.partitions.length + ": " + i.partitions.join(" ")),
      h("td", { class: "muted" }, when(i.lastSeen)), h("td", { class: "muted" }, when(i.startedAt))))),
    h("h2", {}, "Relays"), table(["Relay", "Instance", "Token", "Expires"], (c.relays || []).map((r) => h("tr", {},
      h("td", {}, r.name), h("td", { class: "mono" }, r.instance), h("td", { class: "num" }, r.token), h("td", { class: "muted" }, when(r.expiresAt))))));
}

// ---- Start --------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  setupTokenDialog();
  document.getElementById("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search(document.getElementById("q").value).catch((e) => main().prepend(errorBox(e)));
  });
  route();
});
"""#
}
