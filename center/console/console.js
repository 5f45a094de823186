// The Starling web console: plain JavaScript over the center's API (/v1/...).
// The session cookie authenticates; state-changing calls carry the CSRF token.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { csrf: "", me: null, hosts: [], actions: [], selected: [], job: null, source: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

class ApiError extends Error {
  constructor(status, error) {
    super(`${error.code}: ${error.message}`);
    this.status = status;
    this.error = error;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-Starling-CSRF"] = state.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  const doc = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, doc.error || { code: "?", message: resp.statusText, meaning: "", hint: "" });
  return doc;
}

function showError(err) {
  const box = $("#error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  const e = err.error;
  box.textContent = e ? `${e.code} ${e.meaning}: ${e.message}${e.hint ? "\nhint: " + e.hint : ""}` : String(err);
  box.hidden = false;
}

function show(view) {
  for (const v of ["login", "run", "history", "fleet", "terminal"]) $(`#${v}-view`).hidden = v !== view;
  for (const b of document.querySelectorAll("nav .tab")) b.classList.toggle("active", b.dataset.view === view);
  if (view === "history") loadHistory().catch(showError);
  if (view === "fleet") loadFleet().catch(showError);
  if (view === "terminal") termHosts();
}

// -- login --------------------------------------------------------------------------------------

async function start() {
  try {
    const me = await api("GET", "/ui/session");
    await enter(me);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { show("login"); return; }
    showError(err);
  }
}

async function enter(me) {
  state.me = me;
  state.csrf = me.csrf;
  $("#who").textContent = `${me.name || me.key_id}${me.admin ? " (admin)" : ""}`;
  $("#nav").hidden = false;
  $("#logout").hidden = false;
  showError(null);
  show("run");
  await Promise.all([loadHosts(), loadActions()]);
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/ui/login", { key_id: $("#key_id").value.trim(), secret: $("#secret").value });
    $("#secret").value = "";
    await enter(await api("GET", "/ui/session"));
  } catch (err) { showError(err); }
});

$("#logout").addEventListener("click", async () => {
  try { await api("POST", "/ui/logout"); } catch (err) { /* the session may have ended already */ }
  location.reload();
});

for (const b of document.querySelectorAll("nav .tab")) b.addEventListener("click", () => show(b.dataset.view));

// -- host selection -----------------------------------------------------------------------------

async function loadHosts() {
  const doc = await api("GET", "/v1/hosts");
  state.hosts = doc.hosts;
  const idcs = [...new Set(doc.hosts.map((h) => h.idc))].sort();
  const sel = $("#sel-idc");
  sel.replaceChildren(el("option", { value: "" }, "any"), ...idcs.map((i) => el("option", { value: i }, i)));
  $("#sel-total").textContent = doc.count;
  updateSelection();
}

const words = (s) => s.split(/[\s,]+/).map((w) => w.trim()).filter(Boolean);

function selectHosts() {
  const idc = $("#sel-idc").value;
  const all = words($("#sel-and").value), any = words($("#sel-or").value), not = words($("#sel-not").value);
  const search = $("#sel-search").value.trim().toLowerCase();
  const listed = new Set(words($("#sel-list").value));
  const online = $("#sel-online").checked;
  return state.hosts.filter((h) => {
    const tags = new Set(h.tags || []);
    if (idc && h.idc !== idc) return false;
    if (online && !h.online) return false;
    if (!all.every((t) => tags.has(t))) return false;
    if (any.length && !any.some((t) => tags.has(t))) return false;
    if (not.some((t) => tags.has(t))) return false;
    if (search && ![h.hostname, h.ip, h.id].some((v) => (v || "").toLowerCase().includes(search))) return false;
    if (listed.size && !(listed.has(h.hostname) || listed.has(h.ip) || listed.has(h.id))) return false;
    return true;
  });
}

function updateSelection() {
  state.selected = selectHosts();
  $("#sel-count").textContent = state.selected.length;
  $("#run-count").textContent = state.selected.length;
  $("#sel-hosts").replaceChildren(...state.selected.slice(0, 500).map((h) =>
    el("div", {}, `${h.hostname}  ${h.ip}  ${h.idc}  [${(h.tags || []).join(", ")}]${h.online ? "" : "  offline"}`)));
}

for (const id of ["#sel-idc", "#sel-and", "#sel-or", "#sel-not", "#sel-search", "#sel-list", "#sel-online"]) {
  $(id).addEventListener("input", updateSelection);
}
$("#sel-show").addEventListener("click", () => { $("#sel-hosts").hidden = !$("#sel-hosts").hidden; });

// -- command or action --------------------------------------------------------------------------

async function loadActions() {
  const doc = await api("GET", "/v1/actions");
  state.actions = doc.actions;
  $("#action").replaceChildren(...doc.actions.map((a) => el("option", { value: a.name }, `${a.name}  (${a.risk})`)));
  buildForm();
}

function mode() { return document.querySelector("input[name=mode]:checked").value; }

for (const r of document.querySelectorAll("input[name=mode]")) {
  r.addEventListener("change", () => {
    $("#mode-command").hidden = mode() !== "command";
    $("#mode-action").hidden = mode() !== "action";
  });
}
$("#action").addEventListener("change", buildForm);

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return (root.$defs || {})[name] || {};
  }
  return schema || {};
}

function buildForm() {
  const decl = state.actions.find((a) => a.name === $("#action").value);
  const form = $("#action-form");
  form.replaceChildren();
  if (!decl) return;
  $("#action-doc").textContent = decl.description || "";
  const root = decl.params || {};
  const props = resolve(root, root).properties || {};
  const required = new Set(resolve(root, root).required || []);
  for (const [name, raw] of Object.entries(props)) {
    const s = resolve(raw, root);
    const type = s.type || (s.anyOf ? "json" : "string");
    let input;
    if (s.enum) {
      input = el("select", { name }, ...s.enum.map((v) => el("option", { value: JSON.stringify(v) }, v)));
      input.dataset.kind = "json";
    } else if (type === "boolean") {
      input = el("input", { name, type: "checkbox" });
      if (s.default) input.checked = true;
      input.dataset.kind = "boolean";
    } else if (type === "integer" || type === "number") {
      input = el("input", { name, type: "number", step: type === "integer" ? "1" : "any" });
      if (s.minimum !== undefined) input.min = s.minimum;
      if (s.maximum !== undefined) input.max = s.maximum;
      input.dataset.kind = "number";
    } else if (type === "array" && resolve(s.items, root).type === "string") {
      input = el("textarea", { name, rows: "2", placeholder: "one per line" });
      input.dataset.kind = "lines";
    } else if (type === "string") {
      input = el("input", { name, size: "50" });
      input.dataset.kind = "string";
    } else {
      input = el("textarea", { name, rows: "2", placeholder: "JSON" });
      input.dataset.kind = "json";
    }
    if (s.default !== undefined && input.dataset.kind !== "boolean" && s.default !== null) {
      input.value = input.dataset.kind === "lines" ? [].concat(s.default).join("\n")
        : input.dataset.kind === "json" && !s.enum ? JSON.stringify(s.default) : s.enum ? JSON.stringify(s.default) : s.default;
    }
    input.dataset.required = required.has(name) ? "1" : "";
    form.append(el("label", {}, `${name}${required.has(name) ? " *" : ""} (${s.enum ? "choice" : type})`, input));
  }
}

function formParams() {
  const params = {};
  for (const input of $("#action-form").querySelectorAll("[name]")) {
    const { kind, required } = input.dataset;
    const v = input.value;
    if (kind === "boolean") { params[input.name] = input.checked; continue; }
    if (v === "" && !required) continue;
    if (kind === "number") params[input.name] = Number(v);
    else if (kind === "lines") params[input.name] = v.split("\n").map((x) => x.trim()).filter(Boolean);
    else if (kind === "json") {
      try { params[input.name] = JSON.parse(v); } catch (e) { throw new Error(`${input.name}: not valid JSON`); }
    } else params[input.name] = v;
  }
  return params;
}

// -- running and results ------------------------------------------------------------------------

$("#run").addEventListener("click", () => runOn(state.selected.map((h) => h.id)).catch(showError));

async function runOn(hostIds) {
  showError(null);
  if (!hostIds.length) throw new Error("no hosts selected");
  const body = { hosts: hostIds, offline: "fail" };
  if (mode() === "command") {
    const cmd = $("#command").value.trim();
    if (!cmd) throw new Error("type a command");
    body.action = "exec.run";
    body.params = { cmd };
  } else {
    body.action = $("#action").value;
    body.params = formParams();
  }
  const t = Number($("#timeout").value);
  if (t > 0) body.timeout = t;
  state.lastRequest = body;
  const job = await api("POST", "/v1/jobs", body);
  watchJob(job.job_id);
}

// watchJob, the live results and their virtualized lists: results.js.

function progress(view) {
  $("#job-progress").max = Math.max(1, view.total);
  $("#job-progress").value = view.done;
  $("#job-done").textContent = `${view.done} / ${view.total} done`;
  $("#job-state").textContent = view.state;
  $("#job-counts").replaceChildren(...Object.entries(view.counts).sort().map(([s, n]) => el("span", { class: `badge ${s}` }, `${s} ${n}`)));
  $("#cancel").hidden = view.complete || view.state !== "running";
}

$("#rerun").addEventListener("click", async () => {
  try {
    const body = { ...(state.lastRequest || {}), hosts: state.failed };
    if (!body.action) throw new Error("re-run needs the original request; run it from this page");
    state.lastRequest = body;
    const job = await api("POST", "/v1/jobs", body);
    watchJob(job.job_id);
  } catch (err) { showError(err); }
});

$("#cancel").addEventListener("click", () => api("POST", `/v1/jobs/${encodeURIComponent(state.job)}/cancel`).catch(showError));

// -- history ------------------------------------------------------------------------------------

async function loadHistory() {
  const q = new URLSearchParams({ limit: $("#h-limit").value || "50" });
  if ($("#h-state").value) q.set("state", $("#h-state").value);
  if ($("#h-action").value.trim()) q.set("action", $("#h-action").value.trim());
  if ($("#h-account").value.trim()) q.set("account", $("#h-account").value.trim());
  const since = $("#h-since").value ? new Date($("#h-since").value).getTime() / 1000 : 0;
  const doc = await api("GET", `/v1/jobs?${q}`);
  const rows = doc.jobs.filter((j) => j.created >= since).map((j) => {
    const tr = el("tr", { class: "clickable" },
      el("td", {}, el("code", {}, j.id)), el("td", {}, j.action), el("td", {}, `${j.done}/${j.total}`), el("td", {}, j.state),
      el("td", {}, new Date(j.created * 1000).toLocaleString()), el("td", {}, j.account));
    tr.addEventListener("click", () => { state.lastRequest = null; watchJob(j.id); });
    return tr;
  });
  $("#history tbody").replaceChildren(...rows);
}

$("#history-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadHistory().catch(showError); });

// -- fleet overview and charts (chart.js from npm, served as /ui/static/chart.umd.js) ------------

const charts = {};

function chart(id, config) {
  if (typeof window.Chart === "undefined") { $("#charts-missing").hidden = false; return; }
  if (charts[id]) charts[id].destroy();
  charts[id] = new window.Chart($(`#${id}`), { ...config, options: { animation: false, maintainAspectRatio: false, ...config.options } });
}

function countBy(rows, key) {
  const out = new Map();
  for (const r of rows) out.set(key(r), (out.get(key(r)) || 0) + 1);
  return [...out.entries()].sort((a, b) => b[1] - a[1]);
}

function bar(id, title, pairs) {
  chart(id, {
    type: "bar",
    data: { labels: pairs.map((p) => p[0]), datasets: [{ label: title, data: pairs.map((p) => p[1]), backgroundColor: "#4c6fbf" }] },
    options: { plugins: { title: { display: true, text: title }, legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

function hostState(h) {
  if (h.revoked) return "revoked";
  return h.online ? "online" : `offline${h.code ? " " + h.code : ""}`;
}

async function loadFleet() {
  const doc = await api("GET", "/v1/hosts");
  const hosts = doc.hosts;
  const now = Date.now() / 1000;
  const online = hosts.filter((h) => h.online).length;
  $("#fleet-summary").textContent = `${hosts.length} host(s) in your scope, ${online} online, ${hosts.length - online} offline`;
  bar("chart-state", "hosts by state", countBy(hosts, hostState));
  bar("chart-idc", "hosts by IDC", countBy(hosts, (h) => h.idc || "?"));
  bar("chart-version", "hosts by agent version", countBy(hosts, (h) => h.version || "?"));
  const rows = hosts.map((h) => {
    const hl = h.health || {};
    const disks = (hl.disks || []).map((d) => ({ mount: d.mount, pct: d.total ? (100 * d.used) / d.total : 0 }));
    const disk = disks.sort((a, b) => b.pct - a.pct)[0];
    const age = h.last_seen ? now - h.last_seen : Infinity;
    const load = hl.cpus ? hl.load1 / hl.cpus : null;
    const mem = hl.mem_total ? (100 * hl.mem_available) / hl.mem_total : null;
    const score = (h.online ? 0 : 1000) + (disk ? disk.pct : 0) + (load || 0) * 10;
    return { h, age, disk, load, mem, score };
  }).sort((a, b) => b.score - a.score);
  const cell = (text, cls = "") => el("td", cls ? { class: cls } : {}, text);
  $("#health tbody").replaceChildren(...rows.slice(0, 1000).map(({ h, age, disk, load, mem }) => el("tr", {},
    cell(h.hostname), cell(h.idc), cell(hostState(h), h.online ? "" : "bad"),
    cell(Number.isFinite(age) ? `${age.toFixed(0)} s` : "never", age > 60 ? "warn" : ""),
    cell(disk ? `${disk.pct.toFixed(0)}% ${disk.mount}` : "", disk && disk.pct > 90 ? "bad" : disk && disk.pct > 80 ? "warn" : ""),
    cell(load === null ? "" : `${(h.health.load1).toFixed(2)} / ${h.health.cpus}`, load > 2 ? "bad" : load > 1 ? "warn" : ""),
    cell(mem === null ? "" : `${mem.toFixed(0)}%`, mem !== null && mem < 10 ? "bad" : ""),
    cell(h.version || ""))));
}

$("#fleet-refresh").addEventListener("click", () => loadFleet().catch(showError));

function completionChart(view, results) {
  // Seconds from the job's creation to each host's result, as a histogram of 20 bins.
  const times = results.filter((r) => r.times && r.times.finished).map((r) => r.times.finished - view.created);
  if (!times.length) return;
  const max = times.reduce((a, b) => Math.max(a, b), 0.001);
  const bins = 20, width = max / bins;
  const counts = new Array(bins).fill(0);
  for (const t of times) counts[Math.min(bins - 1, Math.floor(t / width))] += 1;
  chart("job-chart", {
    type: "bar",
    data: { labels: counts.map((_, i) => `${(i * width).toFixed(2)}s`), datasets: [{ label: "hosts finished", data: counts, backgroundColor: "#2e9d4f" }] },
    options: { plugins: { title: { display: true, text: `per-host completion time (${times.length} hosts, slowest ${max.toFixed(2)} s)` }, legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { title: { display: true, text: "seconds after submission" } } } },
  });
}

// -- terminal (term.mjs: xterm.js over the center's WebSocket; the session cookie authenticates) ---

function termHosts() {
  const sel = $("#term-host"), keep = sel.value;
  const hosts = state.hosts.filter((h) => h.online).sort((a, b) => (a.hostname < b.hostname ? -1 : 1));
  sel.replaceChildren(...hosts.map((h) => el("option", { value: h.hostname || h.id }, `${h.hostname}  ${h.ip}  ${h.idc}`)));
  if (keep) sel.value = keep;
}

$("#term-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(null);
  try {
    const { attach } = await import("/ui/static/term.mjs");
    if (state.terminal) state.terminal.close();
    const box = el("div", { class: "term" });
    $("#term-box").replaceChildren(box);
    state.terminal = attach(box, { host: $("#term-host").value });
    window.starlingTerminal = state.terminal;  // for the browser tests and the devtools console
    $("#term-close").hidden = false;
  } catch (err) { showError(err); }
});
$("#term-close").addEventListener("click", () => { if (state.terminal) state.terminal.close(); $("#term-close").hidden = true; });

window.addEventListener("error", (ev) => showError(ev.error || ev.message));
window.addEventListener("unhandledrejection", (ev) => showError(ev.reason));
start();
