// The batch page with a big job, in Debian's headless chromium (playwright-core, no download).
// Driven by bench/console_big.py: env STARLING_API, STARLING_KEY_ID, STARLING_SECRET, HOSTS (expected
// count the page must see online, at least), COMMAND, TIMEOUT (the job's, seconds), CONSOLE_MODULES, CHROMIUM, SHOT (optional screenshot path). Prints one JSON object.
import { createRequire } from "node:module";

const require = createRequire(process.env.CONSOLE_MODULES + "/");
const { chromium } = require("playwright-core");

const atLeast = Number(process.env.HOSTS);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(600000);
  await page.goto(`${process.env.STARLING_API}/ui/`);
  await page.fill("#key_id", process.env.STARLING_KEY_ID);
  await page.fill("#secret", process.env.STARLING_SECRET);
  await page.click("#login-button");
  await page.waitForFunction((n) => Number(document.querySelector("#sel-count").textContent) >= n, atLeast);
  const hosts = Number(await page.textContent("#sel-count"));  // every online host: the job's size
  await page.fill("#command", process.env.COMMAND);
  if (process.env.TIMEOUT) await page.fill("#timeout", process.env.TIMEOUT);  // a loaded center dispatches 10,000 tasks slowly

  // In the page: sample the DOM's row count and the main thread's lag (a 50 ms timer's lateness)
  // from the click until the job is done; long tasks from the browser's own observer.
  await page.evaluate(() => {
    const m = { t0: 0, firstRow: null, allRows: null, maxRows: 0, maxNodes: 0, lags: [], longTasks: [] };
    window.__bench = m;
    new PerformanceObserver((list) => { for (const e of list.getEntries()) m.longTasks.push(e.duration); }).observe({ entryTypes: ["longtask"] });
    let expect = 0;
    const tick = () => {
      const now = performance.now();
      if (expect) m.lags.push(Math.max(0, now - expect));
      expect = now + 50;
      const rows = document.querySelectorAll(".vrow").length;
      m.maxRows = Math.max(m.maxRows, rows);
      m.maxNodes = Math.max(m.maxNodes, document.getElementsByTagName("*").length);
      if (m.t0 && m.firstRow === null && document.querySelector("#groups .vrow")) m.firstRow = now - m.t0;
      const count = document.querySelector("#result-count").textContent;
      if (m.t0 && m.allRows === null && count.startsWith(`${window.__hosts} result`)) m.allRows = now - m.t0;
      if (!m.stop) setTimeout(tick, 50);
    };
    tick();
  });
  await page.evaluate((n) => { window.__hosts = n; window.__bench.t0 = performance.now(); }, hosts);
  await page.click("#run");
  await page.waitForFunction(() => document.querySelector("#job-state").textContent === "done" && window.__bench.allRows !== null,
    null, { polling: 500 });
  const during = await page.evaluate(() => {
    const m = window.__bench;
    m.stop = true;
    const lags = m.lags.slice().sort((a, b) => a - b);
    const pct = (p) => lags.length ? lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] : 0;
    return { firstRowMs: m.firstRow, allRowsMs: m.allRows, maxRows: m.maxRows, maxNodes: m.maxNodes, lagP50: pct(0.5), lagP99: pct(0.99),
      lagMax: lags.length ? lags[lags.length - 1] : 0, longTasks: m.longTasks.length, longestTask: Math.max(0, ...m.longTasks) };
  });

  // Scroll the per-host list: time from setting scrollTop to the rows painted there (two frames).
  await page.click("#show-hosts");
  await page.waitForSelector("#hosts-list .hostrow");
  const scroll = await page.evaluate(async () => {
    const box = document.querySelector("#hosts-list");
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
    const times = [];
    let rows = 0, wrong = 0;
    for (let i = 0; i < 40; i++) {
      const target = Math.floor(((i * 7919) % 40) / 40 * (box.scrollHeight - box.clientHeight));
      const t = performance.now();
      box.scrollTop = target;
      box.dispatchEvent(new Event("scroll"));
      await frame(); await frame();
      times.push(performance.now() - t);
      rows = Math.max(rows, box.querySelectorAll(".vrow").length);
      const first = box.querySelector(".vrow");
      if (!first || parseFloat(first.style.top) > target + box.clientHeight) wrong += 1;
    }
    times.sort((a, b) => a - b);
    return { scrollP50: times[20], scrollMax: times[times.length - 1], scrollRows: rows, scrollWrong: wrong, listHeight: box.scrollHeight };
  });
  if (process.env.SHOT) {
    // The completion chart is drawn once the job's final view has come back from the center.
    await page.waitForFunction(() => window.Chart && window.Chart.getChart("job-chart"), null, { timeout: 120000 }).catch(() => {});
    await page.click("#hosts-list .hostrow");
    await page.screenshot({ path: process.env.SHOT, fullPage: true });
  }
  process.stdout.write(JSON.stringify({ hosts, ...during, ...scroll, results: await page.textContent("#result-count") }) + "\n");
} finally {
  await browser.close();
}
