// A Starling terminal in any element: xterm.js (from npm, served by the center next to this file)
// inside a shadow root, so neither the page's styles reach the terminal nor the terminal's the page,
// over the center's terminal WebSocket (docs/console.md#web-terminal has the frames).
//
//   const t = attach(element, { center, host, token, cols, rows });
//   t.on("ready" | "output" | "refused" | "error" | "exit" | "close", (detail) => ...);
//   t.reconnect(); t.close();
//
// `token` is a string (single use: enough for one connection) or a function returning one (or a
// promise of one), called for every connection, so "Reconnect" works in an embedding page. The
// console passes no token: its session cookie authenticates.
import { Terminal } from "./xterm.mjs";
import { FitAddon } from "./addon-fit.mjs";

export const WS_PATH = "/api/v1/terminal/ws";
// Close codes of the contract, and what the browser itself reports.
export const CLOSE_CODES = {
  1000: "the session ended",
  1001: "the center went away",
  1006: "the connection was lost or refused before it opened",
  1011: "the center failed (internal error)",
  4400: "bad request",
  4401: "not authenticated, or the token is wrong, used or expired",
  4403: "not allowed: this page's origin or a host outside the account's scope",
  4404: "unknown host",
};

const RED = "\x1b[1;31m", DIM = "\x1b[2m", YELLOW = "\x1b[33m", RESET = "\x1b[0m";
const here = new URL(".", import.meta.url);

function line(text, color = "") {
  // xterm needs \r\n; a server string may carry bare \n.
  return `\r\n${color}${String(text).replace(/\r?\n/g, "\r\n")}${color ? RESET : ""}\r\n`;
}

class StarlingTerminal {
  constructor(element, options) {
    this.options = { cols: 80, rows: 24, ...options };
    this.center = (options.center || location.origin).replace(/\/+$/, "");
    this.handlers = new Map();
    this.ws = null;
    this.state = "idle";
    this.closedByUser = false;
    this.ended = false;
    this.refusals = [];

    const root = element.shadowRoot || element.attachShadow({ mode: "open" });
    const css = (file) => Object.assign(document.createElement("link"), { rel: "stylesheet", href: new URL(file, here).href });
    this.bar = Object.assign(document.createElement("div"), { className: "bar" });
    this.status = Object.assign(document.createElement("span"), { className: "status" });
    this.button = Object.assign(document.createElement("button"), { type: "button", className: "reconnect", textContent: "Reconnect", hidden: true });
    this.button.addEventListener("click", () => this.reconnect());
    this.bar.append(this.status, this.button);
    this.screen = Object.assign(document.createElement("div"), { className: "screen" });
    root.replaceChildren(css("xterm.css"), css("term.css"), this.bar, this.screen);
    this.root = root;

    this.term = new Terminal({ cols: this.options.cols, rows: this.options.rows, cursorBlink: true, convertEol: false, scrollback: 5000,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace", fontSize: 14, theme: { background: "#14171f" } });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(this.screen);
    this.term.onData((data) => this.send(data));
    let pending = null;
    this.resizer = new ResizeObserver(() => {
      clearTimeout(pending);
      pending = setTimeout(() => this.resize(), 60);
    });
    this.resizer.observe(this.screen);
    this.term.onResize(({ cols, rows }) => this.frame({ type: "resize", cols, rows }));
    this.resize();
    this.connect();
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
    return this;
  }

  emit(event, detail) {
    for (const fn of this.handlers.get(event) || []) {
      try { fn(detail); } catch (err) { console.error(err); }
    }
  }

  setStatus(text, kind) {
    this.state = kind;
    this.status.textContent = text;
    this.bar.className = `bar ${kind}`;
    this.button.hidden = !(kind === "closed" || kind === "failed");
  }

  resize() {
    if (!this.screen.isConnected || !this.screen.clientWidth) return;
    try { this.fit.fit(); } catch { /* not laid out yet */ }
  }

  frame(doc) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(doc));
  }

  send(data) {
    // A paste goes in one frame: the center refuses one bigger than it takes, with its code.
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.ended) return;
    this.frame({ type: "input", data });
  }

  async url() {
    const q = new URLSearchParams({ host: this.options.host, cols: String(this.term.cols), rows: String(this.term.rows) });
    let token = this.options.token;
    if (typeof token === "function") token = await token();
    if (token) q.set("token", token);
    return `${this.center.replace(/^http/, "ws")}${WS_PATH}?${q}`;
  }

  async connect() {
    this.ended = false;
    this.closedByUser = false;
    this.setStatus(`connecting to ${this.options.host} …`, "connecting");
    let url;
    try {
      url = await this.url();
    } catch (err) {
      this.term.write(line(`could not get a terminal token: ${err && err.message || err}`, RED));
      this.setStatus("no token", "failed");
      this.emit("error", { code: "", message: String(err && err.message || err), hint: "" });
      return;
    }
    if (this.closedByUser) return;  // closed while the token was on its way
    const ws = new WebSocket(url);
    this.ws = ws;
    let lastError = null;
    ws.onmessage = (ev) => {
      let doc;
      try { doc = JSON.parse(ev.data); } catch { this.term.write(line("the center sent a frame that is not JSON", RED)); return; }
      if (doc.type === "output") {
        this.term.write(doc.data);
        this.emit("output", doc.data);
      } else if (doc.type === "ready") {
        this.session = doc.session;
        this.setStatus(`${doc.host || this.options.host} · session ${doc.session || ""}`, "open");
        this.term.focus();
        this.emit("ready", doc);
      } else if (doc.type === "refused") {
        this.refusals.push(doc);
        this.term.write(line(`✖ refused: ${doc.line}\n  ${doc.code} rule ${doc.rule}: ${doc.message}${doc.hint ? `\n  hint: ${doc.hint}` : ""}`, RED));
        this.emit("refused", doc);
      } else if (doc.type === "error") {
        lastError = doc;
        this.ended = true;
        this.term.write(line(`✖ ${doc.code} ${doc.message}${doc.hint ? `\n  hint: ${doc.hint}` : ""}`, RED));
        this.emit("error", doc);
      } else if (doc.type === "exit") {
        this.ended = true;
        const why = doc.code ? ` · ${doc.code} ${doc.message || ""}` : doc.message ? ` · ${doc.message}` : "";
        this.term.write(line(`[session ended: exit status ${doc.status ?? "?"}${why}]`, doc.code ? YELLOW : DIM));
        this.emit("exit", doc);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      const meaning = CLOSE_CODES[ev.code] || "closed";
      if (!lastError && !this.closedByUser && ev.code !== 1000) {
        // No error frame: the close code is all there is (a refused handshake shows as 1006).
        this.term.write(line(`✖ connection closed: ${ev.code} ${meaning}${ev.reason ? ` (${ev.reason})` : ""}`, RED));
      }
      this.setStatus(`${this.closedByUser ? "closed" : `closed: ${ev.code} ${meaning}`}`, ev.code === 1000 || this.closedByUser ? "closed" : "failed");
      this.emit("close", { code: ev.code, reason: ev.reason, meaning, error: lastError });
    };
  }

  reconnect() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) { this.closedByUser = true; this.ws.close(1000); }
    this.ws = null;
    this.term.write(line("── reconnecting ──", DIM));
    this.connect();
  }

  close() {
    this.closedByUser = true;
    this.ended = true;
    this.frame({ type: "close" });
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
    this.resizer.disconnect();
    this.setStatus("closed", "closed");
  }

  // What the screen shows, line by line (xterm's buffer): tests and accessibility tools read this.
  text() {
    const buf = this.term.buffer.active, out = [];
    for (let i = 0; i < buf.length; i++) out.push(buf.getLine(i).translateToString(true));
    return out.join("\n").replace(/\n+$/, "");
  }
}

const attached = new WeakMap();

export function attach(element, options) {
  if (!element || !(element instanceof Element)) throw new TypeError("Starling.terminal needs an element");
  if (!options || !options.host) throw new TypeError("Starling.terminal needs {host}");
  // One terminal per element: a new one ends the session shown there before.
  if (attached.has(element)) attached.get(element).close();
  const t = new StarlingTerminal(element, options);
  attached.set(element, t);
  return t;
}
