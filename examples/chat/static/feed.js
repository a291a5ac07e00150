// Feed page: the messages of one room, read-only, over Server-Sent Events
// from /events?topic=ROOM. The browser's EventSource reconnects by itself
// and resumes with Last-Event-ID; the server replays what was missed, or
// sends a "gap" event when its history no longer holds it. On an answer
// that is not an event stream (a proxy's 502 while the server restarts)
// the browser gives up for good: the page then opens a new EventSource
// after a backoff, resuming with the lastEventId parameter.
"use strict";

(() => {
  const MAX_ITEMS = 500;  // messages kept on the page, oldest dropped first
  const MAX_SEEN = 5000;  // event IDs remembered to drop an event seen twice
  const MAX_LOG = 10000;  // IDs and texts kept in window.feed
  const RETRY_MIN_MS = 1000;  // first wait before a new EventSource
  const RETRY_MAX_MS = 30000; // the wait doubles up to this

  const config = JSON.parse(document.getElementById("config").textContent);
  const $ = id => document.getElementById(id);
  const list = $("feed"), statusEl = $("status");

  // What the page shows, for tests and the console.
  const feed = window.feed = { state: "connecting", ids: [], texts: [], duplicates: 0, gaps: [] };
  const seen = new Set();

  const room = (new URLSearchParams(location.search).get("room") || config.rooms[0]).toLowerCase();
  $("room").textContent = room;
  document.title = `#${room} · feed`;

  function showError(title, text) {
    const box = document.createElement("div");
    box.className = "error";
    const body = document.createElement("div");
    body.append(Object.assign(document.createElement("strong"), { textContent: title }), document.createTextNode(text));
    const x = Object.assign(document.createElement("button"), { type: "button", textContent: "×", title: "Dismiss" });
    x.addEventListener("click", () => box.remove());
    box.append(body, x);
    $("errors").append(box);
  }

  function setState(state, label) {
    feed.state = state;
    statusEl.dataset.state = state;
    statusEl.querySelector(".label").textContent = label;
  }

  function time(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function add(li) {
    list.append(li);
    while (list.children.length > MAX_ITEMS) list.firstElementChild.remove();
    li.scrollIntoView({ block: "nearest" });
  }

  let lastId = "";  // the last event ID the page holds: where a new EventSource resumes

  function onMessage(e) {
    lastId = e.lastEventId;
    if (seen.has(e.lastEventId)) { feed.duplicates++; return; }
    seen.add(e.lastEventId);
    if (seen.size > MAX_SEEN) seen.delete(seen.values().next().value); // the oldest
    let m;
    try { m = JSON.parse(e.data); } catch { return; }
    feed.ids.push(e.lastEventId);
    feed.texts.push(m.text);
    if (feed.ids.length > MAX_LOG) { feed.ids.shift(); feed.texts.shift(); }
    const li = document.createElement("li");
    li.dataset.id = e.lastEventId;
    const who = Object.assign(document.createElement("span"), { className: "who", textContent: m.from });
    const sp = document.createElement("span");
    const when = Object.assign(document.createElement("span"), { className: "when", textContent: time(m.time) });
    const text = Object.assign(document.createElement("div"), { className: "text", textContent: m.text });
    li.append(who, sp, when, text);
    add(li);
    document.body.dataset.count = feed.ids.length;
  }

  function onGap(e) {
    if (e.lastEventId) lastId = e.lastEventId;
    // A page that holds nothing yet missed nothing: the server just has
    // less of the recent past than the page asked for.
    if (feed.ids.length === 0) return;
    let g = {};
    try { g = JSON.parse(e.data); } catch { g = { reason: e.data }; }
    feed.gaps.push(g);
    if (feed.gaps.length > MAX_LOG) feed.gaps.shift();
    const li = document.createElement("li");
    li.className = "gap";
    li.textContent = "Some messages were missed while the feed was away" + (g.reason ? ` (${g.reason}).` : ".");
    add(li);
    setState("gap", "Live · gap");
  }

  if (!new RegExp(config.roomPattern).test(room)) {
    showError("Not a room name", config.roomRule);
    setState("reconnecting", "Stopped");
    return;
  }
  const q = new URLSearchParams({ topic: room });
  $("url").textContent = "GET /events?" + q;
  let retryMs = RETRY_MIN_MS;
  feed.opens = 0;
  function connect() {
    // The first request asks for the recent past, a new EventSource goes
    // on from the last ID the page holds; the browser's own reconnects send
    // Last-Event-ID, which the server prefers.
    q.set("lastEventId", lastId || config.since);
    const es = new EventSource("events?" + q);
    feed.opens++;
    es.addEventListener("open", () => {
      retryMs = RETRY_MIN_MS;
      if (feed.state !== "gap") setState("live", "Live");
    });
    es.addEventListener("message", onMessage);
    es.addEventListener("gap", onGap);
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CONNECTING) { setState("reconnecting", "Reconnecting…"); return; }
      // The browser gave up: try again later, with some jitter so that
      // pages do not all come back at once.
      es.close();
      const wait = retryMs / 2 + Math.random() * retryMs / 2;
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      setState("reconnecting", `Reconnecting in ${Math.ceil(wait / 1000)} s…`);
      setTimeout(connect, wait);
    });
  }
  connect();

  $("pick").addEventListener("submit", ev => {
    ev.preventDefault();
    const r = $("pick-room").value.trim().toLowerCase();
    if (r) location.search = "?" + new URLSearchParams({ room: r });
  });
})();
