// Drives the web console in Debian's headless chromium with playwright-core (no browser download).
// Input: env STARLING_API, STARLING_KEY_ID, STARLING_SECRET, SHOTS (a directory), STEPS (comma list).
// Output: one JSON object per line, {"step": ..., ...facts}, then {"done": true}; a failure prints
// {"step": ..., "error": ...} and exits 1. The Python test asserts on these facts.
import { createRequire } from "node:module";

const require = createRequire(process.env.CONSOLE_MODULES + "/");
const { chromium } = require("playwright-core");

const api = process.env.STARLING_API;
const shots = process.env.SHOTS;
const out = (doc) => process.stdout.write(JSON.stringify(doc) + "\n");
let step = "launch";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});
try {
  // The center's certificate comes from the fleet's own CA, which this throwaway profile does not know.
  // bypassCSP: the page allows no eval, which playwright's waitForFunction needs; the CSP header is tested in test_console.py.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(120000);  // a loaded 2-core box can take tens of seconds per job

  step = "login";
  await page.goto(`${api}/ui/`);
  await page.waitForSelector("#login-view:not([hidden])");
  await page.fill("#key_id", process.env.STARLING_KEY_ID);
  await page.fill("#secret", "wrong secret");
  await page.click("#login-button");
  await page.waitForSelector("#error:not([hidden])");
  const refused = await page.textContent("#error");
  await page.screenshot({ path: `${shots}/console-login.png` });
  await page.fill("#secret", process.env.STARLING_SECRET);
  await page.click("#login-button");
  await page.waitForSelector("#run-view:not([hidden])");
  await page.waitForFunction(() => Number(document.querySelector("#sel-total").textContent) > 0);
  const cookies = await context.cookies();
  out({ step, refused, who: await page.textContent("#who"), total: Number(await page.textContent("#sel-total")),
    cookie: cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite })),
    scriptSeesCookie: await page.evaluate(() => document.cookie) });

  step = "select";
  await page.fill("#sel-or", "odd");
  const odd = Number(await page.textContent("#sel-count"));
  await page.fill("#sel-or", "");
  await page.fill("#sel-not", "odd");
  const notOdd = Number(await page.textContent("#sel-count"));
  await page.fill("#sel-not", "");
  const first = await page.evaluate(() => document.querySelector("#sel-total").textContent);
  await page.fill("#sel-search", "a001");
  const searched = Number(await page.textContent("#sel-count"));
  await page.fill("#sel-search", "");
  const all = Number(await page.textContent("#sel-count"));
  out({ step, odd, notOdd, searched, all, total: Number(first) });

  step = "run";
  // The local agents share one machine, so the command tells them apart by its agent, found up the
  // process tree, whose argv names the agent's directory: a001 succeeds, every other host fails with
  // exit 3. (Quotes split the names, so the command's own argv, which a guardian may carry, matches neither.)
  await page.fill("#command", 'p=$PPID; while [ "$p" -gt 1 ] && ! grep -qa "agent_core._dae""mon" /proc/$p/cmdline; do ' +
    'p=$(cut -d" " -f4 /proc/$p/stat); done; grep -qa "/a00""1/" /proc/$p/cmdline && echo first-host || { echo other-host; exit 3; }');
  await page.click("#run");
  await page.waitForSelector("#rerun:not([hidden])");
  const groups = await page.$$eval("#groups .group", (els) => els.map((g) => ({
    cls: g.className, head: g.querySelector(".head").textContent, hosts: g.querySelector(".hosts").textContent,
    text: g.textContent })));
  // The failed group's detail (message, hint) opens on a click; the per-host view lists every host.
  await page.click("#groups .group.failed");
  const failedDetail = await page.textContent("#group-detail");
  await page.click("#show-hosts");
  await page.waitForSelector("#hosts-list .hostrow");
  const hostRows = await page.$$eval("#hosts-list .hostrow", (rows) => rows.map((r) => r.querySelector(".name").textContent));
  await page.click("#hosts-list .hostrow.succeeded");
  const hostDetail = await page.textContent("#host-detail");
  await page.screenshot({ path: `${shots}/console-run.png`, fullPage: true });
  await page.click("#show-groups");
  const jobChart = await page.evaluate(() => {
    const c = window.Chart && window.Chart.getChart("job-chart");
    return c ? c.data.datasets[0].data.reduce((a, b) => a + b, 0) : null;
  });
  out({ step, groups, failedDetail, hostRows, hostDetail, done: await page.textContent("#job-done"), rerun: await page.textContent("#rerun"), jobChart });

  step = "rerun";
  const firstJob = await page.textContent("#job-id");
  await page.click("#rerun");
  await page.waitForFunction((old) => document.querySelector("#job-id").textContent !== old, firstJob);
  await page.waitForSelector("#rerun:not([hidden])");
  out({ step, job: await page.textContent("#job-id"), done: await page.textContent("#job-done"),
    groups: await page.$$eval("#groups .group .head", (els) => els.map((e) => e.textContent)) });

  step = "action";
  // A plugin action with a form built from its params schema (file.checksum: a list `paths`, an enum
  // `algorithm`, an optional `expected`).
  await page.check("input[name=mode][value=action]");
  await page.selectOption("#action", "file.checksum");
  const fields = await page.$$eval("#action-form [name]", (els) => els.map((e) => e.name));
  await page.fill("#action-form [name=paths]", "/etc/hostname");
  await page.selectOption("#action-form [name=algorithm]", '"md5"');
  const before = await page.textContent("#job-id");
  await page.click("#run");
  await page.waitForFunction((old) => document.querySelector("#job-id").textContent !== old, before);
  await page.waitForFunction(() => document.querySelector("#job-done").textContent.startsWith(
    document.querySelector("#job-progress").max + " /") && document.querySelector("#job-state").textContent === "done");
  await page.waitForSelector("#groups .group");
  await page.click("#groups .group");
  await page.waitForSelector("#group-detail pre.data");
  out({ step, fields, data: await page.textContent("#group-detail pre.data"), groups: await page.$$eval("#groups .group", (els) =>
    els.map((g) => ({ cls: g.className, head: g.querySelector(".head").textContent }))) });
  await page.check("input[name=mode][value=command]");

  step = "history";
  await page.click("nav .tab[data-view=history]");
  await page.waitForSelector("#history tbody tr");
  await page.selectOption("#h-state", "done");
  await page.fill("#h-action", "exec.run");
  await page.click("#history-form button[type=submit]");
  await page.waitForSelector("#history tbody tr");
  const rows = await page.$$eval("#history tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  await page.screenshot({ path: `${shots}/console-jobs.png` });
  out({ step, rows });

  step = "fleet";
  await page.click("nav .tab[data-view=fleet]");
  await page.waitForSelector("#health tbody tr");
  const fleet = await page.evaluate(() => {
    const sum = (id) => { const c = window.Chart && window.Chart.getChart(id); return c ? Object.fromEntries(c.data.labels.map((l, i) => [l, c.data.datasets[0].data[i]])) : null; };
    return { state: sum("chart-state"), idc: sum("chart-idc"), version: sum("chart-version") };
  });
  await page.screenshot({ path: `${shots}/console-fleet.png`, fullPage: true });
  out({ step, ...fleet, summary: await page.textContent("#fleet-summary"), health: await page.$$eval("#health tbody tr", (trs) => trs.length) });
  out({ done: true });
} catch (err) {
  const pages = browser.contexts().flatMap((c) => c.pages());
  const shown = pages.length ? await pages[0].textContent("#error").catch(() => "") : "";
  if (pages.length) await pages[0].screenshot({ path: `${shots}/failed-${step}.png`, fullPage: true }).catch(() => {});
  out({ step, error: String(err && err.stack || err), shown });
  process.exitCode = 1;
} finally {
  await browser.close();
}
