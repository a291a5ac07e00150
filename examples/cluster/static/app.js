// The cluster page: one EventSource on /events and one RealtimeSocket on
// /ws, following the same topics, and a form that publishes through
// POST /publish. Both feeds show the same messages with the same IDs,
// whichever node serves them. What the page received is kept in
// window.cluster.
(() => {
  "use strict";
  const config = JSON.parse(document.getElementById("config").textContent);
  const $ = (id) => document.getElementById(id);
  const maxShown = 200;
  const cluster = (window.cluster = { sse: [], ws: [], gaps: { sse: 0, ws: 0 } });

  $("addr").textContent = config.addr;
  $("stream").textContent = config.stream;
  $("epoch").textContent = config.epoch;
  for (const t of config.topics) {
    const o = document.createElement("option");
    o.value = o.textContent = t;
    $("topic").append(o);
  }

  function show(log, id, topic, text, gap) {
    const li = document.createElement("li");
    if (gap) li.className = "gap";
    const i = document.createElement("span");
    i.className = "id";
    i.textContent = id || "";
    const t = document.createElement("span");
    t.className = "topic";
    t.textContent = topic || "";
    li.append(i, t, document.createTextNode(text));
    log.prepend(li);
    while (log.children.length > maxShown) log.lastChild.remove();
  }

  // Server-Sent Events: the browser reconnects by itself and sends
  // Last-Event-ID; behind a load balancer, to whichever node answers. It
  // gives up for good on an answer that is not an event stream (a load
  // balancer's 502 while no node is behind it): the page then opens a new
  // EventSource after a backoff, from sseMinDelay doubling up to
  // sseMaxDelay, which resumes with the lastEventId parameter.
  const sseMinDelay = 1000; // ms
  const sseMaxDelay = 30000; // ms
  const q = new URLSearchParams();
  for (const t of config.topics) q.append("topic", t);
  let sseLast = "";
  let sseAttempt = 0;
  function openSSE() {
    const u = new URLSearchParams(q);
    if (sseLast) u.set("lastEventId", sseLast);
    const es = new EventSource("events?" + u);
    es.onopen = () => {
      sseAttempt = 0;
      $("sse-state").textContent = "open";
    };
    es.onerror = () => {
      $("sse-state").textContent = "reconnecting";
      if (es.readyState !== EventSource.CLOSED) return; // the browser retries
      const cap = Math.min(sseMaxDelay, sseMinDelay * 2 ** Math.min(sseAttempt++, 30));
      setTimeout(openSSE, cap / 2 + (Math.random() * cap) / 2);
    };
    es.onmessage = (e) => {
      sseLast = e.lastEventId;
      cluster.sse.push(e.lastEventId);
      $("sse-last").textContent = e.lastEventId;
      $("sse-count").textContent = cluster.sse.length;
      show($("sse-log"), e.lastEventId, "", e.data); // an SSE event does not say its topic
    };
    es.addEventListener("gap", (e) => {
      if (e.lastEventId) sseLast = e.lastEventId;
      cluster.gaps.sse++;
      $("sse-gaps").textContent = cluster.gaps.sse;
      show($("sse-log"), "", "gap", e.data, true);
    });
  }
  openSSE();

  // WebSocket, with the ws package's client: it reconnects with a
  // backoff and resumes with lastEventId. While it is down, the page says
  // so, and no longer names the node it was connected to.
  const rt = new RealtimeSocket("ws", { topics: config.topics });
  rt.onopen = () => ($("ws-state").textContent = "open");
  rt.onclose = () => {
    $("ws-state").textContent = "reconnecting";
    $("ws-node").textContent = "—";
  };
  rt.onmessage = (m) => {
    if (m.kind === "direct") {
      if (m.data && m.data.node) $("ws-node").textContent = m.data.node;
      return;
    }
    cluster.ws.push(m.id);
    $("ws-last").textContent = m.id;
    $("ws-count").textContent = cluster.ws.length;
    show($("ws-log"), m.id, m.topic, typeof m.data === "string" ? m.data : JSON.stringify(m.data));
  };
  rt.ongap = (g) => {
    cluster.gaps.ws++;
    $("ws-gaps").textContent = cluster.gaps.ws;
    show($("ws-log"), g.id, "gap", g.reason + " after " + g.lastEventId, true);
  };

  // Publishing: each message gets an ID of its own, sent again with each
  // retry, so that a retry after a lost answer is stored once.
  // The button waits for the answer, so that a second click does not
  // publish the message again under another ID.
  $("publish").onsubmit = async (e) => {
    e.preventDefault();
    const button = $("publish").querySelector("button");
    if (button.disabled) return;
    button.disabled = true;
    try {
      await publish();
    } finally {
      button.disabled = false;
    }
  };
  // Publishing takes the token the node was started with (or printed at
  // start), kept for the tab.
  $("token").value = sessionStorage.getItem("cluster.token") || "";
  async function publish() {
    const body = JSON.stringify({ topic: $("topic").value, data: $("data").value });
    const key = crypto.randomUUID();
    const token = $("token").value.trim();
    sessionStorage.setItem("cluster.token", token);
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const r = await fetch("publish", {
          method: "POST", body,
          headers: { "Content-Type": "application/json", "Idempotency-Key": key, "Authorization": "Bearer " + token },
        });
        if (r.ok) {
          const a = await r.json();
          $("published").textContent = "stored as " + a.id + (a.duplicate ? " (retry)" : "");
          $("data").value = "";
          return;
        }
        $("published").textContent = "refused: " + (await r.text());
        if (r.status !== 503) return;
      } catch (err) {
        $("published").textContent = "failed: " + err.message;
      }
      await new Promise((ok) => setTimeout(ok, 500 * attempt));
    }
  }

  // Health of the node that answers /healthz: one poll at a time, each
  // given up after healthTimeout, so that a node that accepts and never
  // answers shows as unreachable instead of piling up requests.
  const healthTimeout = 3000;
  async function health() {
    const el = $("health");
    try {
      const r = await fetch("healthz", { cache: "no-store", signal: AbortSignal.timeout(healthTimeout) });
      const h = await r.json();
      el.dataset.state = h.ready ? "ready" : "lagging";
      el.querySelector(".label").textContent = (h.ready ? "ready" : h.reason) + " · " + h.node + " · lag " + h.lag;
    } catch (err) {
      el.dataset.state = "down";
      el.querySelector(".label").textContent = "node unreachable";
    }
  }
  (async function poll() {
    await health();
    setTimeout(poll, 2000);
  })();
})();
