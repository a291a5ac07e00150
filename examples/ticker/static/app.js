// Ticker page: one EventSource on /events?topic=SYMBOL&..., a card with a
// live chart per symbol, a connection indicator and a gap banner.
//
// The server sends each price as an event of type "price" whose data is
// {"symbol":"ACME","price":101.25,"open":100,"time":1732550000000}; the
// event's id is "epoch-seq", one sequence across all symbols. After a drop
// the browser reconnects by itself and sends the last id it saw in the
// Last-Event-ID header, so the server replays what was missed. When it
// cannot, it sends a "gap" event first, and the page says so.
"use strict";

(() => {
  // Named bounds of the page.
  const MAX_POINTS = 120;        // points kept per chart
  const MIN_SPAN = 20;           // a chart is never stretched over fewer intervals
  const MAX_LOG = 10000;         // ids and gaps kept in window.ticker for tests and curious people
  const RETRY_MIN_MS = 1000;     // first wait before reopening a stream the browser gave up on
  const RETRY_MAX_MS = 15000;    // longest wait between such attempts
  const FLASH_MS = 450;          // how long a price change is highlighted

  const config = JSON.parse(document.getElementById("config").textContent);
  const symbols = config.symbols.map(s => s.symbol);
  // Maps keyed by names from the server have no prototype: a symbol named
  // "constructor" is a symbol like any other.
  const names = Object.assign(Object.create(null), Object.fromEntries(config.symbols.map(s => [s.symbol, s.name])));

  const $ = id => document.getElementById(id);
  const statusEl = $("status"), statusLabel = statusEl.querySelector(".label");

  // Everything the page accepted, exposed for tests and the console.
  const ticker = window.ticker = {
    state: "connecting",
    ids: [],          // ids of accepted price events, in arrival order
    count: 0,         // price events accepted
    duplicates: 0,    // events ignored because the page had them already
    gaps: [],         // {lastId, reason} for every gap the server reported
    url: "",          // the stream URL in use
  };

  // picks: the symbols shown, from ?topic=... (each once: the server
  // refuses a topic named twice) or all of them.
  let picks = new URLSearchParams(location.search).getAll("topic").filter((s, i, all) => symbols.includes(s) && all.indexOf(s) === i);
  if (picks.length === 0) picks = symbols.slice();

  // series[symbol] = {points: [{seq, price} | null], open, price, lastSeq}
  const series = ticker.series = Object.create(null);
  let epoch = "";         // epoch of the ids we hold
  let lastId = "";        // last id accepted
  let source = null;      // the EventSource
  let retryMs = RETRY_MIN_MS, retryTimer = 0;

  function parseId(id) {
    const i = id.lastIndexOf("-");
    if (i <= 0) return null;
    const seq = Number(id.slice(i + 1));
    return Number.isSafeInteger(seq) && seq > 0 ? { epoch: id.slice(0, i), seq } : null;
  }

  function setState(state, label) {
    ticker.state = state;
    statusEl.dataset.state = state;
    document.body.dataset.state = state;
    statusLabel.textContent = label;
  }

  // ---- picker -----------------------------------------------------------

  function renderPicker() {
    const box = $("picks");
    box.replaceChildren(...symbols.map(sym => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = sym;
      b.dataset.symbol = sym;
      b.title = names[sym];
      b.setAttribute("aria-pressed", String(picks.includes(sym)));
      b.addEventListener("click", () => toggle(sym));
      return b;
    }));
  }

  function toggle(sym) {
    const adding = !picks.includes(sym);
    picks = adding ? symbols.filter(s => picks.includes(s) || s === sym) : picks.filter(s => s !== sym);
    const q = new URLSearchParams();
    if (picks.length !== symbols.length) picks.forEach(s => q.append("topic", s));
    history.replaceState(null, "", q.toString() ? "?" + q : location.pathname);
    renderPicker();
    renderCards();
    // A symbol just picked has no chart yet: ask for the recent past again
    // (the symbols already shown ignore what they have); otherwise go on
    // from the last id.
    if (!adding) { connect(lastId); return; }
    const from = recentFrom(), s = series[sym], at = from && parseId(from);
    // A chart kept from before it was unpicked misses what came in between.
    if (s && at && at.seq > s.lastSeq) pushPoint(s, null);
    connect(from);
  }

  // recentFrom returns an id about MAX_POINTS updates per symbol back.
  function recentFrom() {
    const id = parseId(lastId);
    if (!id) return config.since;
    return `${id.epoch}-${Math.max(0, id.seq - MAX_POINTS * symbols.length)}`;
  }

  // ---- cards and charts -------------------------------------------------

  const cards = Object.create(null);

  function renderCards() {
    const main = $("cards");
    if (picks.length === 0) {
      main.replaceChildren(Object.assign(document.createElement("p"), { className: "empty", textContent: "Pick a symbol above to follow its price." }));
      return;
    }
    main.replaceChildren(...picks.map(sym => {
      if (!cards[sym]) cards[sym] = makeCard(sym);
      return cards[sym].el;
    }));
    picks.forEach(drawCard);
  }

  function makeCard(sym) {
    const el = document.createElement("article");
    el.className = "card";
    el.dataset.symbol = sym;
    el.innerHTML = `<h2></h2><span class="price num">—</span><span class="name"></span><span class="change num"></span><canvas></canvas>`;
    el.querySelector("h2").textContent = sym;
    el.querySelector(".name").textContent = names[sym];
    return {
      el,
      price: el.querySelector(".price"),
      change: el.querySelector(".change"),
      canvas: el.querySelector("canvas"),
      flashTimer: 0,
    };
  }

  function fmt(n) {
    return n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function updateCard(sym, prev) {
    const c = cards[sym], s = series[sym];
    if (!c || !s) return;
    c.price.textContent = fmt(s.price);
    const d = s.price - s.open, pct = s.open ? (d / s.open) * 100 : 0;
    c.change.textContent = `${d >= 0 ? "+" : "−"}${fmt(Math.abs(d))} (${d >= 0 ? "+" : "−"}${Math.abs(pct).toFixed(2)}%)`;
    c.change.className = "change num " + (d >= 0 ? "up" : "down");
    if (prev !== undefined && prev !== s.price) {
      c.price.classList.remove("flash-up", "flash-down");
      c.price.classList.add(s.price > prev ? "flash-up" : "flash-down");
      clearTimeout(c.flashTimer);
      c.flashTimer = setTimeout(() => c.price.classList.remove("flash-up", "flash-down"), FLASH_MS);
    }
    scheduleDraw(sym);
  }

  const dirty = new Set();
  let frame = 0;
  function scheduleDraw(sym) {
    dirty.add(sym);
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0;
      dirty.forEach(drawCard);
      dirty.clear();
    });
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function drawCard(sym) {
    const c = cards[sym], s = series[sym];
    if (!c || !c.el.isConnected) return;
    const cv = c.canvas, dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth, h = cv.clientHeight;
    if (!w || !h) return;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(h * dpr);
    }
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pts = s ? s.points : [];
    const vals = pts.filter(p => p).map(p => p.price);
    // Baseline at the session's opening price.
    const open = s ? s.open : 0;
    if (vals.length === 0) return;
    let lo = Math.min(open, ...vals), hi = Math.max(open, ...vals);
    const pad = (hi - lo) * 0.12 || hi * 0.001 || 1;
    lo -= pad; hi += pad;
    // The points span the width; a young chart spreads out and tightens as
    // points arrive, up to MAX_POINTS.
    const span = Math.max(pts.length - 1, MIN_SPAN);
    const x = i => ((i - (pts.length - 1 - span)) / span) * (w - 6) + 1;
    const y = v => h - 4 - ((v - lo) / (hi - lo)) * (h - 8);
    const color = s.price >= open ? css("--up") : css("--down");

    // Opening price: a faint dashed line.
    g.strokeStyle = css("--line");
    g.lineWidth = 1;
    g.setLineDash([3, 4]);
    g.beginPath(); g.moveTo(0, y(open)); g.lineTo(w, y(open)); g.stroke();

    // Gaps: a dashed vertical mark where events were missed.
    g.strokeStyle = css("--warn");
    pts.forEach((p, i) => {
      if (p === null) { const gx = x(i); g.beginPath(); g.moveTo(gx, 2); g.lineTo(gx, h - 2); g.stroke(); }
    });
    g.setLineDash([]);

    // Runs of points between gaps: a filled area and a line.
    const runs = [];
    let run = [];
    pts.forEach((p, i) => {
      if (p === null) { if (run.length) runs.push(run); run = []; } else run.push([x(i), y(p.price)]);
    });
    if (run.length) runs.push(run);
    const grad = g.createLinearGradient(0, 0, 0, h);
    grad.addColorStop(0, color + "40");
    grad.addColorStop(1, color + "00");
    for (const r of runs) {
      g.beginPath();
      r.forEach(([px, py], i) => (i ? g.lineTo(px, py) : g.moveTo(px, py)));
      g.lineTo(r[r.length - 1][0], h); g.lineTo(r[0][0], h); g.closePath();
      g.fillStyle = grad; g.fill();
      g.beginPath();
      r.forEach(([px, py], i) => (i ? g.lineTo(px, py) : g.moveTo(px, py)));
      g.strokeStyle = color; g.lineWidth = 1.6; g.lineJoin = "round"; g.stroke();
    }
    // The latest point.
    const lastRun = runs[runs.length - 1];
    if (lastRun && pts[pts.length - 1] !== null) {
      const [lx, ly] = lastRun[lastRun.length - 1];
      g.fillStyle = color;
      g.beginPath(); g.arc(lx, ly, 2.6, 0, Math.PI * 2); g.fill();
    }
  }

  // ---- stream -------------------------------------------------------------

  function onPrice(e) {
    const id = parseId(e.lastEventId);
    if (!id) return;
    let p;
    try { p = JSON.parse(e.data); } catch { return; }
    if (!symbols.includes(p.symbol)) return;
    if (id.epoch !== epoch) {
      // Another epoch: the server started afresh. What we hold belongs
      // to the old one, so start every series again after a gap mark.
      if (epoch) for (const s of Object.values(series)) { s.lastSeq = 0; pushPoint(s, null); }
      epoch = id.epoch;
    }
    let s = series[p.symbol];
    if (!s) s = series[p.symbol] = { points: [], open: p.open, price: p.price, lastSeq: 0 };
    if (id.seq <= s.lastSeq) { ticker.duplicates++; return; }
    const prev = s.lastSeq ? s.price : undefined;
    s.lastSeq = id.seq;
    s.open = p.open;
    s.price = p.price;
    pushPoint(s, { seq: id.seq, price: p.price });
    lastId = e.lastEventId;
    ticker.count++;
    ticker.ids.push(lastId);
    if (ticker.ids.length > MAX_LOG) ticker.ids.splice(0, ticker.ids.length - MAX_LOG);
    $("last-id").textContent = lastId;
    $("count").textContent = ticker.count.toLocaleString("en-US");
    document.body.dataset.count = ticker.count;
    if (ticker.state !== "live" && ticker.state !== "gap") setState("live", "Live");
    updateCard(p.symbol, prev);
  }

  function pushPoint(s, p) {
    if (p === null && s.points[s.points.length - 1] === null) return;
    s.points.push(p);
    if (s.points.length > MAX_POINTS) s.points.splice(0, s.points.length - MAX_POINTS);
  }

  function onGap(e) {
    // A page that holds nothing yet missed nothing: the server just has
    // less of the recent past than the page asked for.
    if (!lastId) return;
    let g = {};
    try { g = JSON.parse(e.data); } catch { g = { reason: e.data }; }
    const gap = { lastId: g.lastEventId || "", reason: g.reason || "history exceeded" };
    ticker.gaps.push(gap);
    if (ticker.gaps.length > MAX_LOG) ticker.gaps.shift();
    for (const s of Object.values(series)) pushPoint(s, null);
    picks.forEach(scheduleDraw);
    const why = {
      "unknown epoch": "The server restarted without its history.",
      "history exceeded": "The server no longer holds everything since the last update shown.",
    }[gap.reason] || `The server could not replay everything (${gap.reason}).`;
    $("gap-text").textContent = why + " Charts show a dashed mark where updates are missing.";
    $("gap").hidden = false;
    document.body.dataset.gaps = ticker.gaps.length;
    setState("gap", "Live · gap");
  }

  $("gap-dismiss").addEventListener("click", () => {
    $("gap").hidden = true;
    if (ticker.state === "gap") setState("live", "Live");
  });

  function connect(resumeFrom) {
    clearTimeout(retryTimer);
    if (source) source.close();
    source = null;
    if (picks.length === 0) { setState("live", "Idle"); ticker.url = ""; $("stream-url").textContent = ""; return; }
    const q = new URLSearchParams();
    picks.forEach(s => q.append("topic", s));
    $("stream-url").textContent = "GET /events?" + q;
    // The first connection asks for the recent past, so the charts start
    // full; later ones go on from the last id the page holds. The browser's
    // own reconnects send Last-Event-ID, which the server prefers.
    if (resumeFrom) q.set("lastEventId", resumeFrom);
    const url = "events?" + q;
    ticker.url = url;
    const es = source = new EventSource(url);
    es.addEventListener("open", () => {
      retryMs = RETRY_MIN_MS;
      if (ticker.state !== "gap") setState("live", "Live");
    });
    es.addEventListener("price", onPrice);
    es.addEventListener("gap", onGap);
    es.addEventListener("error", () => {
      if (es !== source) return;
      if (es.readyState === EventSource.CONNECTING) {
        // The browser reconnects by itself, with Last-Event-ID.
        setState("reconnecting", "Reconnecting…");
        return;
      }
      // The browser gave up (the server answered with an error status):
      // try again later, resuming from the last id we hold.
      setState("reconnecting", `Reconnecting in ${Math.round(retryMs / 1000)} s…`);
      retryTimer = setTimeout(() => connect(lastId), retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    });
  }

  window.addEventListener("resize", () => picks.forEach(scheduleDraw));
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => picks.forEach(scheduleDraw));

  renderPicker();
  renderCards();
  connect(config.since);
})();
