// The call workspace: caller identification, the call journey, the customer
// journey, result, callback and scheduled calls.

import {
  $, h, clear, label, since, toast, errorText, dateTime, duration, confirmDialog, section, IDENT,
} from "./dom.js";
import { identification, journeyTable } from "./contacts.js";
import { casesBox } from "./cases.js";

const KIND = { inbound: "Inbound call", callback: "Callback", outbound: "Outbound call", scheduled: "Scheduled call" };

// Why compliance refused a number (`error.code === "refused"`, `details.rule`).
const RULES = {
  do_not_call: "the number is on the do-not-call list",
  company_blacklist: "the number is on the company blacklist",
  company_whitelist: "the number is not on the company whitelist",
  personal_whitelist: "the number is not on your personal whitelist",
  country_whitelist: "calls to this country are not allowed",
};

/** The text for a compliance refusal. */
export function refusalText(err) {
  const rule = (err.details && err.details.rule) || "";
  return `Refused by compliance: ${RULES[rule] || err.message} (rule ${rule || "unknown"}).`;
}

const STEPS = {
  initiated: "Initiated", routed: "Routed to inbox", ringing: "Ringing",
  answered_by_agent: "Answered by agent", answered_by_customer: "Answered by customer",
  transferred: "Transferred", ended: "Ended", failed: "Failed", queued: "Queued",
  dialing_agent: "Dialing agent", dialing_customer: "Dialing customer", connected: "Connected",
};

function clockSeconds(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

const LIVE_CALL = new Set(["ringing_queue", "ringing_agent", "answered", "requested", "queued",
  "dialing_agent", "dialing_customer", "connected", "transferring"]);

export class CallPanel {
  constructor(app, id, { preview = false } = {}) {
    this.app = app;
    this.conn = app.conn;
    this.id = id;
    this.kind = "call";
    this.preview = preview;
    this.record = null;
    this.destroyed = false;
    this._timer = null;
    this.head = h("header.ws-head");
    this.banner = h("div.preview-banner", { hidden: true });
    this.body = h("div.call-body");
    clear($("#workspace"), h("div.call-ws", this.head, this.banner, this.body));
    this.detailsEl = h("div.details-inner");
    clear($("#details"), this.detailsEl);
    clear(this.body, h("p.muted", "Loading the call…"));
    this.pane = null;
    this.reload();
  }

  get ix() {
    return this.app.interactions.get(this.id) || (this.record && this.record.interaction);
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this._timer);
  }

  async reload() {
    try {
      const detail = await this.conn.request({ type: "get_call", interaction: this.id });
      if (this.destroyed) return;
      this.record = detail.record;
      const ix = detail.record.interaction;
      this.app.interactions.set(this.id, ix);
      if (ix.agent === this.app.username) {
        this.app.calls.set(this.id, ix);
        this.app.rememberDevice(detail.record.device);
      }
      this.app.callStates.set(this.id, detail.record.state);
      this.render();
      this.app.renderLists();
    } catch (err) {
      if (this.destroyed || err.code === "disconnected" || err.code === "offline") return;
      clear(this.body, h("p.form-error", `Could not open this call: ${errorText(err)}`));
    }
  }

  reloadSoon() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.reload(), 250);
  }

  onInteraction(ix) {
    if (this.record) this.record.interaction = ix;
    this.reloadSoon();
  }

  onCallState(frame) {
    if (this.record) {
      this.record.state = frame.state;
      this.renderHead();
    }
    this.reloadSoon();
  }

  // ------------------------------------------------------------ rendering

  render() {
    this.renderHead();
    this.renderBody();
    this.renderDetails();
  }

  renderHead() {
    const r = this.record;
    const ix = this.ix;
    if (!r || !ix) return;
    const live = LIVE_CALL.has(r.state) && ix.status !== "ended";
    const title = r.contact ? (r.contact.name || r.number) : (ix.customer.name || r.number);
    const mine = ix.agent === this.app.username && !this.preview;
    clear(this.head,
      h("div.ws-title",
        h("h2", title),
        h("p.ws-meta",
          h("span.pill.call-state", { dataset: { state: r.state } }, label(r.state)),
          h("span", KIND[r.kind] || r.kind),
          h("span", r.number),
          h("span.ws-queue", { dataset: { queue: ix.queue } }, `queue ${this.app.queueName(ix.queue)}`),
          r.answered_at && live ? h("span", "talking ", since(r.answered_at)) : null,
          r.talking != null ? h("span", `talked ${duration(r.talking)}`) : null)),
      h("div.ws-actions",
        mine && live ? h("button.danger.end-call", { type: "button", onclick: () => this.hangUp() }, "Hang up") : null));
    if (this.preview) {
      this.banner.hidden = false;
      clear(this.banner, h("span", "Preview of an incoming call — accept it to take the call."),
        this.app.offer && this.app.offer.interaction.id === this.id
          ? h("button.primary.small", { type: "button", onclick: () => this.app.acceptOffer() }, "Accept")
          : null);
    } else {
      this.banner.hidden = true;
    }
  }

  // Built once per call, then updated in place: pushes and reloads never
  // wipe a search, a typed number or a refusal the agent is reading.
  renderBody() {
    const r = this.record;
    if (!this.pane) this.build();
    const identKey = `${r.contact ? r.contact.id : ""}|${r.candidates.map((c) => c.id).join(",")}`;
    if (identKey !== this.pane.identKey) {
      this.pane.identKey = identKey;
      clear(this.pane.ident, identification(this.app, {
        interaction: this.id, record: r, number: r.number,
        defaults: { phone: r.number }, onIdentified: () => this.reload(),
      }));
    }
    clear(this.pane.steps, r.steps.length
      ? h("ol.steps", r.steps.map((s) => h("li", { dataset: { step: s.step } },
        h("time", { datetime: new Date(s.at * 1000).toISOString() }, clockSeconds(s.at)),
        h("span.step-name", STEPS[s.step] || label(s.step)),
        s.detail ? h("span.step-detail", s.detail) : null)))
      : h("p.muted", "No steps yet."));
    const journeyKey = `${r.contact ? r.contact.id : ""}|${r.state}`;
    if (journeyKey !== this.pane.journeyKey) {
      this.pane.journeyKey = journeyKey;
      const box = this.pane.journey;
      if (!r.contact) {
        clear(box, h("p.muted", "Identify the caller to see their calls and chats."));
      } else {
        journeyTable(this.app, r.contact.id, { onOpen: (e) => this.app.open(e.interaction, e.channel) })
          .then((table) => clear(box, table))
          .catch((err) => clear(box, h("p.form-error", errorText(err))));
      }
    }
  }

  build() {
    const r = this.record;
    this.pane = {
      ident: h("div.ident-box"), steps: h("div.steps-box"), journey: h("div.customer-journey"),
      facts: h("dl.facts"), identKey: null, journeyKey: null,
    };
    clear(this.body,
      h("section.call-section.ident-section", { "aria-labelledby": `ident-${this.id}` },
        h("h3", { id: `ident-${this.id}` }, "Caller identification"), this.pane.ident),
      h("div.call-columns",
        h("section.call-section", { "aria-labelledby": `journey-${this.id}` },
          h("h3", { id: `journey-${this.id}` }, "Call journey"), this.pane.steps),
        h("section.call-section", { "aria-labelledby": `cj-${this.id}` },
          h("h3", { id: `cj-${this.id}` }, "Customer journey"), this.pane.journey)));

    const result = h("select#call-result");
    this.pane.result = result;
    this.fillResults();
    const reason = h("textarea#call-reason", { rows: 2, maxlength: 1000, placeholder: "Why the call failed, if it did" });
    reason.value = r.reason || "";
    const resultForm = h("form.record-form", { "aria-label": "Call result" },
      h("label", { for: "call-result" }, "Result"), result,
      h("label", { for: "call-reason" }, "Reason"), reason,
      h("div.actions", h("button.primary.small", { type: "submit" }, "Save result")));
    resultForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await this.conn.request({ type: "set_call_result", interaction: this.id, result: result.value || null, reason: reason.value });
        toast("Call result saved.");
      } catch (err) {
        toast(`Not saved: ${errorText(err)}`, "error");
      }
    });
    clear(this.detailsEl,
      section("Call", this.pane.facts, true),
      section("Cases", casesBox(this.app, {
        interaction: this.id,
        current: () => ({ contact: this.record.contact, number: this.record.number, customer: this.ix.customer }),
        onChange: () => this.reload(),
      }), true, "cases-section"),
      section("Result", resultForm, false),
      section("Call back", callbackForm(this.app, { interaction: this.id, number: r.number }), true, "callback-section"),
      section("Schedule a call", scheduleForm(this.app, { interaction: this.id, number: r.number }), false));
  }

  onLookups() {
    this.fillResults();
  }

  fillResults() {
    if (!this.pane || !this.pane.result) return;
    const select = this.pane.result;
    const current = select.value || (this.record && this.record.result) || "";
    clear(select, h("option", { value: "" }, "— no result —"),
      this.app.lookups.results.map((o) => h("option", { value: o.id, selected: o.id === current }, o.name)));
  }

  renderDetails() {
    const r = this.record;
    const ix = this.ix;
    clear(this.pane.facts,
      h("dt", "Kind"), h("dd", KIND[r.kind] || r.kind),
      h("dt", "Number"), h("dd", r.number, r.verified ? h("span.verified", " ✓ verified") : null),
      h("dt", "Caller ID"), h("dd", r.caller_id || "—"),
      h("dt", "Device"), h("dd", r.device || "—"),
      h("dt", "Agent"), h("dd", ix.agent || "—"),
      h("dt", "Created"), h("dd", dateTime(ix.created_at)),
      h("dt", "Answered"), h("dd", r.answered_at ? dateTime(r.answered_at) : "—"),
      h("dt", "Talking"), h("dd", r.talking != null ? duration(r.talking) : "—"),
      r.result ? [h("dt", "Result"), h("dd", r.result)] : null,
      r.case ? [h("dt", "Case"), h("dd", h("button.link", { type: "button", onclick: () => this.app.openCase(r.case) }, r.case))] : null,
      r.related ? [h("dt", "Follows up"), h("dd", h("button.link", { type: "button", onclick: () => this.app.open(r.related) }, r.related))] : null);
  }

  async hangUp() {
    const ok = await confirmDialog({ title: "Hang up this call?", confirm: "Hang up", danger: true });
    if (!ok) return;
    try {
      await this.conn.request({ type: "end", interaction: this.id, reason: "agent_hangup" });
    } catch (err) {
      toast(errorText(err), "error");
    }
  }
}

// ------------------------------------------------------- device picker

// The agent's devices from its account (welcome.account), then those it used
// in this browser that the account does not list.
function devicePicker(app, idBase) {
  const own = (app.account && app.account.devices) || [];
  const known = new Set(own.map((d) => d.id));
  const devices = [...own.map((d) => ({ id: d.id, text: d.label ? `${d.label} (${d.id})` : d.id })),
    ...[...app.devices].filter((d) => !known.has(d)).map((d) => ({ id: d, text: d }))];
  const select = h("select", { id: `${idBase}-device`, name: "device" },
    devices.map((d) => h("option", { value: d.id }, d.text)),
    h("option", { value: "__other" }, devices.length ? "Other device…" : "Enter a device…"));
  const other = h("input", {
    id: `${idBase}-device-other`, name: "device_other", maxlength: 64, pattern: IDENT,
    placeholder: "Device id", "aria-label": "Device id", hidden: devices.length > 0,
  });
  select.addEventListener("change", () => {
    other.hidden = select.value !== "__other";
    if (!other.hidden) other.focus();
  });
  const value = () => (select.value === "__other" ? other.value.trim() : select.value);
  return { select, other, value };
}

// ---------------------------------------------------------------- callback

/** Call the customer of a transaction back: device, number, verified. */
export function callbackForm(app, { interaction, number = "" }) {
  const idBase = `cb-${interaction}`;
  const device = devicePicker(app, idBase);
  const num = h("input", { id: `${idBase}-number`, type: "tel", required: true, maxlength: 64, value: number });
  const verified = h("input", { id: `${idBase}-verified`, type: "checkbox" });
  const out = h("p.callback-result", { role: "alert", hidden: true });
  const button = h("button.primary.small", { type: "submit" }, "Call back");
  const form = h("form.callback-form", { "aria-label": "Call back" },
    h("label", { for: device.select.id }, "Device"), device.select, device.other,
    h("label", { for: num.id }, "Customer number"), num,
    h("label.check", verified, " Number verified"),
    h("div.actions", button), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    out.hidden = true;
    out.className = "callback-result";
    const dev = device.value();
    if (!dev) {
      showOut(out, "error", "Choose the device to ring first.");
      return;
    }
    button.disabled = true;
    try {
      const created = await app.conn.request({
        type: "place_callback", interaction, number: num.value.trim(), device: dev, verified: verified.checked,
      });
      app.rememberDevice(dev);
      showOut(out, "ok", `Calling ${num.value.trim()}: your device ${dev} rings first.`);
      app.interactions.set(created.interaction.id, created.interaction);
      app.calls.set(created.interaction.id, created.interaction);
      app.renderLists();
    } catch (err) {
      if (err.code === "refused") {
        showOut(out, "refused", refusalText(err));
        out.dataset.rule = err.details.rule || "";
      } else {
        showOut(out, "error", errorText(err));
      }
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function showOut(el, kind, text) {
  el.textContent = text;
  el.classList.add(kind);
  el.hidden = false;
}

// --------------------------------------------------------- scheduled calls

function localInputValue(ts) {
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function scheduleForm(app, { interaction, number = "" }) {
  const idBase = `sc-${interaction}`;
  const device = devicePicker(app, idBase);
  const num = h("input", { id: `${idBase}-number`, type: "tel", required: true, maxlength: 64, value: number });
  const at = h("input", { id: `${idBase}-at`, type: "datetime-local", required: true, value: localInputValue(app.conn.now() + 3600) });
  const queue = h("input", { id: `${idBase}-queue`, maxlength: 64, placeholder: "optional", pattern: IDENT });
  const out = h("p.form-error", { role: "alert", hidden: true });
  const list = h("ul.scheduled-list");
  const renderList = () => {
    const rows = [...app.scheduled.values()].filter((s) => s.status === "pending");
    clear(list, rows.map((s) => h("li",
      h("span", `${dateTime(s.at)} · ${s.number}`),
      h("button.link.small", {
        type: "button",
        onclick: async () => {
          try {
            const reply = await app.conn.request({ type: "cancel_scheduled_call", scheduled: s.id });
            app.scheduled.set(s.id, reply.call);
            renderList();
            toast("Scheduled call canceled.");
          } catch (err) {
            toast(errorText(err), "error");
          }
        },
      }, "Cancel"))));
  };
  const form = h("form.schedule-form", { "aria-label": "Schedule a call" },
    h("label", { for: num.id }, "Number"), num,
    h("label", { for: at.id }, "When"), at,
    h("label", { for: device.select.id }, "Device"), device.select, device.other,
    h("label", { for: queue.id }, "Queue if you are busy then"), queue,
    h("div.actions", h("button.primary.small", { type: "submit" }, "Schedule")), out, list);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    out.hidden = true;
    const when = new Date(at.value).getTime() / 1000 - (Date.now() / 1000 - app.conn.now());
    const frame = { type: "schedule_call", number: num.value.trim(), at: when, device: device.value(), interaction };
    if (queue.value.trim()) frame.queue = queue.value.trim();
    try {
      const reply = await app.conn.request(frame);
      app.scheduled.set(reply.call.id, reply.call);
      toast(`Call to ${reply.call.number} scheduled for ${dateTime(reply.call.at)}.`);
      renderList();
    } catch (err) {
      out.textContent = err.code === "refused" ? refusalText(err) : errorText(err);
      out.hidden = false;
    }
  });
  renderList();
  return form;
}
