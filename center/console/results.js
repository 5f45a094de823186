// The batch page's results: live from the job's event stream (`results` events, each host once),
// grouped by identical outcome, shown in two virtualized lists (only the rows in view are in the
// DOM), so a 10,000-host job renders as it arrives and scrolls without building 10,000 rows.
// Loaded before console.js; uses its globals ($, el, api, state, show, showError, progress, ...).
"use strict";

const FINAL = new Set(["succeeded", "failed", "timed_out", "cancelled"]);
// A job this small is re-read whole when done: whole outputs and the failure diagnoses.
const WHOLE_RESULTS = 500;
const GROUP_ROW = 58;
const HOST_ROW = 26;

// A list whose rows all have one height: a spacer as tall as every row, and only the rows in
// view (plus a few either side) built, absolutely placed, on scroll and on refresh().
class VirtualList {
  constructor(box, rowHeight, renderRow) {
    this.box = box;
    this.rowHeight = rowHeight;
    this.renderRow = renderRow;
    this.count = 0;
    this.spacer = el("div", { class: "vspacer" });
    box.replaceChildren(this.spacer);
    box.addEventListener("scroll", () => this.draw(), { passive: true });
  }

  setCount(n) {
    this.count = n;
    this.spacer.style.height = `${n * this.rowHeight}px`;
    this.draw();
  }

  draw() {
    const h = this.rowHeight, top = this.box.scrollTop, view = this.box.clientHeight || 400;
    const first = Math.max(0, Math.floor(top / h) - 5);
    const last = Math.min(this.count, Math.ceil((top + view) / h) + 5);
    const rows = [];
    for (let i = first; i < last; i++) {
      const row = this.renderRow(i);
      row.classList.add("vrow");
      row.style.top = `${i * h}px`;
      row.style.height = `${h}px`;
      rows.push(row);
    }
    this.spacer.replaceChildren(...rows);
  }
}

// -- the live model ---------------------------------------------------------------------------

function newResults(jobId) {
  return { jobId, byTask: new Map(), groups: new Map(), groupList: [], hostList: [], dirty: true, filter: null, view: null };
}

function groupKey(r) {
  const data = r.data === null || r.data === undefined ? "" : canonical(r.data);
  const out = r.digest || `${r.stdout}\u0000${r.stderr}`;
  return JSON.stringify([r.state, r.code, r.exit_code, out, r.code ? r.message : "", data, !!r.truncated]);
}

function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

function addResults(res, rows) {
  for (const r of rows) {
    const old = res.byTask.get(r.task_id);
    if (old) {
      const g = res.groups.get(old.key);
      g.rows = g.rows.filter((x) => x !== old);
      if (!g.rows.length) res.groups.delete(old.key);
    }
    r.key = FINAL.has(r.state) ? groupKey(r) : JSON.stringify(["in progress", r.state]);
    res.byTask.set(r.task_id, r);
    if (!res.groups.has(r.key)) res.groups.set(r.key, { key: r.key, rows: [] });
    res.groups.get(r.key).rows.push(r);
  }
  res.dirty = true;
}

const failedFirst = (r) => (r.state === "succeeded" ? 1 : 0);
const nameOf = (r) => r.hostname || r.host;

function order(res) {
  if (!res.dirty) return;
  res.dirty = false;
  res.groupList = [...res.groups.values()].sort((a, b) =>
    failedFirst(b.rows[0]) - failedFirst(a.rows[0]) || b.rows.length - a.rows.length || (a.key < b.key ? -1 : 1));
  const rows = res.filter ? (res.groups.get(res.filter) || { rows: [] }).rows : [...res.byTask.values()];
  res.hostList = rows.sort((a, b) => failedFirst(a) - failedFirst(b) || (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
}

// -- watching a job ---------------------------------------------------------------------------

function watchJob(jobId) {
  if (state.source) state.source.close();
  state.job = jobId;
  state.results = newResults(jobId);
  state.view = null;
  $("#job").hidden = false;
  $("#job-id").textContent = jobId;
  $("#group-detail").hidden = true;
  $("#host-detail").hidden = true;
  $("#rerun").hidden = true;
  show("run");
  showResults(state.resultsView || "groups");
  let frame = null;
  const paint = () => { if (!frame) frame = requestAnimationFrame(() => { frame = null; renderResults(); }); };
  const source = new EventSource(`/v1/jobs/${encodeURIComponent(jobId)}/events?results=true`);
  state.source = source;
  source.addEventListener("results", (ev) => {
    if (state.job !== jobId) return;
    addResults(state.results, JSON.parse(ev.data).results);
    paint();
  });
  source.addEventListener("progress", (ev) => { state.view = JSON.parse(ev.data); progress(state.view); });
  const finish = () => { source.close(); finished(jobId).catch(showError); };
  source.addEventListener("done", finish);
  source.onerror = finish;
}

async function finished(jobId) {
  if (jobId !== state.job) return;
  const whole = !state.view || state.view.total <= WHOLE_RESULTS;
  const view = await api("GET", `/v1/jobs/${encodeURIComponent(jobId)}?results=${whole}`);
  if (jobId !== state.job) return;
  progress(view);
  if (view.results) addResults(state.results, view.results);
  renderResults();
  const failed = [...state.results.byTask.values()].filter((r) => FINAL.has(r.state) && r.state !== "succeeded");
  $("#rerun").hidden = !(view.complete && failed.length);
  $("#rerun-count").textContent = failed.length;
  state.failed = failed.map((r) => r.host);
  completionChart(view, [...state.results.byTask.values()]);
}

// -- rendering --------------------------------------------------------------------------------

function showResults(which) {
  state.resultsView = which;
  $("#groups").hidden = which !== "groups";
  $("#hosts-list").hidden = which !== "hosts";
  $("#show-groups").classList.toggle("active", which === "groups");
  $("#show-hosts").classList.toggle("active", which === "hosts");
  renderResults();
}

function renderResults() {
  const res = state.results;
  if (!res) return;
  order(res);
  if (!state.groupList) state.groupList = new VirtualList($("#groups"), GROUP_ROW, (i) => groupRow(state.results.groupList[i]));
  if (!state.hostList) state.hostList = new VirtualList($("#hosts-list"), HOST_ROW, (i) => hostRow(state.results.hostList[i]));
  $("#result-count").textContent = `${res.byTask.size} result(s) in ${res.groups.size} group(s)`;
  $("#filter-note").hidden = !res.filter;
  if (!$("#groups").hidden) state.groupList.setCount(res.groupList.length);
  if (!$("#hosts-list").hidden) state.hostList.setCount(res.hostList.length);
}

function outcome(r) {
  const parts = [FINAL.has(r.state) ? r.state : `in progress: ${r.state}`];
  if (r.code) parts.push(`${r.code} ${r.meaning || ""}`.trim());
  if (r.exit_code !== null && r.exit_code !== undefined) parts.push(`exit=${r.exit_code}`);
  return parts.join("  ");
}

function firstLine(r) {
  const text = r.stdout || r.stderr || (r.data !== null && r.data !== undefined ? JSON.stringify(r.data) : "") || (r.code ? r.message : "");
  return (text || "").split("\n", 1)[0].slice(0, 200);
}

function groupRow(g) {
  const r = g.rows[0], n = g.rows.length;
  const head = el("div", { class: "head" }, `${n} host${n === 1 ? "" : "s"} · ${outcome(r)}`);
  if (r.truncated) head.append(" ", el("span", { class: "truncated" }, "output truncated"));
  const names = g.rows.slice(0, 8).map(nameOf);
  const row = el("div", { class: `group ${r.state}`, role: "button", tabindex: "0" }, head,
    el("div", { class: "hosts" }, names.join(", ") + (n > names.length ? ` … +${n - names.length} more` : "")),
    el("div", { class: "preview" }, firstLine(r)));
  return clickable(row, () => openGroup(g));
}

function hostRow(r) {
  const row = el("div", { class: `hostrow ${r.state}`, role: "button", tabindex: "0" },
    el("span", { class: "name" }, nameOf(r)), el("span", { class: "outcome" }, outcome(r)),
    el("span", { class: "preview" }, firstLine(r)));
  if (r.truncated) row.append(el("span", { class: "truncated" }, "truncated"));
  return clickable(row, () => openHost(r));
}

function clickable(row, open) {
  row.addEventListener("click", open);
  row.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
  return row;
}

function outputs(box, r) {
  if (r.code && r.message && r.message !== r.meaning) box.append(el("div", {}, r.message));
  if (r.hint && r.code) box.append(el("div", { class: "dim" }, `hint: ${r.hint}`));
  if (r.truncated) box.append(el("div", {}, el("span", { class: "truncated" }, "output truncated at the agent's limit")));
  if (r.clipped) box.append(el("div", { class: "dim" }, `the live view shows the first part of this output; the whole is in GET /v1/jobs/${state.job}`));
  if (r.stdout) box.append(el("pre", { class: "stdout" }, r.stdout));
  if (r.stderr) box.append(el("pre", { class: "stderr" }, r.stderr));
  if (r.data !== null && r.data !== undefined) box.append(el("pre", { class: "data" }, JSON.stringify(r.data, null, 2)));
  if (r.diagnosis) box.append(el("pre", { class: "diagnosis" }, JSON.stringify(r.diagnosis, null, 2)));
}

function openGroup(g) {
  const box = $("#group-detail"), r = g.rows[0];
  const only = el("button", { type: "button", id: "group-hosts" }, `show these ${g.rows.length} host(s)`);
  only.addEventListener("click", () => { state.results.filter = g.key; state.results.dirty = true; showResults("hosts"); });
  box.replaceChildren(el("div", { class: "head" }, `${g.rows.length} host(s) · ${outcome(r)}`), only);
  outputs(box, r);
  box.className = `detail group ${r.state}`;
  box.hidden = false;
}

function openHost(r) {
  const box = $("#host-detail");
  box.replaceChildren(el("div", { class: "head" }, el("strong", {}, nameOf(r)), `  ${r.ip || ""}  ${outcome(r)}`));
  outputs(box, r);
  box.className = `detail host ${r.state}`;
  box.hidden = false;
}

$("#show-groups").addEventListener("click", () => showResults("groups"));
$("#show-hosts").addEventListener("click", () => showResults("hosts"));
$("#filter-clear").addEventListener("click", () => { state.results.filter = null; state.results.dirty = true; renderResults(); });
