// Starling's embeddable terminal. A page of any (allowed) origin adds a terminal with
//
//   <script src="https://CENTER/ui/embed.js"></script>
//   const t = Starling.terminal(element, { host: "web-01", token });   // token: a string or () => promise
//   t.on("exit", (e) => ...); t.close();
//
// The center's address is this script's own src; xterm.js, its styles and the terminal module come
// from that center too (ES modules: nothing but `Starling` is added to the page's globals), and the
// terminal lives in a shadow root on `element`, so page and terminal styles stay apart.
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.src) throw new Error("Starling embed.js must be loaded by a <script src=...> tag");
  const base = new URL(".", script.src);  // https://CENTER/ui/
  const center = new URL("..", base).href.replace(/\/+$/, "");
  let loading = null;
  const load = () => loading || (loading = import(new URL("static/term.mjs", base).href));

  // The handle is returned at once; the terminal module loads behind it, and calls made
  // before it has loaded (on, close) are applied when it has.
  class Handle {
    constructor(element, options) {
      this.pending = [];
      this.closed = false;
      this.ready = load().then((mod) => {
        if (this.closed) return null;
        this.terminal = mod.attach(element, { ...options, center: options.center || center });
        for (const [event, fn] of this.pending) this.terminal.on(event, fn);
        this.pending = [];
        return this.terminal;
      }, (err) => {
        element.textContent = `Starling terminal could not load from ${center}: ${err && err.message || err}`;
        for (const [event, fn] of this.pending) if (event === "error") fn({ code: "", message: String(err), hint: "" });
        throw err;
      });
    }

    on(event, fn) {
      if (this.terminal) this.terminal.on(event, fn); else this.pending.push([event, fn]);
      return this;
    }

    close() {
      this.closed = true;
      if (this.terminal) this.terminal.close();
    }

    reconnect() { if (this.terminal) this.terminal.reconnect(); }

    text() { return this.terminal ? this.terminal.text() : ""; }
  }

  const api = window.Starling || {};
  api.center = center;
  api.terminal = (element, options) => {
    if (!element || !(element instanceof Element)) throw new TypeError("Starling.terminal(element, {host, token}): element is not an element");
    if (!options || !options.host) throw new TypeError("Starling.terminal(element, {host, token}): host is missing");
    return new Handle(element, options);
  };
  window.Starling = api;
})();
