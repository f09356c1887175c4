// The Switchboard wire protocol for the browser: one small module.
//
// A Connection speaks the JSON subprotocol over one websocket. `request(frame)`
// fills in the id and resolves with the reply naming it (an `error` reply
// rejects with a ProtocolError carrying `code`, `message` and `details`).
// Pushes are dispatched by `type` to `on(type, fn)` listeners and carry `seq`,
// which is kept (with the session token, in sessionStorage) so that a dropped
// connection comes back by itself with `resume` and exponential backoff.
//
// Frames are decoded against the generated schema (served at /schema.json):
// a frame whose `type` the schema does not list is reported and dropped, and
// fields the server left out (it never sends defaults) are filled in with the
// schema's defaults, so `ix.customer.name` or `record.candidates` always exist.

export const SUBPROTOCOL = "switchboard.v1.json";

// Server frame types, for when /schema.json cannot be loaded; kept equal to the
// schema's by tests/web_client/test_protocol_js.py.
const KNOWN_SERVER_TYPES = [
  "agent_state", "api_key_created", "article", "articles", "call", "call_list", "call_state",
  "callback_queued", "case", "case_ack", "case_changed", "case_list", "case_lookups", "chat",
  "chat_history", "chat_list", "config", "connect", "contacts", "created", "dashboard", "error",
  "file_data", "hangup", "identified", "interaction", "journey", "lookups", "message",
  "message_sent", "offer", "offer_closed", "ok", "originate", "play", "pong", "queue_stats",
  "reassigned", "ring_agent", "scheduled", "stop_ringing", "waiting", "welcome",
];

const STORAGE_KEY = "switchboard.session";
// Close codes after which reconnecting would be wrong: the account signed in
// elsewhere (4004), or too many failed logins (4003).
const TERMINAL_CLOSES = new Map([
  [4003, "too many failed sign-ins"],
  [4004, "signed in from another window"],
]);

export class ProtocolError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.details = details || {};
  }
}

// ------------------------------------------------------------------ schema

export class Schema {
  constructor(json) {
    this.defs = json.$defs || {};
    this.version = json.version || "";
    this.server = new Map();
    this.client = new Map();
    for (const [side, map] of [["server", this.server], ["client", this.client]]) {
      const mapping = json[side]?.discriminator?.mapping || {};
      for (const [type, ref] of Object.entries(mapping)) map.set(type, this.resolve({ $ref: ref }));
    }
  }

  static fallback() {
    const s = new Schema({});
    for (const t of KNOWN_SERVER_TYPES) s.server.set(t, null);
    return s;
  }

  get complete() {
    return this.client.size > 0;
  }

  resolve(node) {
    let guard = 0;
    while (node && node.$ref && guard++ < 16) {
      node = this.defs[node.$ref.split("/").pop()];
    }
    return node;
  }

  isServerType(type) {
    return this.server.has(type);
  }

  isClientType(type) {
    return !this.complete || this.client.has(type);
  }

  // Fill in the defaults the server leaves out, recursively.
  decode(frame) {
    const def = this.server.get(frame.type);
    if (def) this.fill(def, frame);
    return frame;
  }

  fill(node, value) {
    node = this.resolve(node);
    if (!node || value === null || value === undefined) return;
    if (node.anyOf) {
      const kind = Array.isArray(value) ? "array" : typeof value;
      for (const branch of node.anyOf) {
        const b = this.resolve(branch);
        if (!b) continue;
        if (kind === "array" && b.type === "array") return this.fill(b, value);
        if (kind === "object" && (b.type === "object" || b.properties)) return this.fill(b, value);
      }
      return;
    }
    if (Array.isArray(value)) {
      if (node.items) for (const item of value) this.fill(node.items, item);
      return;
    }
    if (typeof value !== "object" || !node.properties) return;
    for (const [name, prop] of Object.entries(node.properties)) {
      if (value[name] === undefined) {
        if ("default" in prop) value[name] = structuredClone(prop.default);
        else continue;
      }
      this.fill(prop, value[name]);
    }
  }
}

export async function loadSchema(url = "/schema.json") {
  try {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return new Schema(await response.json());
  } catch (err) {
    console.warn("schema unavailable, using the built-in frame list:", err.message);
    return Schema.fallback();
  }
}

// -------------------------------------------------------------- connection

export function defaultUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws`;
}

export class Connection extends EventTarget {
  constructor({
    url = defaultUrl(),
    storage = window.sessionStorage,
    schema = null,
    requestTimeout = 15000,
    backoff = { base: 500, max: 30000 },
    keepalive = 25000,
  } = {}) {
    super();
    this.url = url;
    this.storage = storage;
    this.schema = schema || Schema.fallback();
    this.requestTimeout = requestTimeout;
    this.backoff = backoff;
    this.keepalive = keepalive;
    this.state = "offline"; // offline · connecting · online · reconnecting · signed_out
    this.lastSeq = 0;
    this.welcome = null;
    this.clockOffset = 0; // server time minus local time, seconds
    this.attempt = 0;
    this._ids = 1;
    this._waiting = new Map();
    this._handlers = new Map();
    this._ws = null;
    this._retryTimer = null;
    this._pingTimer = null;
    this._session = this._load();
    window.addEventListener("online", () => {
      if (this.state === "reconnecting") this._reconnectNow();
    });
  }

  // --------------------------------------------------------------- session

  _load() {
    try {
      return JSON.parse(this.storage.getItem(STORAGE_KEY) || "null");
    } catch {
      return null;
    }
  }

  _save() {
    if (this._session) this.storage.setItem(STORAGE_KEY, JSON.stringify(this._session));
    else this.storage.removeItem(STORAGE_KEY);
  }

  get hasSession() {
    const s = this._session;
    return Boolean(s && s.token && (!s.expires || s.expires > Date.now() / 1000));
  }

  get principal() {
    return this.welcome?.principal || this._session?.principal || "";
  }

  /** Server time now, in seconds (Unix), corrected by the measured offset. */
  now() {
    return Date.now() / 1000 + this.clockOffset;
  }

  _setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, ...extra } }));
  }

  // ---------------------------------------------------------------- events

  /** Listen to pushes of one type ("*": all), or to "welcome" (each login and
   * resume, before any replayed push); returns an unsubscribe function. */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this._handlers.get(type)?.delete(fn);
  }

  // Listeners of `type`, and of "*" (every push) unless it is the welcome.
  _emit(type, frame, wildcard = true) {
    const all = wildcard ? this._handlers.get("*") || [] : [];
    for (const fn of [...(this._handlers.get(type) || []), ...all]) {
      try {
        fn(frame);
      } catch (err) {
        console.error(`handler for ${type} failed`, err);
      }
    }
  }

  // ---------------------------------------------------------------- socket

  _open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url, [SUBPROTOCOL]);
      } catch (err) {
        reject(new ProtocolError("unreachable", err.message));
        return;
      }
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this._ws = ws;
        resolve(ws);
      };
      ws.onmessage = (event) => this._receive(ws, event.data);
      ws.onclose = (event) => {
        if (!opened) reject(new ProtocolError("unreachable", "cannot reach the server"));
        else this._closed(ws, event.code, event.reason);
      };
      ws.onerror = () => {}; // onclose follows and says what to do
    });
  }

  _send(frame) {
    if (!this._ws || this._ws.readyState !== WebSocket.OPEN) {
      throw new ProtocolError("offline", "not connected to the server");
    }
    this._ws.send(JSON.stringify(frame));
  }

  _receive(ws, data) {
    if (ws !== this._ws) return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn("dropped a frame that is not JSON");
      return;
    }
    if (!frame || typeof frame.type !== "string" || !this.schema.isServerType(frame.type)) {
      console.warn("dropped a frame of unknown type", frame && frame.type);
      return;
    }
    this.schema.decode(frame);
    if (frame.id !== undefined && frame.id !== null) {
      const waiting = this._waiting.get(frame.id);
      if (!waiting) return;
      this._waiting.delete(frame.id);
      clearTimeout(waiting.timer);
      if (frame.type === "welcome") this._welcomed(frame);
      if (frame.type === "error") {
        waiting.reject(new ProtocolError(frame.code, frame.message, frame.details));
      } else {
        waiting.resolve(frame);
      }
      return;
    }
    if (frame.type === "error") {
      console.warn(`server error without request: ${frame.code}: ${frame.message}`);
      return;
    }
    // A push.
    if (typeof frame.seq === "number" && frame.seq > 0) {
      if (frame.seq <= this.lastSeq) return; // already seen (replayed twice)
      if (this.lastSeq && frame.seq !== this.lastSeq + 1) {
        this.dispatchEvent(new CustomEvent("gap", { detail: { from: this.lastSeq, to: frame.seq } }));
      }
      this.lastSeq = frame.seq;
      if (this._session) {
        this._session.lastSeq = frame.seq;
        this._save();
      }
    }
    this._emit(frame.type, frame);
  }

  // Runs synchronously as the welcome arrives, before any replayed push.
  _welcomed(welcome) {
    this.welcome = welcome;
    if (!welcome.resumed || welcome.replay_gap) this.lastSeq = 0;
    this._session = {
      token: welcome.session_token || this._session?.token || "",
      expires: welcome.token_expires_at,
      principal: welcome.principal,
      role: welcome.role,
      lastSeq: this.lastSeq,
    };
    this._save();
    this.attempt = 0;
    this._setState("online");
    this._emit("welcome", welcome, false);
    this._startKeepalive();
  }

  _closed(ws, code, reason) {
    if (ws !== this._ws) return;
    this._ws = null;
    this._lost(code, reason);
  }

  // The socket is gone (closed by the server, the network, or a dead keepalive).
  _lost(code, reason) {
    this._stopKeepalive();
    for (const [, w] of this._waiting) {
      clearTimeout(w.timer);
      w.reject(new ProtocolError("disconnected", "the connection dropped"));
    }
    this._waiting.clear();
    if (this.state === "offline" || this.state === "signed_out") return;
    if (TERMINAL_CLOSES.has(code)) {
      this._session = null;
      this._save();
      this._setState("signed_out", { reason: TERMINAL_CLOSES.get(code), code });
      return;
    }
    if (!this._session) {
      this._setState("offline");
      return;
    }
    this._scheduleReconnect(code, reason);
  }

  _scheduleReconnect(code = 0, reason = "") {
    clearTimeout(this._retryTimer);
    const { base, max } = this.backoff;
    const delay = Math.min(max, base * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt += 1;
    this._setState("reconnecting", { attempt: this.attempt, delay, code, reason });
    this._retryTimer = setTimeout(() => this._reconnectNow(), delay);
  }

  async _reconnectNow() {
    clearTimeout(this._retryTimer);
    if (this.state !== "reconnecting") return;
    this._setState("connecting", { attempt: this.attempt });
    try {
      await this._open();
      await this._resume();
    } catch (err) {
      if (this.state === "signed_out" || this.state === "offline") return;
      if (err.code === "auth_failed") {
        this._expire(err.message);
        return;
      }
      this._dropSocket();
      this._scheduleReconnect();
    }
  }

  _expire(message) {
    this._session = null;
    this._save();
    this._dropSocket();
    this._setState("signed_out", { reason: message || "the session expired" });
  }

  _dropSocket() {
    const ws = this._ws;
    this._ws = null;
    this._stopKeepalive();
    if (ws) {
      ws.onclose = ws.onmessage = null;
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
  }

  _startKeepalive() {
    this._stopKeepalive();
    if (!this.keepalive) return;
    const beat = async () => {
      if (this.state !== "online") return;
      try {
        await this.ping(this.keepalive / 2);
      } catch (err) {
        // No pong in time: the connection is dead even if the socket says otherwise.
        if (err.code === "timeout" && this._ws) {
          this._dropSocket();
          this._lost(1006, "keepalive timed out");
        }
      }
    };
    this._pingTimer = setInterval(beat, this.keepalive);
  }

  _stopKeepalive() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  // -------------------------------------------------------------- requests

  /** Send a request frame; resolves with its reply, rejects with ProtocolError. */
  request(frame, { timeout = this.requestTimeout } = {}) {
    if (!frame || !this.schema.isClientType(frame.type)) {
      return Promise.reject(new ProtocolError("unknown_type", `no client frame ${frame?.type}`));
    }
    const id = this._ids++;
    const out = { ...frame, id };
    return new Promise((resolve, reject) => {
      try {
        this._send(out);
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => {
        this._waiting.delete(id);
        reject(new ProtocolError("timeout", `no reply to ${frame.type} in time`));
      }, timeout);
      this._waiting.set(id, { resolve, reject, timer });
    });
  }

  async ping(timeout) {
    const t0 = Date.now();
    const pong = await this.request({ type: "ping" }, { timeout });
    const t1 = Date.now();
    this.clockOffset = pong.server_time - (t0 + t1) / 2000;
    this.rtt = t1 - t0;
    return pong;
  }

  // ----------------------------------------------------------------- login

  async login(username, password) {
    clearTimeout(this._retryTimer);
    this._dropSocket();
    this._session = null;
    this._save();
    this._setState("connecting");
    try {
      await this._open();
      const welcome = await this.request({ type: "login", username, password });
      this.ping().catch(() => {});
      return welcome;
    } catch (err) {
      this._dropSocket();
      this._setState("offline");
      throw err;
    }
  }

  /** Continue the stored session (after a page reload); null if there is none. */
  async resumeStored() {
    if (!this.hasSession) return null;
    this.lastSeq = this._session.lastSeq || 0;
    this._setState("connecting");
    try {
      await this._open();
      const welcome = await this._resume();
      return welcome;
    } catch (err) {
      if (err.code === "auth_failed") {
        this._expire(err.message);
        return null;
      }
      this._dropSocket();
      this._scheduleReconnect();
      return null;
    }
  }

  async _resume() {
    const welcome = await this.request({
      type: "resume",
      token: this._session.token,
      last_seq: this.lastSeq,
    });
    this.ping().catch(() => {});
    return welcome;
  }

  /** Sign out: forget the session and close the socket. */
  logout() {
    clearTimeout(this._retryTimer);
    this._session = null;
    this._save();
    this.welcome = null;
    this._setState("offline");
    this._dropSocket();
  }

  /** Drop the socket as a network failure would (used by tests and "reconnect now"). */
  simulateDrop() {
    if (!this._ws) return;
    this._dropSocket();
    this._lost(1006, "dropped");
  }
}
