// Chat page: rooms, direct messages, typing and presence over one
// WebSocket at /ws, through the reconnecting client of the ws package
// (ws/client.js). The JSON messages are documented in README.md.
//
// The client resumes after a drop with the ID of the last message it got,
// so the server replays what the page missed; the page also ignores any
// ID it has seen already, so nothing shows twice.
"use strict";

(() => {
  // Named bounds of the page.
  const MAX_ITEMS = 500;          // items kept per conversation, oldest dropped first
  const TYPING_SEND_MS = 2500;    // at most one typing notice per room this often
  const TYPING_SHOW_MS = 4000;    // how long "… is typing" stays without news
  const ERROR_SHOW_MS = 10000;    // how long an error note stays
  const COUNT_FROM = 0.8;         // show the character count past this share of the limit
  const MAX_SEEN = 5000;          // message IDs remembered to drop a message seen twice
  const MAX_ERRORS = 100;         // errors and gaps kept in window.chat

  const config = JSON.parse(document.getElementById("config").textContent);
  const nickRe = new RegExp(config.nickPattern), roomRe = new RegExp(config.roomPattern);
  const $ = id => document.getElementById(id);

  // What the page holds, for tests and the console.
  const chat = window.chat = {
    state: "connecting",
    nick: "",
    rooms: [],
    convs: Object.create(null), // "#room" or "@nick" -> [{id, type, from, text, time, ...}]
    duplicates: 0,    // messages ignored because the page had them already
    gaps: [],         // gap notices from the server
    errors: [],       // {code, error} of every error shown
    opens: 0,         // how many times the connection opened
    extensions: "",   // the WebSocket extensions of the last connection
    // sendRaw sends a string as it is, for trying the server's checks from
    // the console: chat.sendRaw("{nope")
    sendRaw: s => socket && socket.send(s),
  };
  const seen = new Set();
  // Maps keyed by names from the server are Maps, never plain objects: a
  // room named "constructor" or "__proto__" is a room like any other.
  const members = new Map(); // room -> [nick], at most config.maxListed
  const counts = new Map();  // room -> how many are there
  const typing = new Map();  // room -> Map(nick -> until)
  const unread = new Map();  // conversation key -> count
  let current = "";    // conversation key shown
  let socket = null;
  let lastSent = "";   // the last text sent, given back if the server refuses it
  let lastTyping = 0;

  // ---- storage: per tab, so two tabs can be two people -------------------

  const store = {
    get(k, d) { try { const v = sessionStorage.getItem("chat." + k); return v === null ? d : JSON.parse(v); } catch { return d; } },
    set(k, v) { try { sessionStorage.setItem("chat." + k, JSON.stringify(v)); } catch { /* private mode: fine */ } },
  };

  // ---- errors ---------------------------------------------------------------

  const titles = {
    bad_json: "Invalid message",
    bad_command: "Unknown command",
    bad_room: "Not a room name",
    bad_nick: "Not a nickname",
    too_long: "Message too long",
    empty: "Empty message",
    too_many_rooms: "Too many rooms",
    not_in_room: "Not in that room",
    rate_limited: "Too fast",
    unknown_nick: "Nobody by that name",
    rooms_full: "Too many rooms",
    offline: "Not connected",
    closed: "Connection closed",
  };

  function showError(code, text) {
    chat.errors.push({ code, error: text });
    if (chat.errors.length > MAX_ERRORS) chat.errors.shift();
    // The server's errors are phrases; show them as sentences.
    text = text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
    const box = document.createElement("div");
    box.className = "error";
    box.dataset.code = code;
    const body = document.createElement("div");
    body.append(Object.assign(document.createElement("strong"), { textContent: (Object.hasOwn(titles, code) && titles[code]) || "Error" }), document.createTextNode(text));
    const x = Object.assign(document.createElement("button"), { type: "button", textContent: "×", title: "Dismiss" });
    x.addEventListener("click", () => box.remove());
    box.append(body, x);
    $("errors").append(box);
    setTimeout(() => box.remove(), ERROR_SHOW_MS);
  }

  function setState(state, label) {
    chat.state = state;
    $("status").dataset.state = state;
    $("status").querySelector(".label").textContent = label;
    document.body.dataset.state = state;
  }

  // ---- conversations --------------------------------------------------------

  function conv(key) {
    return chat.convs[key] || (chat.convs[key] = []);
  }

  function add(key, item) {
    const list = conv(key);
    list.push(item);
    if (list.length > MAX_ITEMS) list.splice(0, list.length - MAX_ITEMS);
    if (key === current) renderItem(item, list[list.length - 2], true);
    else if (item.type === "message" || item.type === "dm") {
      unread.set(key, (unread.get(key) || 0) + 1);
      renderSide();
    }
  }

  function time(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function renderItem(item, prev, live) {
    const box = $("messages");
    const empty = box.querySelector(".empty-room");
    if (empty) empty.remove();
    let el;
    if (item.type === "message" || item.type === "dm") {
      el = document.createElement("div");
      el.className = "msg" + (item.from === chat.nick ? " mine" : "") + (item.type === "dm" ? " dm" : "");
      if (prev && prev.from === item.from && prev.type === item.type && item.time - prev.time < 120000) el.classList.add("same");
      el.dataset.id = item.id;
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.append(Object.assign(document.createElement("b"), { textContent: item.from }));
      if (item.type === "dm") meta.append(Object.assign(document.createElement("span"), { className: "tag", textContent: item.from === chat.nick ? `to ${item.to}` : "direct" }));
      meta.append(Object.assign(document.createElement("span"), { textContent: time(item.time) }));
      const bubble = Object.assign(document.createElement("div"), { className: "bubble", textContent: item.text });
      el.append(meta, bubble);
    } else {
      el = document.createElement("div");
      el.className = "notice" + (item.type === "gap" ? " gap" : "");
      el.textContent = item.text;
    }
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.append(el);
    while (box.children.length > MAX_ITEMS) box.firstElementChild.remove();
    if (atBottom || !live || item.from === chat.nick) box.scrollTop = box.scrollHeight;
  }

  function show(key) {
    current = key;
    store.set("current", key);
    unread.delete(key);
    const box = $("messages");
    box.replaceChildren();
    const list = key ? conv(key) : [];
    if (list.length === 0) {
      const e = document.createElement("div");
      e.className = "empty-room";
      e.innerHTML = "<h3></h3><p></p>";
      e.querySelector("h3").textContent = !key ? "You are in no room" : key[0] === "#" ? `Welcome to ${key}` : `Direct messages with ${key.slice(1)}`;
      e.querySelector("p").textContent = !key ? "Join one on the left, general for instance." : key[0] === "#" ? "Nothing said here yet. Say hello!" : "Only the two of you see these.";
      box.append(e);
    }
    list.forEach((item, i) => renderItem(item, list[i - 1], false));
    $("title").textContent = !key ? "Chat" : key[0] === "#" ? key : "@ " + key.slice(1);
    $("composer").hidden = !key;
    $("feed-link").hidden = key[0] !== "#";
    $("feed-link").href = "feed?" + new URLSearchParams({ room: key.slice(1) });
    $("text").placeholder = key[0] === "#" ? `Message ${key}` : `Message ${key.slice(1)}`;
    renderSide();
    renderTyping();
  }

  // ---- sidebar --------------------------------------------------------------

  function renderSide() {
    const li = (key, label, onLeave) => {
      const el = document.createElement("li");
      el.dataset.key = key;
      if (key === current) el.classList.add("active");
      const b = Object.assign(document.createElement("button"), { type: "button", className: "item", textContent: label });
      b.addEventListener("click", () => show(key));
      if (unread.get(key)) b.append(Object.assign(document.createElement("span"), { className: "badge", textContent: unread.get(key) }));
      el.append(b);
      if (onLeave) {
        const x = Object.assign(document.createElement("button"), { type: "button", className: "x", textContent: "×", title: `Leave ${label}` });
        x.addEventListener("click", onLeave);
        el.append(x);
      }
      return el;
    };
    $("rooms").replaceChildren(...chat.rooms.map(r => li("#" + r, "# " + r, () => leave(r))));
    const dms = Object.keys(chat.convs).filter(k => k[0] === "@");
    if (current[0] === "@" && !dms.includes(current)) dms.push(current);
    $("dms").replaceChildren(...dms.sort().map(k => li(k, k.slice(1))));
    if (dms.length === 0) $("dms").append(Object.assign(document.createElement("li"), { className: "muted", textContent: "Click someone in a room to write to them." }));
    const room = current[0] === "#" ? current.slice(1) : "";
    const people = room ? members.get(room) || [] : [];
    $("people").replaceChildren(...people.map(n => {
      const el = document.createElement("li");
      const b = Object.assign(document.createElement("button"), { type: "button", className: "item", textContent: n === chat.nick ? `${n} (you)` : n });
      if (n !== chat.nick) b.addEventListener("click", () => show("@" + n));
      el.append(b);
      return el;
    }));
    $("subtitle").textContent = room ? `${counts.get(room) ?? people.length} here` : "";
    $("people").closest("section").hidden = !room;
  }

  function renderTyping() {
    const room = current[0] === "#" ? current.slice(1) : "";
    const now = Date.now();
    const who = room && typing.has(room) ? [...typing.get(room)].filter(([n, until]) => until > now && n !== chat.nick).map(([n]) => n) : [];
    $("typing").textContent = who.length === 0 ? "" : who.length === 1 ? `${who[0]} is typing…` : `${who.slice(0, -1).join(", ")} and ${who.at(-1)} are typing…`;
  }
  setInterval(renderTyping, 1000);

  // ---- what the server sends --------------------------------------------------

  function onEvent(id, data) {
    if (id) {
      if (seen.has(id)) { chat.duplicates++; return; }
      seen.add(id);
      if (seen.size > MAX_SEEN) seen.delete(seen.values().next().value); // the oldest
    }
    if (data.from === chat.nick && data.text === lastSent) lastSent = ""; // it went through
    switch (data.type) {
      case "message":
        add("#" + data.room, { id, type: "message", from: data.from, text: data.text, time: data.time });
        if (typing.has(data.room)) { typing.get(data.room).delete(data.from); renderTyping(); }
        break;
      case "dm": {
        const other = data.from === chat.nick ? data.to : data.from;
        add("@" + other, { id, type: "dm", from: data.from, to: data.to, text: data.text, time: data.time });
        break;
      }
      case "notice":
        add("#" + data.room, { id, type: "notice", text: `${data.nick} ${data.event === "joined" ? "joined" : "left"} · ${time(data.time)}`, time: data.time });
        break;
      case "presence": {
        // A change; the whole list came once, in a reply.
        const list = (members.get(data.room) || []).filter(n => n !== data.nick);
        const whole = (counts.get(data.room) ?? list.length) <= config.maxListed; // the list has everyone
        let added = false;
        if (data.event === "joined" && list.length < config.maxListed) { list.push(data.nick); added = true; }
        members.set(data.room, list.sort());
        // A whole list counts itself, so that a change seen twice does not
        // count twice; past maxListed the count follows the changes.
        counts.set(data.room, whole ? list.length + (data.event === "joined" && !added ? 1 : 0)
          : Math.max(0, counts.get(data.room) + (data.event === "joined" ? 1 : -1)));
        renderSide();
        break;
      }
      case "typing":
        if (Date.now() - data.time < TYPING_SHOW_MS) {
          if (!typing.has(data.room)) typing.set(data.room, new Map());
          typing.get(data.room).set(data.nick, Date.now() + TYPING_SHOW_MS);
          renderTyping();
        }
        break;
    }
  }

  function onReply(r) {
    if (r.type === "welcome" || r.type === "members") {
      for (const [room, list] of Object.entries(r.members || {})) members.set(room, list);
      for (const [room, n] of Object.entries(r.counts || {})) counts.set(room, n);
      renderSide();
    } else if (r.type === "error") {
      showError(r.code, r.error);
      // Give back what was refused, so that it can be fixed and sent again.
      if (["too_long", "rate_limited", "not_in_room"].includes(r.code) && !text.value && lastSent) {
        text.value = lastSent;
        updateCount();
      }
      lastSent = "";
      if ((r.code === "bad_room" || r.code === "too_many_rooms") && pendingJoin) {
        setRooms(chat.rooms.filter(x => x !== pendingJoin));
        if (current === "#" + pendingJoin) show(chat.rooms.length ? "#" + chat.rooms[0] : "");
      }
      pendingJoin = "";
    }
  }

  function onGap(g) {
    // A page that holds nothing yet missed nothing: the server just has
    // less of the recent past than the page asked for.
    if (seen.size === 0) return;
    chat.gaps.push(g);
    if (chat.gaps.length > MAX_ERRORS) chat.gaps.shift();
    const why = g.reason === "unknown epoch" ? "the server restarted without its history" : "the server no longer holds them";
    for (const r of chat.rooms) add("#" + r, { id: "", type: "gap", text: `Some messages may be missing here: ${why}.` });
  }

  // ---- what the page sends ----------------------------------------------------

  function send(cmd) {
    if (!socket || !socket.send(JSON.stringify(cmd))) {
      showError("offline", "The message was not sent: the connection is down. It reconnects by itself; try again in a moment.");
      return false;
    }
    return true;
  }

  let pendingJoin = "";
  function join(room) {
    room = room.trim().toLowerCase().replace(/^#/, "");
    if (!roomRe.test(room)) { showError("bad_room", config.roomRule + "."); return; }
    if (chat.rooms.includes(room)) { show("#" + room); return; }
    if (chat.rooms.length >= config.maxRooms) { showError("too_many_rooms", `You can be in at most ${config.maxRooms} rooms at once.`); return; }
    if (!send({ type: "join", room })) return;
    pendingJoin = room;
    setRooms([...chat.rooms, room].sort());
    show("#" + room);
  }

  function leave(room) {
    if (!send({ type: "leave", room })) return;
    setRooms(chat.rooms.filter(r => r !== room));
    members.delete(room);
    counts.delete(room);
    if (current === "#" + room) show(chat.rooms.length ? "#" + chat.rooms[0] : "");
    else renderSide();
  }

  function setRooms(rooms) {
    chat.rooms = rooms;
    store.set("rooms", rooms);
    if (socket) socket.url = socketURL();
    renderSide();
  }

  function say(text) {
    if (!current) return false;
    if (current[0] === "#") return send({ type: "say", room: current.slice(1), text });
    return send({ type: "dm", to: current.slice(1), text });
  }

  // ---- composer ---------------------------------------------------------------

  const text = $("text");
  function updateCount() {
    const n = [...text.value].length;
    const c = $("count");
    c.textContent = n >= config.maxMessageRunes * COUNT_FROM ? `${n} / ${config.maxMessageRunes}` : "";
    c.classList.toggle("over", n > config.maxMessageRunes);
    text.style.height = "auto";
    text.style.height = Math.min(text.scrollHeight + 2, 160) + "px";
  }
  text.addEventListener("input", () => {
    updateCount();
    const now = Date.now();
    if (current[0] === "#" && text.value && now - lastTyping > TYPING_SEND_MS && chat.state === "live") {
      lastTyping = now;
      send({ type: "typing", room: current.slice(1) });
    }
  });
  // Enter sends, Shift+Enter starts a new line.
  let shift = false;
  text.addEventListener("keydown", e => {
    shift = e.shiftKey;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  text.addEventListener("beforeinput", e => {
    if ((e.inputType === "insertLineBreak" || e.inputType === "insertParagraph") && !shift) e.preventDefault();
  });
  $("composer").addEventListener("submit", e => {
    e.preventDefault();
    const t = text.value.trim();
    if (!t) return;
    // The server checks the length too; sending lets it answer with its rule.
    if (say(t)) { lastSent = t; text.value = ""; lastTyping = 0; updateCount(); }
  });
  $("join").addEventListener("submit", e => {
    e.preventDefault();
    join($("join-room").value);
    $("join-room").value = "";
  });

  // ---- connection -------------------------------------------------------------

  // socketURL is where the client connects, relative to the page: the
  // nickname and rooms travel in the query, so every reconnection comes
  // back with the rooms the page is in now.
  function socketURL() {
    const q = new URLSearchParams({ session, nick: chat.nick });
    chat.rooms.forEach(r => q.append("room", r));
    return "ws?" + q;
  }

  function start(nick) {
    if (socket) { socket.close(); socket = null; }
    chat.nick = nick;
    store.set("nick", nick);
    $("me").textContent = nick;
    document.title = `${nick} · Chat`;
    $("gate").hidden = true;
    setRooms(store.get("rooms", config.rooms).filter(r => roomRe.test(r)).slice(0, config.maxRooms));
    const saved = store.get("current", "");
    show(saved && (chat.rooms.includes(saved.slice(1)) || saved[0] === "@") ? saved : chat.rooms.length ? "#" + chat.rooms[0] : "");
    socket = openSocket();
    text.focus();
  }

  // openSocket connects with the ws package's reconnecting client. It sends
  // lastEventId on every reconnection; the first time, config.since asks
  // for the recent past.
  function openSocket() {
    const s = new RealtimeSocket(socketURL(), { lastEventId: config.since });
    s.onopen = () => { chat.opens++; chat.extensions = s.socket ? s.socket.extensions : ""; setState("live", "Live"); };
    s.onstatechange = st => {
      if (st === "connecting") chat.opens ? setState("reconnecting", "Reconnecting…") : setState("connecting", "Connecting…");
    };
    s.onmessage = m => {
      if (m.id) { onEvent(m.id, m.data); return; }
      // A reply to this page alone: no ID, JSON text.
      let r;
      try { r = JSON.parse(m.data); } catch { return; }
      onReply(r);
    };
    s.ongap = onGap;
    s.onclose = e => {
      if (e.code === 1009) {
        showError("closed", "That message was too big for the connection, which the server closed (1009). Reconnecting.");
        if (!text.value && lastSent) { text.value = lastSent; updateCount(); }
        lastSent = "";
      }
      else if (e.code === 1008 && /nickname/.test(e.reason)) {
        // Someone else holds this nickname: ask for another.
        s.close();
        socket = null;
        store.set("nick", "");
        setState("offline", "Offline");
        $("gate").hidden = false;
        $("nick-error").textContent = e.reason.charAt(0).toUpperCase() + e.reason.slice(1) + ".";
        $("nick").focus();
      }
      else if (e.code === 1008 && /not issued/.test(e.reason)) {
        // The server does not know this tab's session (it restarted
        // without its state): ask it for a new one, which the client's
        // next reconnection uses.
        fetch("session", { cache: "no-store" }).then(r => r.json()).then(j => {
          session = j.session;
          store.set("session", session);
          if (socket === s) s.url = socketURL();
        }).catch(() => { /* the next close asks again */ });
      }
      else if (e.code === 1008 || e.code === 1003 || e.code === 1013) showError("closed", `The server closed the connection: ${e.reason || e.code}.`);
    };
    return s;
  }

  // ---- start ------------------------------------------------------------------

  // The session the server gave this tab: it holds the nickname and gets
  // the direct messages. A reload keeps it; another tab gets its own.
  let session = store.get("session", "") || config.session;
  store.set("session", session);

  const nick = store.get("nick", "");
  if (nickRe.test(nick)) start(nick);
  else {
    $("gate").hidden = false;
    $("nick").focus();
  }
  $("gate-form").addEventListener("submit", e => {
    e.preventDefault();
    const n = $("nick").value.trim();
    if (!nickRe.test(n)) { $("nick-error").textContent = config.nickRule[0].toUpperCase() + config.nickRule.slice(1) + "."; return; }
    start(n);
  });
})();
