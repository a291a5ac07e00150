/*
 * RealtimeSocket: the browser client of a ws.Hub (github.com/realtime-go/realtime/ws).
 * No dependencies. It is what the browser's WebSocket lacks and EventSource has:
 * it reconnects on its own, with a jittered exponential backoff, and resumes
 * where it stopped by sending the ID of the last message it got, so a short
 * outage loses nothing the hub still keeps, and a longer one is reported.
 *
 * Load it from the Go server (ws.ClientScript serves this file):
 *
 *   <script src="/ws/client.js"></script>
 *   <script>
 *     const rt = new RealtimeSocket("/ws", {topics: ["room:lobby"]});
 *     rt.onmessage = (m) => console.log(m.id, m.topic, m.data);
 *     rt.ongap = (g) => reloadEverything();   // some messages are lost
 *     rt.send({text: "hi"});
 *   </script>
 *
 * new RealtimeSocket(url, options)
 *   url      ws:, wss:, http:, https: or a path relative to the page (http
 *            becomes ws, https becomes wss).
 *   options  topics       topics to follow, sent as "topic" query parameters
 *                         (default none: the server may choose them)
 *            lastEventId  resume after this ID on the first connection
 *            protocols    more WebSocket subprotocols to offer, after
 *                         "realtime.v1"
 *            v1           offer "realtime.v1" (default true). Set it to
 *                         false for a server that does not choose it (an
 *                         Accept handler, or a Hub older than version 1 of
 *                         the protocol): browsers fail a connection whose
 *                         server chooses none of the subprotocols offered.
 *            minDelay     first reconnection delay in ms (default 500)
 *            maxDelay     longest reconnection delay in ms (default 30000)
 *
 * The delay doubles with each reconnection and starts over from minDelay
 * once a connection delivered a message or stayed open 10 s, not when one
 * merely opens: a server that accepts and closes at once does not bring its
 * clients back several times a second.
 *
 * Properties
 *   state        "connecting", "open" or "closed" (after close() only)
 *   lastEventId  ID of the last hub message received, or null; sent as the
 *                "lastEventId" query parameter on every reconnection. An ID
 *                longer than 1024 characters is not kept (null): the next
 *                connection resumes as a new one
 *   topics       the topics followed (a copy)
 *   socket       the current WebSocket, or null
 *   protocol     the subprotocol of the current connection: "realtime.v1"
 *                with a ws.Hub, "" (or one of protocols) with v1: false
 *
 * Hooks (assign a function; all optional)
 *   onopen()             a connection is open (first one or a reconnection)
 *   onmessage(m)         a message. For hub messages
 *                        m = {kind: "message", id, topic, data}; data is the
 *                        JSON value the server published, a string for
 *                        text, an ArrayBuffer for binary. For messages the
 *                        server sent to this connection alone (Member.Send,
 *                        Member.SendJSON) m = {kind: "direct", id: null,
 *                        topic: null, data}: the text as a string, the JSON
 *                        value SendJSON sent, or an ArrayBuffer. Only hub
 *                        messages move lastEventId.
 *   ongap(g)             the server could not replay everything since
 *                        lastEventId: g = {lastEventId, reason, id}; reason is
 *                        "unknown epoch", "malformed id", "future id" or
 *                        "history exceeded". The messages it still had follow.
 *   onclose(e)           a connection closed: e = {code, reason, willRetry, delay}
 *   onstatechange(s)     state changed
 *
 * Methods
 *   send(data)     send a string, an ArrayBuffer or typed array as is, or any
 *                  other value as JSON text. Returns false (and sends
 *                  nothing) while not open: nothing is buffered across
 *                  reconnections.
 *   join(topic)    follow one more topic / stop following one. Topics are
 *   leave(topic)   part of the URL, so the client reconnects at once, and
 *                  resumes from lastEventId: nothing is lost meanwhile.
 *   close()        close for good; no more reconnections.
 *
 * Wire protocol (see the ws package documentation): the client offers the
 * subprotocol "realtime.v1". On such a connection every text message is a
 * JSON object whose "type" says what it is: {"type":"message","id","topic",
 * "data"}, {"type":"gap","lastEventId","reason","id"} or {"type":"direct",
 * "data"}; every binary message is a 2-byte big-endian length n, n bytes of
 * such a JSON header ({"type":"message","id","topic"} or {"type":"direct"}),
 * then the data. A hub message without "type" (replayed from a history
 * saved by a server older than version 1) is still a hub message.
 * Messages of a type this client does not know are ignored,
 * so a server may add types to version 1. On a connection without
 * "realtime.v1" (v1: false), direct messages come as they were sent, and the
 * client takes a text JSON object with string "id" and "topic" and a
 * "data" member (or a binary message with such a header) for a hub message.
 */
(function (root) {
  "use strict";

  function RealtimeSocket(url, options) {
    options = options || {};
    this.url = url;
    this.topics = (options.topics || []).slice();
    this.lastEventId = options.lastEventId || null;
    this.protocols = (options.v1 === false ? [] : [PROTOCOL]).concat(options.protocols || []);
    this.protocol = "";
    this.minDelay = options.minDelay || 500;
    this.maxDelay = options.maxDelay || 30000;
    this.state = "connecting";
    this.socket = null;
    this.onopen = this.onmessage = this.ongap = this.onclose = this.onstatechange = null;
    this._attempt = 0;
    this._opened = 0; // when the current connection opened, in ms
    this._timer = null;
    this._connect();
  }

  RealtimeSocket.prototype._setState = function (s) {
    if (this.state === s) return;
    this.state = s;
    call(this.onstatechange, s);
  };

  RealtimeSocket.prototype._href = function () {
    var base = typeof location !== "undefined" ? location.href : undefined;
    var u = new URL(this.url, base);
    if (u.protocol === "http:") u.protocol = "ws:";
    if (u.protocol === "https:") u.protocol = "wss:";
    u.searchParams.delete("topic");
    u.searchParams.delete("lastEventId");
    for (var i = 0; i < this.topics.length; i++) u.searchParams.append("topic", this.topics[i]);
    if (this.lastEventId) u.searchParams.set("lastEventId", this.lastEventId);
    return u.href;
  };

  RealtimeSocket.prototype._connect = function () {
    var self = this;
    self._timer = null;
    self._setState("connecting");
    var ws;
    try {
      ws = new WebSocket(self._href(), self.protocols);
    } catch (err) {
      self._retry(1006, String(err));
      return;
    }
    ws.binaryType = "arraybuffer";
    self.socket = ws;
    ws.onopen = function () {
      if (self.socket !== ws) return;
      self._opened = Date.now();
      self.protocol = ws.protocol;
      self._setState("open");
      call(self.onopen);
    };
    ws.onmessage = function (ev) {
      if (self.socket !== ws) return;
      self._attempt = 0; // the connection delivered: the backoff starts over
      self._receive(ev.data);
    };
    ws.onclose = function (ev) {
      if (self.socket !== ws) return;
      self.socket = null;
      if (self._opened && Date.now() - self._opened >= STABLE_CONNECTION) self._attempt = 0;
      self._opened = 0;
      self._retry(ev.code, ev.reason);
    };
    ws.onerror = function () {}; // a close event follows
  };

  RealtimeSocket.prototype._retry = function (code, reason) {
    if (this.state === "closed") return;
    // Full jitter over an exponential backoff, so that clients dropped
    // together do not come back together.
    var cap = Math.min(this.maxDelay, this.minDelay * Math.pow(2, this._attempt));
    var delay = Math.round(cap / 2 + Math.random() * cap / 2);
    this._attempt = Math.min(this._attempt + 1, 30);
    this._setState("connecting");
    call(this.onclose, {code: code, reason: reason, willRetry: true, delay: delay});
    if (this.state === "closed") return; // onclose called close()
    var self = this;
    this._timer = setTimeout(function () { self._connect(); }, delay);
  };

  RealtimeSocket.prototype._receive = function (data) {
    var v1 = this.protocol === PROTOCOL;
    var m = typeof data === "string" ? textMessage(data, v1) : binaryMessage(data, v1);
    if (!m) return; // a type this version does not know
    if (m.gap) {
      this.lastEventId = resumeId(m.gap.id);
      call(this.ongap, m.gap);
      return;
    }
    if (m.kind === "message") this.lastEventId = resumeId(m.id);
    call(this.onmessage, m);
  };

  RealtimeSocket.prototype.send = function (data) {
    var ws = this.socket;
    if (!ws || ws.readyState !== 1) return false;
    if (typeof data !== "string" && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      data = JSON.stringify(data);
    }
    ws.send(data);
    return true;
  };

  RealtimeSocket.prototype.join = function (topic) {
    if (this.topics.indexOf(topic) < 0) {
      this.topics.push(topic);
      this._reconnectNow();
    }
  };

  RealtimeSocket.prototype.leave = function (topic) {
    var i = this.topics.indexOf(topic);
    if (i >= 0) {
      this.topics.splice(i, 1);
      this._reconnectNow();
    }
  };

  RealtimeSocket.prototype._reconnectNow = function () {
    if (this.state === "closed") return;
    if (this._timer) clearTimeout(this._timer);
    var old = this.socket;
    this.socket = null;
    if (old) old.close(1000, "changing topics");
    this._attempt = 0;
    this._connect();
  };

  RealtimeSocket.prototype.close = function () {
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    var old = this.socket;
    this.socket = null;
    this._setState("closed");
    if (old) old.close(1000, "");
  };

  var PROTOCOL = "realtime.v1";

  // STABLE_CONNECTION is how long, in ms, a connection that delivers no
  // message must stay open for the backoff to start over (the Go
  // Subscriber's stableConnection).
  var STABLE_CONNECTION = 10000;

  // MAX_LAST_EVENT_ID is the longest ID sent back in lastEventId, as the Go
  // clients' maxLastEventID: a server cannot make its clients repeat a URL
  // of any size.
  var MAX_LAST_EVENT_ID = 1024;

  // resumeId returns id to resume from, or null when there is none or it is
  // too long.
  function resumeId(id) {
    return typeof id === "string" && id && id.length <= MAX_LAST_EVENT_ID ? id : null;
  }

  function call(f, arg) {
    if (typeof f === "function") f(arg);
  }

  function hubMessage(id, topic, data) {
    return {kind: "message", id: id, topic: topic, data: data};
  }

  function directMessage(data) {
    return {kind: "direct", id: null, topic: null, data: data};
  }

  // textMessage decodes a text message; v1 says the connection speaks
  // realtime.v1. It returns null for a type it does not know.
  function textMessage(s, v1) {
    var v;
    try {
      v = JSON.parse(s);
    } catch (e) {
      return v1 ? null : directMessage(s);
    }
    var obj = v && typeof v === "object" && !Array.isArray(v);
    if (obj && v.type === "gap" && "lastEventId" in v) {
      return {gap: {lastEventId: v.lastEventId, reason: v.reason, id: v.id}};
    }
    if (v1) {
      if (!obj) return null;
      if (v.type === "message" && typeof v.id === "string") return hubMessage(v.id, v.topic, v.data);
      // No type: a hub message replayed from a history an older server saved.
      if (v.type === undefined && typeof v.id === "string" && typeof v.topic === "string" && "data" in v) {
        return hubMessage(v.id, v.topic, v.data);
      }
      if (v.type === "direct") return directMessage(v.data);
      return null;
    }
    if (obj && typeof v.id === "string" && typeof v.topic === "string" && "data" in v) {
      return hubMessage(v.id, v.topic, v.data);
    }
    return directMessage(s);
  }

  // binaryMessage decodes a binary message, as textMessage does.
  function binaryMessage(buf, v1) {
    var b = new Uint8Array(buf);
    var h = null;
    if (b.length >= 3 && b[2] === 0x7b) { // "{"
      var n = (b[0] << 8) | b[1];
      if (2 + n <= b.length) {
        try {
          h = JSON.parse(new TextDecoder().decode(b.subarray(2, 2 + n)));
        } catch (e) { /* not a header */ }
      }
    }
    var data = h ? buf.slice(2 + n) : buf;
    if (v1) {
      if (!h) return null;
      if (h.type === "message" && typeof h.id === "string") return hubMessage(h.id, h.topic, data);
      if (h.type === undefined && typeof h.id === "string" && typeof h.topic === "string") {
        return hubMessage(h.id, h.topic, data);
      }
      if (h.type === "direct") return directMessage(data);
      return null;
    }
    if (h && typeof h.id === "string" && typeof h.topic === "string") {
      return hubMessage(h.id, h.topic, data);
    }
    return directMessage(buf);
  }

  root.RealtimeSocket = RealtimeSocket;
  if (typeof module === "object" && module.exports) module.exports = RealtimeSocket;
})(typeof globalThis !== "undefined" ? globalThis : this);
