// DOM helpers. Every piece of text goes in through textContent or an
// attribute value: nothing from the server is ever parsed as HTML.

/**
 * h("button#go.primary", {type: "button", onclick: fn}, "Accept") builds an element.
 * Attributes starting with "on" become listeners; `dataset`, `hidden`,
 * `disabled`, `checked`, `value` are set as properties; strings and numbers
 * among the children become text nodes.
 */
export function h(spec, attrs = {}, ...children) {
  const [head, ...classes] = spec.split(".");
  const [tag, id] = head.split("#");
  const el = document.createElement(tag || "div");
  if (id) el.id = id;
  if (classes.length) el.classList.add(...classes);
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "class") {
      for (const c of String(value).split(/\s+/).filter(Boolean)) el.classList.add(c);
    } else if (["hidden", "disabled", "checked", "value", "selected", "required", "multiple"].includes(key)) {
      el[key] = value;
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "style") {
      throw new Error("use classes, not inline styles");
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Put `children` into `el` like clear(), but keep each existing child that is
 * equal (isEqualNode) to the one replacing it. Lists refresh on pushes and
 * timers; a refresh that changes nothing must not swap the nodes under the
 * user, or a click whose mousedown and mouseup land on different nodes is lost
 * and keyboard focus falls back to the page. Handlers are not compared: an
 * item's handler must depend only on what its markup shows (e.g. its data-*).
 */
export function sync(el, ...children) {
  const next = document.createElement("div");
  append(next, children);
  const fresh = [...next.childNodes];
  const old = [...el.childNodes];
  fresh.forEach((node, i) => {
    if (i >= old.length) el.append(node);
    else if (!old[i].isEqualNode(node)) el.replaceChild(node, old[i]);
  });
  for (const node of old.slice(fresh.length)) node.remove();
  return el;
}

/** Mark the item whose `data-<key>` is `selected` as aria-current, unmark the rest. */
export function markCurrent(el, key, selected) {
  for (const item of el.querySelectorAll(`[data-${key}]`)) {
    if (selected !== null && item.dataset[key] === String(selected)) item.setAttribute("aria-current", "true");
    else item.removeAttribute("aria-current");
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

// ------------------------------------------------------------------ format

export function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0");
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function clock(ts) {
  if (!ts) return "";
  return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function dateTime(ts) {
  if (!ts) return "";
  return new Date(ts * 1000).toLocaleString([], {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export const LABELS = {
  idle: "Idle", offered: "Offered", busy: "Busy", wrap_up: "Wrap-up",
  ready: "Ready", not_ready: "Not ready", offline: "Offline",
  new: "New", in_progress: "In progress", completed: "Completed",
  waiting: "Waiting", assigning: "Assigning", assigned: "Assigned",
  transferring: "Transferring", ended: "Ended", failed: "Failed",
};

export function label(key) {
  if (LABELS[key]) return LABELS[key];
  const text = String(key || "").replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function customerName(ix) {
  const c = ix?.customer || {};
  return c.name || c.phone || c.email || c.external_id || "Unknown customer";
}

export function randomId(prefix = "") {
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const b = crypto.getRandomValues(new Uint8Array(12));
  return prefix + [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

// ----------------------------------------------------------------- tickers

// One timer for every "time in state" and countdown on the page: elements
// with data-since (elapsed) or data-until (remaining), in server seconds.
let serverNow = () => Date.now() / 1000;

export function startTicker(now) {
  serverNow = now;
  const tick = () => {
    const t = serverNow();
    for (const el of document.querySelectorAll("[data-since]")) {
      el.textContent = duration(t - Number(el.dataset.since));
    }
    for (const el of document.querySelectorAll("[data-until]")) {
      const left = Number(el.dataset.until) - t;
      el.textContent = duration(Math.max(0, Math.round(left)));
      el.classList.toggle("urgent", left < 6);
    }
  };
  tick();
  return setInterval(tick, 1000);
}

/** Point an element's "time in state" at `ts`, shown at once. */
export function setSince(el, ts) {
  el.dataset.since = String(ts);
  el.textContent = duration(serverNow() - ts);
}

export function since(ts, extra = {}) {
  return h("span.elapsed", { dataset: { since: String(ts) }, ...extra }, duration(serverNow() - ts));
}

export function until(ts, extra = {}) {
  return h("span.countdown", { dataset: { until: String(ts) }, role: "timer", ...extra },
    duration(Math.max(0, Math.round(ts - serverNow()))));
}

// ---------------------------------------------------------- toasts, dialogs

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h(`div.toast.${kind}`, { role: kind === "error" ? "alert" : "status" }, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
  return el;
}

export function errorText(err) {
  if (err && err.code) return `${err.message} (${err.code})`;
  return String(err && err.message ? err.message : err);
}

/** A modal confirmation; resolves true on confirm. */
export function confirmDialog({ title, body = "", confirm = "OK", cancel = "Cancel", danger = false }) {
  return new Promise((resolve) => {
    const yes = h(`button.${danger ? "danger" : "primary"}`, { type: "submit", value: "yes" }, confirm);
    const no = h("button", { type: "submit", value: "no", formnovalidate: true }, cancel);
    const form = h("form", { method: "dialog" },
      h("h2", title), body ? h("p", body) : null, h("div.actions", no, yes));
    const dialog = h("dialog.confirm", { "aria-label": title }, form);
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    yes.focus();
  });
}

/** A modal dialog holding `content` (a form); returns the <dialog>. */
export function modal(title, content, { wide = false } = {}) {
  const close = h("button.icon.close", { type: "button", "aria-label": "Close" }, "✕");
  const dialog = h(`dialog.modal${wide ? ".wide" : ""}`, { "aria-label": title },
    h("header", h("h2", title), close), content);
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

// ------------------------------------------------------ sound, notification

let audio = null;

/** Create the audio context on a user gesture (browsers refuse it otherwise). */
export function unlockAudio() {
  if (audio) return;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  try {
    audio = new Ctx();
  } catch {
    audio = null;
  }
}

export function beep() {
  if (!audio) return;
  if (audio.state === "suspended") audio.resume().catch(() => {});
  const t = audio.currentTime;
  for (const [i, freq] of [880, 660].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t + i * 0.22);
    gain.gain.exponentialRampToValueAtTime(0.2, t + i * 0.22 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.22 + 0.2);
    osc.connect(gain).connect(audio.destination);
    osc.start(t + i * 0.22);
    osc.stop(t + i * 0.22 + 0.21);
  }
}

export function canNotify() {
  return "Notification" in window && Notification.permission === "granted";
}

export function askNotifications() {
  if ("Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
}

export function notify(title, body, onclick) {
  if (!canNotify()) return null;
  try {
    const n = new Notification(title, { body, tag: "switchboard-offer" });
    n.onclick = () => {
      window.focus();
      if (onclick) onclick();
      n.close();
    };
    return n;
  } catch {
    return null; // e.g. Android Chrome needs a service worker
  }
}

/** A collapsible section of the details pane. */
export function section(title, body, open = true, cls = "") {
  const el = h("details.pane-section", { open }, h("summary", h("h3", title)), h("div.pane-body", body));
  if (cls) el.classList.add(cls);
  return el;
}

/** The protocol's identifier pattern (queues, devices, templates), for `pattern`
 * attributes; `-` is escaped because browsers compile them with the v flag. */
export const IDENT = "[A-Za-z0-9_.@\\-]{1,64}";
