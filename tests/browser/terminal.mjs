// Drives the web terminal in Debian's headless chromium with playwright-core (no browser download):
// the console's terminal page, then the embed example from another origin, then an origin that is
// not allowed. Input: env STARLING_API, STARLING_KEY_ID, STARLING_SECRET, HOST (a hostname), PORTAL
// (an allowed origin serving examples/embed-terminal), STRANGER (the same page on an origin that is
// not allowed), VICTIM_PID (an agent to kill for the last step), SCOPED_KEY_ID and SCOPED_SECRET (an
// account whose scope leaves HOST out), SHOTS, CONSOLE_MODULES, CHROMIUM.
// Output: one JSON object per line, {"step": ..., ...facts}, then {"done": true}; a failure prints
// {"step": ..., "error": ...} and exits 1. The Python test asserts on these facts.
//
// Only harmless commands are typed: echo, printf, sleep, exit; the interception check types the
// marker `echo FORBIDDEN-MARKER`, which tests/integration/data/marker-rules.toml blocks.
import { createRequire } from "node:module";

const require = createRequire(process.env.CONSOLE_MODULES + "/");
const { chromium } = require("playwright-core");

// SKIP (comma list of step names) leaves steps out while developing; the Python test then fails on them.
const skip = new Set((process.env.SKIP || "").split(",").filter(Boolean));
const api = process.env.STARLING_API;
const host = process.env.HOST;
const shots = process.env.SHOTS;
const out = (doc) => process.stdout.write(JSON.stringify(doc) + "\n");
let step = "launch";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});

// The terminal object a page exposes: the console's window.starlingTerminal, the example's window.current.
const screen = (page, name) => page.evaluate((n) => window[n] ? window[n].text() : "", name);
async function waitScreen(page, name, needle, timeout = 60000) {
  await page.waitForFunction(([n, s]) => window[n] && window[n].text().includes(s), [name, needle], { timeout, polling: 100 });
  return screen(page, name);
}
async function waitState(page, name, wanted, timeout = 60000) {
  await page.waitForFunction(([n, w]) => {
    const t = window[n] && (window[n].terminal || window[n]);
    return t && w.includes(t.state);
  }, [name, wanted], { timeout, polling: 100 });
}
// Keys go to xterm's hidden textarea inside the shadow root, as a user's would.
async function type(page, text) {
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.type(text, { delay: 5 });
}

try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1200, height: 820 } });
  const page = await context.newPage();
  page.setDefaultTimeout(90000);
  let portal = null, stranger = null;

  step = "console-login";
  if (!skip.has(step)) {
    await page.goto(`${api}/ui/`);
    await page.fill("#key_id", process.env.STARLING_KEY_ID);
    await page.fill("#secret", process.env.STARLING_SECRET);
    await page.click("#login-button");
    await page.waitForFunction(() => Number(document.querySelector("#sel-total").textContent) > 0);
    await page.click("nav .tab[data-view=terminal]");
    await page.selectOption("#term-host", host);
    await page.click("#term-open");
    await waitState(page, "starlingTerminal", ["open"]);
    out({ step, status: await page.evaluate(() => window.starlingTerminal.status.textContent) });
  }

  step = "console-type";
  if (!skip.has(step)) {
    await type(page, "echo typed-$((6*7))\n");
    const typed = await waitScreen(page, "starlingTerminal", "typed-42");
    // The terminal follows its element: narrower box, fewer columns, and the shell is told.
    const wide = await page.evaluate(() => window.starlingTerminal.term.cols);
    await page.evaluate(() => { document.querySelector("#term-box .term").style.width = "520px"; });
    await page.waitForFunction((w) => window.starlingTerminal.term.cols < w, wide);
    const size = await page.evaluate(() => `${window.starlingTerminal.term.rows}x${window.starlingTerminal.term.cols}`);
    await type(page, "echo size-$(stty size | tr ' ' x)\n");
    await waitScreen(page, "starlingTerminal", `size-${size}`);
    await page.evaluate(() => { document.querySelector("#term-box .term").style.width = ""; });
    out({ step, screen: typed, wide, size });
  }

  step = "console-refused";
  if (!skip.has(step)) {
    await type(page, "echo FORBIDDEN-MARKER\n");
    await page.waitForFunction(() => window.starlingTerminal.refusals.length > 0);
    const refusal = await page.evaluate(() => window.starlingTerminal.refusals[0]);
    // The line never reached the shell: the session goes on.
    await type(page, "echo still-$((2+3))\n");
    const afterRefusal = await waitScreen(page, "starlingTerminal", "still-5");
    await page.screenshot({ path: `${shots}/console-terminal.png` });
    out({ step, refusal, screen: afterRefusal });
  }

  step = "console-ctrl-c";
  if (!skip.has(step)) {
    await type(page, "sleep 60\n");
    await page.waitForTimeout(500);
    await page.keyboard.press("Control+C");
    await type(page, "echo after-$((3*3))\n");
    out({ step, screen: await waitScreen(page, "starlingTerminal", "after-9", 20000) });
  }

  step = "console-binary";
  if (!skip.has(step)) {
    // Bytes that are not UTF-8 reach the page as replacement characters; the session survives them.
    await type(page, "printf 'bin:\\377\\376\\200:end\\n'; echo alive-$((4*4))\n");
    out({ step, screen: await waitScreen(page, "starlingTerminal", "alive-16") });
  }

  step = "console-paste";
  if (!skip.has(step)) {
    // A paste larger than the center takes ([console] terminal_max_input) is refused with its code.
    const before = await page.evaluate(() => window.starlingTerminal.refusals.length);
    await page.evaluate(() => window.starlingTerminal.send("x".repeat(200 * 1024)));
    await page.waitForFunction((n) => {
      const t = window.starlingTerminal;
      return t.refusals.length > n || t.state !== "open";
    }, before);
    await page.waitForTimeout(300);
    out({ step, refusals: await page.evaluate(() => window.starlingTerminal.refusals), state: await page.evaluate(() => window.starlingTerminal.state),
      screen: await screen(page, "starlingTerminal") });
  }

  step = "console-exit";
  if (!skip.has(step)) {
    await page.evaluate(() => { window.starlingTerminal = null; });  // wait for the new one, not the last
    await page.click("#term-open");  // a fresh session, whatever the paste did to the last one
    await waitState(page, "starlingTerminal", ["open"]);
    await type(page, "exit\n");
    await waitState(page, "starlingTerminal", ["closed", "failed"]);
    out({ step, screen: await screen(page, "starlingTerminal"), state: await page.evaluate(() => window.starlingTerminal.state),
      reconnect: await page.evaluate(() => !window.starlingTerminal.button.hidden) });
  }

  step = "console-reconnect";
  if (!skip.has(step)) {
    await page.evaluate(() => window.starlingTerminal.reconnect());
    await waitState(page, "starlingTerminal", ["open"]);
    await type(page, "echo again-$((5*5))\n");
    out({ step, screen: await waitScreen(page, "starlingTerminal", "again-25") });
    await page.evaluate(() => window.starlingTerminal.close());
  }

  step = "embed";
  if (!skip.has(step)) {
    portal = await context.newPage();
    portal.setDefaultTimeout(90000);
    await portal.goto(`${process.env.PORTAL}?host=${encodeURIComponent(host)}`);
    await waitState(portal, "current", ["open"]);
    await type(portal, "echo embedded-$((40+2))\n");
    const embedded = await waitScreen(portal, "current", "embedded-42");
    const isolation = await portal.evaluate(() => {
      const root = document.querySelector("#term").shadowRoot;
      return {
        shadow: !!root && !!root.querySelector(".xterm"),
        // The portal's `div { color: ... !important }` stops at the shadow boundary.
        statusColor: getComputedStyle(root.querySelector(".status")).color,
        portalColor: getComputedStyle(document.querySelector("p")).color,
        // Nothing but Starling is added to the page's globals (xterm comes in as ES modules).
        globals: Object.keys(window).filter((k) => /xterm|^Terminal$|FitAddon/i.test(k)),
        xtermInPage: document.querySelectorAll(".xterm").length,
        center: window.Starling.center,
        origin: location.origin,
      };
    });
    await portal.screenshot({ path: `${shots}/embed-terminal.png` });
    out({ step, screen: embedded, isolation });
  }

  step = "embed-bad-token";
  if (!skip.has(step)) {
    // A token that is not one: the center says so with its code, in the terminal.
    await portal.evaluate((h) => {
      window.bad = Starling.terminal(document.querySelector("#term"), { host: h, token: "not-a-token" });
    }, host);
    await waitState(portal, "bad", ["failed", "closed"]);
    out({ step, screen: await screen(portal, "bad"), status: await portal.evaluate(() => window.bad.terminal.status.textContent) });
  }

  step = "embed-expired-token";
  if (!skip.has(step)) {
    // A real token, minted for this host with a 1 s lifetime before the browser started: expired.
    await portal.evaluate(({ h, tok }) => {
      window.expired = Starling.terminal(document.querySelector("#term"), { host: h, token: tok });
    }, { h: host, tok: process.env.EXPIRED_TOKEN });
    await waitState(portal, "expired", ["failed", "closed"]);
    out({ step, screen: await screen(portal, "expired"), status: await portal.evaluate(() => window.expired.terminal.status.textContent) });
  }

  step = "embed-unknown-host";
  if (!skip.has(step)) {
    await portal.evaluate(() => { window.nohost = Starling.terminal(document.querySelector("#term"), { host: "no-such-host", token: "x" }); });
    await waitState(portal, "nohost", ["failed", "closed"]);
    out({ step, screen: await screen(portal, "nohost") });
  }

  step = "stranger";
  if (!skip.has(step)) {
    stranger = await context.newPage();
    stranger.setDefaultTimeout(90000);
    await stranger.goto(`${process.env.STRANGER}?host=${encodeURIComponent(host)}`);
    await waitState(stranger, "current", ["failed", "closed"]);
    await stranger.screenshot({ path: `${shots}/embed-refused.png` });
    out({ step, screen: await screen(stranger, "current"), origin: await stranger.evaluate(() => location.origin) });
  }

  step = "csp";
  if (!skip.has(step)) {
    // The other steps bypass the page's Content-Security-Policy (playwright's waitForFunction
    // evaluates strings); here it is enforced: the terminal works and nothing is blocked.
    const strict = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 820 } });
    const p3 = await strict.newPage();
    const blocked = [];
    p3.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) blocked.push(m.text()); });
    const poll = async (fn, arg) => {
      for (let i = 0; i < 600; i++) { if (await p3.evaluate(fn, arg)) return; await p3.waitForTimeout(100); }
      throw new Error(`csp: timed out on ${fn}`);
    };
    await p3.goto(`${api}/ui/`);
    await p3.fill("#key_id", process.env.STARLING_KEY_ID);
    await p3.fill("#secret", process.env.STARLING_SECRET);
    await p3.click("#login-button");
    await poll(() => Number(document.querySelector("#sel-total").textContent) > 0);
    await p3.click("nav .tab[data-view=terminal]");
    await p3.selectOption("#term-host", host);
    await p3.click("#term-open");
    await poll(() => window.starlingTerminal && window.starlingTerminal.state === "open");
    await type(p3, "echo strict-$((7*8))\n");
    await poll(() => window.starlingTerminal.text().includes("strict-56"));
    out({ step, blocked, csp: (await p3.evaluate(async () => (await fetch("/ui/")).headers.get("content-security-policy"))) });
    await strict.close();
  }

  step = "scope";
  if (!skip.has(step)) {
    // An account scoped to one host: the page offers only that host, and a terminal on another
    // one is refused with its code, shown in the terminal.
    const scoped = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1200, height: 820 } });
    const p2 = await scoped.newPage();
    p2.setDefaultTimeout(90000);
    await p2.goto(`${api}/ui/`);
    await p2.fill("#key_id", process.env.SCOPED_KEY_ID);
    await p2.fill("#secret", process.env.SCOPED_SECRET);
    await p2.click("#login-button");
    await p2.waitForFunction(() => Number(document.querySelector("#sel-total").textContent) > 0);
    await p2.click("nav .tab[data-view=terminal]");
    const offered = await p2.$$eval("#term-host option", (os) => os.map((o) => o.value));
    await p2.evaluate(async (h) => {
      const { attach } = await import("/ui/static/term.mjs");
      window.starlingTerminal = attach(document.querySelector("#term-box"), { host: h });
    }, host);
    await waitState(p2, "starlingTerminal", ["failed", "closed"]);
    out({ step, offered, screen: await screen(p2, "starlingTerminal"),
      status: await p2.evaluate(() => window.starlingTerminal.status.textContent) });
    await scoped.close();
  }

  step = "agent-dies";
  if (!skip.has(step)) {
    // Last: the agent under an open session is killed; the page says so with a code.
    await portal.goto(`${process.env.PORTAL}?host=${encodeURIComponent(host)}`);
    await waitState(portal, "current", ["open"]);
    await type(portal, "echo before-death\n");
    await waitScreen(portal, "current", "before-death");
    process.kill(Number(process.env.VICTIM_PID), "SIGKILL");
    await waitState(portal, "current", ["failed", "closed"], 120000);
    out({ step, screen: await screen(portal, "current"), status: await portal.evaluate(() => window.current.terminal.status.textContent) });
  }
  out({ done: true });
} catch (err) {
  const pages = browser.contexts().flatMap((c) => c.pages());
  for (const [i, p] of pages.entries()) await p.screenshot({ path: `${shots}/failed-${step}-${i}.png`, fullPage: true }).catch(() => {});
  const screens = [];
  for (const p of pages) {
    screens.push(await p.evaluate(() => {
      const t = window.starlingTerminal || window.current;
      const inner = t && (t.terminal || t);
      return t ? `${t.text()}\n[status: ${inner && inner.status ? inner.status.textContent : "not loaded"}]` : `[no terminal at ${location.href}]`;
    }).catch((e) => String(e)));
  }
  out({ step, error: String(err && err.stack || err), screens });
  process.exitCode = 1;
} finally {
  await browser.close();
}
