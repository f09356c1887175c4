// "My calls" in the agent's sidebar: the scheduled calls still pending (start
// one now, cancel one, schedule another) and the last calls the agent
// handled, from the server's `list_calls`, with the case each call raised or
// discussed.

import { $, h, clear, sync, markCurrent, label, toast, errorText, clock, dateTime, duration, modal, confirmDialog, IDENT } from "./dom.js";
import { refusalText } from "./call.js";

const KIND = { inbound: "Inbound", callback: "Callback", outbound: "Outbound", scheduled: "Scheduled" };
const FINAL = new Set(["ended", "failed", "missed_flow"]);

/** Mount the lists (`#scheduled-list`, `#call-list`); returns
 * `{ refresh, render, stop }`: refresh asks the server (debounced), render
 * redraws from what is known (e.g. after a `call_state` push). */
export function myCallsList(app) {
  const scheduledList = $("#scheduled-list");
  const recentList = $("#call-list");
  const scheduleBtn = $("#schedule-call-btn");
  let data = { scheduled: [], recent: [] };
  let loaded = false;
  let timer = null;
  let stopped = false;

  // The call page's own schedule form records what it schedules or cancels in
  // app.scheduled: watching that map keeps this list current too.
  const watched = new Map(app.scheduled);
  watched.set = function set(key, value) {
    Map.prototype.set.call(this, key, value);
    if (!stopped) soon(0);
    return this;
  };
  app.scheduled = watched;

  const render = () => {
    if (stopped) return;
    const pending = data.scheduled.filter((s) => {
      const known = app.scheduled.get(s.id);
      return !known || known.status === "pending";
    });
    sync(scheduledList, pending.length
      ? pending.map((s) => scheduledItem(app, s, refresh))
      : h("li.empty", loaded ? "No scheduled calls" : "Loading…"));
    const selected = app.panel ? app.panel.id : null;
    // The call the agent is on is under Active; here only the finished ones.
    const recent = data.recent.filter((c) => FINAL.has(app.callStates.get(c.interaction) || c.state));
    sync(recentList, recent.length
      ? recent.map((c) => recentItem(app, c))
      : h("li.empty", loaded ? "No finished calls yet" : "Loading…"));
    markCurrent(recentList, "interaction", selected);
  };

  const load = async () => {
    try {
      const reply = await app.conn.request({ type: "list_calls" });
      if (stopped) return;
      data = { scheduled: reply.scheduled, recent: reply.recent };
      loaded = true;
      render();
    } catch (err) {
      if (stopped || err.code === "disconnected" || err.code === "offline") return;
      clear(recentList, h("li.empty", errorText(err)));
    }
  };

  function soon(delay = 200) {
    clearTimeout(timer);
    timer = setTimeout(load, delay);
  }
  const refresh = () => soon();

  const onSchedule = () => openScheduleDialog(app);
  scheduleBtn.addEventListener("click", onSchedule);
  render();
  load();
  return {
    refresh,
    render,
    stop() {
      stopped = true;
      clearTimeout(timer);
      scheduleBtn.removeEventListener("click", onSchedule);
      clear(scheduledList);
      clear(recentList);
    },
  };
}

// ------------------------------------------------------------------ items

function scheduledItem(app, s, refresh) {
  const start = h("button.small.primary.sc-start", { type: "button" }, "Start now");
  const cancel = h("button.link.small.sc-cancel", { type: "button" }, "Cancel");
  const busy = (on) => { start.disabled = on; cancel.disabled = on; };
  start.addEventListener("click", async () => {
    busy(true);
    try {
      const reply = await app.conn.request({ type: "start_scheduled_call", scheduled: s.id });
      app.scheduled.set(s.id, reply.call); // redraws the list
      toast(`Calling ${s.number}: your device ${s.device} rings first.`);
      if (reply.call.interaction) app.open(reply.call.interaction, "call");
    } catch (err) {
      toast(`Not started: ${errorText(err)}`, "error");
      busy(false);
      refresh();
    }
  });
  cancel.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: "Cancel this scheduled call?", body: `${s.number} at ${dateTime(s.at)}`,
      confirm: "Cancel the call", cancel: "Keep it", danger: true,
    });
    if (!ok) return;
    busy(true);
    try {
      const reply = await app.conn.request({ type: "cancel_scheduled_call", scheduled: s.id });
      app.scheduled.set(s.id, reply.call);
      toast("Scheduled call canceled.");
    } catch (err) {
      toast(`Not canceled: ${errorText(err)}`, "error");
      busy(false);
      refresh();
    }
  });
  const where = [s.device, s.queue ? `else ${app.queueName ? app.queueName(s.queue) : s.queue}` : null]
    .filter(Boolean).join(" · ");
  return h("li", { dataset: { scheduled: s.id } },
    h("div.ix-item.scheduled-item",
      h("span.ch-badge", { dataset: { channel: "call" }, "aria-hidden": "true" }, "⏰"),
      h("span.ix-main",
        h("span.ix-title", s.number),
        h("span.ix-sub", h("time", { datetime: new Date(s.at * 1000).toISOString() }, dateTime(s.at))),
        h("span.ix-sub", where)),
      h("span.ix-side", start, cancel)));
}

function recentItem(app, c) {
  const state = app.callStates.get(c.interaction) || c.state;
  const who = c.contact ? (c.contact.name || c.number) : c.number;
  const queue = app.queueName ? app.queueName(c.queue) : c.queue;
  const details = [
    `${c.direction === "inbound" ? "Inbound" : "Outbound"} call ${c.number}`,
    `started ${dateTime(c.started_at)}`,
    c.ended_at ? `ended ${dateTime(c.ended_at)}` : null,
    c.talking != null ? `talked ${duration(c.talking)}` : null,
    c.result ? `result ${label(c.result)}` : null,
    c.case ? `case ${c.case}` : null,
  ].filter(Boolean).join(", ");
  const item = h("button.ix-item", {
    type: "button",
    title: details,
    dataset: { interaction: c.interaction, channel: "call", direction: c.direction, case: c.case || "" },
    onclick: () => app.open(c.interaction, "call"),
  },
  h("span.ch-badge", { dataset: { channel: "call" }, "aria-hidden": "true" }, c.direction === "inbound" ? "↙" : "↗"),
  h("span.ix-main",
    h("span.ix-title", who),
    h("span.ix-sub", [KIND[c.kind] || label(c.kind), c.contact ? c.number : null, queue].filter(Boolean).join(" · ")),
    c.case ? h("span.ix-sub.call-case", `Case ${c.case}`) : null),
  h("span.ix-side",
    h("span.pill", { dataset: { state } }, label(c.result || state)),
    h("span.ix-time", clock(c.ended_at || c.started_at))));
  const openCase = c.case && typeof app.openCase === "function"
    ? h("button.link.small.call-case-open", { type: "button", onclick: () => app.openCase(c.case) }, `Open case ${c.case}`)
    : null;
  return h("li", item, openCase);
}

// ------------------------------------------------------- schedule a call

function localInputValue(ts) {
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The agent's devices: its account's (from the welcome), then any learned. */
function devicesOf(app) {
  const account = app.conn.welcome && app.conn.welcome.account;
  const ids = (account && account.devices ? account.devices : []).map((d) => d.id);
  return [...new Set([...ids, ...app.devices])];
}

function openScheduleDialog(app) {
  const devices = devicesOf(app);
  const num = h("input#mc-number", { type: "tel", required: true, maxlength: 64, autocomplete: "off" });
  const at = h("input#mc-at", { type: "datetime-local", required: true, value: localInputValue(app.conn.now() + 3600) });
  const device = devices.length
    ? h("select#mc-device", devices.map((d) => h("option", { value: d }, d)))
    : h("input#mc-device", { required: true, maxlength: 64, pattern: IDENT, placeholder: "Device id" });
  const queue = h("input#mc-queue", { maxlength: 64, placeholder: "optional", pattern: IDENT });
  const out = h("p.form-error", { role: "alert", hidden: true });
  const submit = h("button.primary.small", { type: "submit" }, "Schedule");
  const form = h("form.schedule-form.my-schedule-form", { "aria-label": "Schedule a call" },
    h("label", { for: num.id }, "Number"), num,
    h("label", { for: at.id }, "When"), at,
    h("label", { for: device.id }, "Device"), device,
    h("label", { for: queue.id }, "Queue if you are busy then"), queue,
    h("div.actions", submit), out);
  const dialog = modal("Schedule a call", form);
  num.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    out.hidden = true;
    const when = new Date(at.value).getTime() / 1000 - (Date.now() / 1000 - app.conn.now());
    const frame = { type: "schedule_call", number: num.value.trim(), at: when, device: device.value.trim() };
    if (queue.value.trim()) frame.queue = queue.value.trim();
    submit.disabled = true;
    try {
      const reply = await app.conn.request(frame);
      app.scheduled.set(reply.call.id, reply.call);
      app.rememberDevice(reply.call.device);
      toast(`Call to ${reply.call.number} scheduled for ${dateTime(reply.call.at)}.`);
      dialog.close();
    } catch (err) {
      out.textContent = err.code === "refused" ? refusalText(err) : errorText(err);
      out.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
}
