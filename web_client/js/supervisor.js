// The supervisor's dashboard: live queues and agents, agent status, chat
// history, cases, templates, queue and case settings, accounts and API keys.

import {
  $, $$, h, clear, sync, label, since, toast, errorText, duration, confirmDialog, modal, IDENT,
} from "./dom.js";
import { chatSearch } from "./history.js";
import { openRecord, agentCalls } from "./sv_records.js";
import { supervisorCases, caseSettings } from "./sv_cases.js";

const REASONS = ["break", "lunch", "training", "meeting", "after_call_work", "other"];

export class SupervisorApp {
  constructor(conn) {
    this.conn = conn;
    this.role = "supervisor";
    this.agents = new Map(); // username -> AgentView
    this.queues = new Map(); // queue -> QueueStats (+ received_at)
    this.queueNames = new Map();
    this.agentRows = new Map();
    this.queueRows = new Map();
    this.unsubs = [
      conn.on("agent_state", (f) => this.onAgent(f.agent)),
      conn.on("queue_stats", (f) => { this.onQueues(f.queues); this.loadWaiting(); }),
    ];
    $("#supervisor-view").hidden = false;
    this.buildTabs();
    this.buildDashboard();
    this.buildHistory();
    this.cases = supervisorCases(this);
    this.buildTemplates();
    this.buildQueues();
    this.caseSettings = caseSettings(this, () => this.cases.reload());
    this.buildAccounts();
    this.buildKeys();
    this._waitTimer = setInterval(() => this.tickWaits(), 1000);
  }

  destroy() {
    for (const off of this.unsubs) off();
    clearInterval(this._waitTimer);
    this.cases.destroy();
    for (const tab of $$("[role=tab]", $("#supervisor-view"))) tab.replaceWith(tab.cloneNode(true));
    for (const id of ["dashboard", "history", "cases", "templates", "queues", "case-settings", "accounts", "keys"]) {
      clear($(`#panel-${id}`));
    }
  }

  get username() {
    return this.conn.principal;
  }

  /** A chat or call, with the record a supervisor may correct. */
  showRecord(interaction) {
    return openRecord(this, interaction);
  }

  /** A journey's "Open" (contacts.js) shows the record. */
  open(interaction) {
    return this.showRecord(interaction);
  }

  queueName(id) {
    return this.queueNames.get(id) || id;
  }

  /** A case's page in the Cases tab (case links elsewhere call this). */
  openCase(number) {
    return this.cases.open(number);
  }

  /** A case page closes itself once a status with close_on_save is saved. */
  closeCase(number) {
    this.cases.close(number);
  }

  async onWelcome() {
    try {
      const dash = await this.conn.request({ type: "watch" });
      this.agents.clear();
      this.queues.clear();
      for (const a of dash.agents) this.agents.set(a.username, a);
      for (const q of dash.queues) this.queues.set(q.queue, { ...q, received_at: this.conn.now() });
      this.renderAgents();
      this.renderQueues();
      this.loadWaiting();
    } catch (err) {
      toast(`Live dashboard unavailable: ${errorText(err)}`, "error");
    }
    this.loadConfig();
    this.loadTemplates();
    this.caseSettings.load();
    this.cases.reload();
  }

  resync() {
    this.onWelcome();
  }

  // ------------------------------------------------------------------ tabs

  buildTabs() {
    const tabs = $$("[role=tab]", $("#supervisor-view"));
    this.selectTab = (name) => select(tabs.find((t) => t.id === `tab-${name}`));
    const select = (tab, focus = false) => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        $(`#${t.getAttribute("aria-controls")}`).hidden = !on;
      }
      if (focus) tab.focus();
    };
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => select(tab));
      tab.addEventListener("keydown", (e) => {
        const move = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
        if (move) select(tabs[(i + move + tabs.length) % tabs.length], true);
        if (e.key === "Home") select(tabs[0], true);
        if (e.key === "End") select(tabs[tabs.length - 1], true);
      });
    });
    select(tabs[0]);
  }

  // ------------------------------------------------------------- dashboard

  buildDashboard() {
    this.queueBody = h("tbody");
    this.agentBody = h("tbody");
    clear($("#panel-dashboard"),
      h("section.dash-section", { "aria-labelledby": "dash-queues" },
        h("h2#dash-queues", "Queues"),
        h("table.data.queues-table",
          h("thead", h("tr", ["Queue", "Waiting", "Oldest wait", "Offered", "Active", "Ready agents"].map((t) => h("th", { scope: "col" }, t)))),
          this.queueBody)),
      h("section.dash-section", { "aria-labelledby": "dash-agents" },
        h("h2#dash-agents", "Agents"),
        h("table.data.agents-table",
          h("thead", h("tr", ["Agent", "Status", "State", "Time in state", "Current interaction", "Connection", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
          this.agentBody)));
  }

  onAgent(agent) {
    this.agents.set(agent.username, agent);
    this.renderAgent(agent);
  }

  onQueues(queues) {
    const now = this.conn.now();
    for (const q of queues) {
      this.queues.set(q.queue, { ...q, received_at: now });
      this.renderQueue(this.queues.get(q.queue));
    }
  }

  renderQueues() {
    clear(this.queueBody);
    this.queueRows.clear();
    for (const q of [...this.queues.values()].sort((a, b) => a.queue.localeCompare(b.queue))) this.renderQueue(q);
  }

  renderQueue(q) {
    let row = this.queueRows.get(q.queue);
    if (!row) {
      row = h("tr", { dataset: { queue: q.queue } },
        h("th.q-name", { scope: "row" }), h("td.q-waiting.num"), h("td.q-oldest.num"), h("td.q-offered.num"),
        h("td.q-active.num"), h("td.q-ready.num"));
      this.queueRows.set(q.queue, row);
      const rows = [...this.queueRows.keys()].sort();
      const next = this.queueRows.get(rows[rows.indexOf(q.queue) + 1]);
      this.queueBody.insertBefore(row, next || null);
    }
    const name = this.queueNames.get(q.queue);
    $(".q-name", row).textContent = name && name !== q.queue ? `${name} (${q.queue})` : q.queue;
    $(".q-waiting", row).textContent = String(q.waiting);
    $(".q-offered", row).textContent = String(q.offered);
    $(".q-active", row).textContent = String(q.active);
    $(".q-ready", row).textContent = String(q.ready_agents);
    row.classList.toggle("has-waiting", q.waiting > 0);
    this.tickWait(q, row);
  }

  tickWait(q, row) {
    const oldest = q.waiting ? q.oldest_wait + (this.conn.now() - q.received_at) : 0;
    $(".q-oldest", row).textContent = q.waiting ? duration(oldest) : "—";
  }

  tickWaits() {
    for (const [id, row] of this.queueRows) this.tickWait(this.queues.get(id), row);
  }

  renderAgents() {
    clear(this.agentBody);
    this.agentRows.clear();
    for (const a of [...this.agents.values()].sort((x, y) => x.username.localeCompare(y.username))) this.renderAgent(a);
  }

  renderAgent(a) {
    let row = this.agentRows.get(a.username);
    if (!row) {
      const change = h("button.small.change-status", { type: "button" }, "Change status…");
      change.addEventListener("click", () => this.changeStatus(this.agents.get(a.username)));
      const reassign = h("button.small.reassign", { type: "button" }, "Reassign…");
      reassign.addEventListener("click", () => this.reassign(this.agents.get(a.username)));
      const end = h("button.small.danger-outline.end-interaction", { type: "button" }, "End");
      const calls = h("button.small.agent-calls", { type: "button", "aria-label": `Calls of ${a.username}` }, "Calls…");
      calls.addEventListener("click", () => agentCalls(this, a.username));
      end.addEventListener("click", () => this.endInteraction(this.agents.get(a.username)));
      row = h("tr", { dataset: { agent: a.username } },
        h("th.a-name", { scope: "row" }), h("td.a-status"), h("td.a-state"), h("td.a-time"),
        h("td.a-interaction"), h("td.a-conn"), h("td.a-actions", h("div.inline", change, calls, reassign, end)));
      this.agentRows.set(a.username, row);
      const names = [...this.agentRows.keys()].sort();
      const next = this.agentRows.get(names[names.indexOf(a.username) + 1]);
      this.agentBody.insertBefore(row, next || null);
    }
    row.dataset.status = a.status;
    row.dataset.state = a.state;
    clear($(".a-name", row), a.display_name || a.username, h("span.muted.small", ` ${a.username}`));
    clear($(".a-status", row), h("span.pill", { dataset: { state: a.status } },
      a.status === "not_ready" ? `Not ready: ${label(a.reason || "—")}` : label(a.status)));
    clear($(".a-state", row), h("span.pill", { dataset: { state: a.state } }, label(a.state)));
    clear($(".a-time", row), since(a.since));
    const current = a.interaction || a.offer;
    clear($(".a-interaction", row), current
      ? (a.interaction
        ? h("button.link.small", { type: "button", onclick: () => this.showRecord(a.interaction) }, a.interaction)
        : h("span", `offered ${a.offer}`))
      : h("span.muted", "—"));
    clear($(".a-conn", row), a.connected ? "connected" : h("span.muted", "disconnected"));
    for (const btn of [$(".reassign", row), $(".end-interaction", row)]) {
      btn.hidden = !a.interaction;
      btn.setAttribute("aria-label", `${btn.textContent.replace("…", "")} ${a.username}'s interaction`);
    }
  }

  changeStatus(agent) {
    const status = h("select#sv-status", ["ready", "not_ready", "offline"].map((s) => h("option", { value: s, selected: s === agent.status }, label(s))));
    const reason = h("input#sv-reason", { list: "sv-reasons", maxlength: 64, value: agent.reason || "" });
    const form = h("form.status-form",
      h("p", `Change the status of ${agent.display_name || agent.username}. Not ready takes effect for new work only.`),
      h("label", { for: "sv-status" }, "Status"), status,
      h("label", { for: "sv-reason" }, "Reason (when not ready)"), reason,
      h("datalist#sv-reasons", REASONS.map((r) => h("option", { value: r }))),
      h("div.actions", h("button.primary", { type: "submit" }, "Apply")));
    const dialog = modal(`Status of ${agent.username}`, form);
    status.focus();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await this.conn.request({
          type: "set_agent_status", agent: agent.username, status: status.value,
          reason: status.value === "not_ready" ? reason.value.trim() : "",
        });
        dialog.close();
        toast(`${agent.username} is now ${label(status.value)}.`);
      } catch (err) {
        toast(errorText(err), "error");
      }
    });
  }

  /** Free for work given by hand: what the server checks too (it has the last word). */
  static freeFor(a) {
    if (!a.connected) return "offline";
    if (a.status !== "ready") return label(a.status);
    if (a.state !== "idle") return label(a.state);
    return "";
  }

  reassign(agent) {
    if (!agent.interaction) return;
    this.reassignDialog(agent.interaction, agent);
  }

  /** Give interaction ``ix`` to a free agent; with ``agent`` (who has it) back to its queue too. */
  reassignDialog(ix, agent = null, what = "") {
    const others = [...this.agents.values()].filter((x) => !agent || x.username !== agent.username)
      .sort((x, y) => x.username.localeCompare(y.username));
    const toQueue = h("input#rs-queue", { type: "radio", name: "rs-where", value: "queue", checked: !!agent });
    const toAgent = h("input#rs-agent", { type: "radio", name: "rs-where", value: "agent", checked: !agent });
    const pick = h("select#rs-target", { "aria-label": "Agent", disabled: !!agent },
      others.map((x) => {
        const busy = SupervisorApp.freeFor(x);
        return h("option", { value: x.username },
          `${x.display_name || x.username} (${x.username})${busy ? ` — ${busy}` : " — free"}`);
      }));
    const first = others.find((x) => !SupervisorApp.freeFor(x));
    if (first) pick.value = first.username;
    for (const r of [toQueue, toAgent]) r.addEventListener("change", () => { pick.disabled = !toAgent.checked; });
    const error = h("p.form-error", { role: "alert", hidden: true });
    const form = h("form.reassign-form",
      h("p", agent
        ? `Take interaction ${ix} from ${agent.display_name || agent.username}. `
          + `${agent.username} is told and goes to wrap-up as the queue says.`
        : `Offer interaction ${ix}${what ? ` (${what})` : ""} at once to an agent, ahead of its queue. `
          + "If they decline or let the offer time out, it waits in its queue again."),
      h("fieldset",
        h("legend", "Give it to"),
        agent ? h("label.check", toQueue, " its queue (first in line, for the next free agent)") : null,
        agent ? h("label.check", toAgent, " an agent who is ready and free:") : h("label", { for: "rs-target" }, "An agent who is ready and free:"),
        pick),
      error,
      h("div.actions", h("button.primary", { type: "submit" }, "Reassign")));
    const dialog = modal(agent ? `Reassign ${agent.username}'s interaction` : `Reassign interaction ${ix}`, form);
    (agent ? toQueue : pick).focus();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.hidden = true;
      const frame = { type: "reassign", interaction: ix };
      if (toAgent.checked) frame.agent = pick.value;
      try {
        await this.conn.request(frame);
        dialog.close();
        toast(toAgent.checked ? `Interaction ${ix} offered to ${pick.value}.` : `Interaction ${ix} is back in its queue.`);
        this.loadWaiting();
      } catch (err) {
        error.textContent = errorText(err);
        error.hidden = false;
      }
    });
  }

  async endInteraction(agent) {
    if (!agent.interaction) return;
    await this.endDialog(agent.interaction, `End ${agent.username}'s interaction?`);
  }

  async endDialog(ix, title) {
    const ok = await confirmDialog({
      title,
      body: "The customer is disconnected (a call is hung up) and the interaction is completed in your name.",
      confirm: "End it", danger: true,
    });
    if (!ok) return;
    try {
      await this.conn.request({ type: "end_interaction", interaction: ix });
      toast(`Interaction ${ix} ended.`);
      this.loadWaiting();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  // --------------------------------------------------------------- history

  buildHistory() {
    clear($("#panel-history"), h("h2", "Chat history"),
      chatSearch(this.conn, { agentField: true, onOpen: (r) => this.showRecord(r.interaction.id) }));
  }

  // ------------------------------------------------------------- templates

  buildTemplates() {
    this.templateList = h("tbody");
    const f = {
      id: h("input#tpl-id", { required: true, maxlength: 64, pattern: IDENT }),
      name: h("input#tpl-name", { required: true, maxlength: 256 }),
      text: h("textarea#tpl-text", { required: true, maxlength: 4096, rows: 4 }),
    };
    this.templateForm = f;
    const form = h("form.template-form", { "aria-label": "Template" },
      h("h3", "Add or replace a template"),
      h("label", { for: "tpl-id" }, "Id"), f.id,
      h("label", { for: "tpl-name" }, "Name"), f.name,
      h("label", { for: "tpl-text" }, "Text"), f.text,
      h("div.actions", h("button", { type: "reset" }, "Clear"), h("button.primary", { type: "submit" }, "Save template")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const template = { id: f.id.value.trim(), name: f.name.value.trim(), text: f.text.value };
      try {
        await this.conn.request({ type: "put_template", template });
        toast(`Template ${template.name} saved.`);
        form.reset();
        this.loadTemplates();
      } catch (err) {
        toast(errorText(err), "error");
      }
    });
    clear($("#panel-templates"),
      h("h2", "Quick-reply templates"),
      h("div.two-cols",
        h("table.data.templates-table",
          h("thead", h("tr", ["Name", "Text", "Id", ""].map((t) => h("th", { scope: "col" }, t)))),
          this.templateList),
        form));
  }

  async loadTemplates() {
    try {
      const lookups = await this.conn.request({ type: "get_lookups" });
      clear(this.templateList, lookups.templates.length ? lookups.templates.map((t) => h("tr", { dataset: { template: t.id } },
        h("th", { scope: "row" }, t.name), h("td.tpl-text", t.text), h("td", h("code", t.id)),
        h("td", h("div.inline",
          h("button.small", { type: "button", onclick: () => this.editTemplate(t) }, "Edit"),
          h("button.small.danger-outline", { type: "button", onclick: () => this.deleteTemplate(t) }, "Delete")))))
        : h("tr", h("td.muted", { colspan: 4 }, "No templates yet.")));
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  editTemplate(t) {
    const f = this.templateForm;
    f.id.value = t.id;
    f.name.value = t.name;
    f.text.value = t.text;
    f.name.focus();
  }

  async deleteTemplate(t) {
    if (!(await confirmDialog({ title: `Delete template “${t.name}”?`, confirm: "Delete", danger: true }))) return;
    try {
      await this.conn.request({ type: "delete_template", template: t.id });
      toast("Template deleted.");
      this.loadTemplates();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  // ---------------------------------------------------------------- queues

  buildQueues() {
    this.queueConfigBody = h("tbody");
    this.waitingBody = h("tbody");
    clear($("#panel-queues"),
      h("div.panel-head", h("h2", "Queues"),
        h("button.primary.small", { type: "button", onclick: () => this.editQueue(null) }, "New queue")),
      h("table.data.queue-config-table",
        h("thead", h("tr", ["Queue", "Channel", "Skills", "Strategy", "Offer timeout", "Wrap-up", "Max wait", "Overflow", "Priority", ""]
          .map((t) => h("th", { scope: "col" }, t)))),
        this.queueConfigBody),
      h("section.dash-section", { "aria-labelledby": "waiting-head" },
        h("div.panel-head", h("h2#waiting-head", "Waiting"),
          h("button.small.refresh-waiting", { type: "button", onclick: () => this.loadWaiting() }, "Refresh")),
        h("table.data.waiting-table",
          h("thead", h("tr", ["Customer", "Queue", "Waited", "Status", "Interaction", ""].map((t) => h("th", { scope: "col" }, t)))),
          this.waitingBody)));
  }

  /** The interactions no agent has yet; one request at a time, the last change wins. */
  async loadWaiting() {
    if (this._waitingBusy) {
      this._waitingAgain = true;
      return;
    }
    this._waitingBusy = true;
    try {
      do {
        this._waitingAgain = false;
        const reply = await this.conn.request({ type: "list_waiting" });
        this.renderWaiting(reply.interactions);
      } while (this._waitingAgain);
    } catch (err) {
      toast(`Waiting interactions unavailable: ${errorText(err)}`, "error");
    } finally {
      this._waitingBusy = false;
    }
  }

  // sync, not clear: the list refreshes on every routing push, and a row
  // rebuilt under the pointer loses the click on its Reassign or End button.
  // For an unchanged row to compare equal, its start is the one first seen
  // (now - waited moves by each reply's delay) and the waited times shown are
  // brought to the same instant the new rows are drawn at.
  renderWaiting(items) {
    const now = this.conn.now();
    const starts = new Map(items.map(({ interaction: ix, waited }) =>
      [ix.id, this.waitingStarts?.get(ix.id) ?? now - waited]));
    this.waitingStarts = starts;
    for (const el of this.waitingBody.querySelectorAll(".w-waited .elapsed")) {
      el.textContent = duration(now - Number(el.dataset.since));
    }
    sync(this.waitingBody, items.length ? items.map(({ interaction: ix }) => {
      const who = ix.customer.name || ix.customer.phone || ix.customer.email || ix.customer.external_id || "—";
      const queue = this.queueNames.get(ix.queue);
      return h("tr", { dataset: { interaction: ix.id, status: ix.status } },
        h("th.w-customer", { scope: "row" }, who),
        h("td.w-queue", queue && queue !== ix.queue ? `${queue} (${ix.queue})` : ix.queue),
        h("td.w-waited.num", h("span.elapsed", { dataset: { since: String(starts.get(ix.id)) } },
          duration(now - starts.get(ix.id)))),
        h("td.w-status", h("span.pill", { dataset: { state: ix.status } }, ix.status === "assigning" ? "Offered" : label(ix.status))),
        h("td.w-id", h("code", ix.id)),
        h("td", h("div.inline",
          h("button.small.reassign", { type: "button", "aria-label": `Reassign ${who}'s ${ix.channel}`,
            onclick: () => this.reassignDialog(ix.id, null, `${who}, ${ix.channel} in ${ix.queue}`) }, "Reassign…"),
          h("button.small.danger-outline.end-interaction", { type: "button", "aria-label": `End ${who}'s ${ix.channel}`,
            onclick: () => this.endDialog(ix.id, `End ${who}'s ${ix.channel}?`) }, "End"))));
    }) : h("tr", h("td.muted", { colspan: 6 }, "Nothing is waiting.")));
  }

  async loadConfig() {
    try {
      const config = await this.conn.request({ type: "get_config" });
      this.config = config;
      this.renderAccounts(config.agents);
      this.renderKeys(config.api_keys);
      for (const q of config.queues) this.queueNames.set(q.id, q.name || q.id);
      for (const [id, row] of this.queueRows) this.renderQueue(this.queues.get(id), row);
      clear(this.queueConfigBody, config.queues.map((q) => h("tr", { dataset: { queue: q.id } },
        h("th", { scope: "row" }, q.name ? `${q.name} (${q.id})` : q.id),
        h("td", q.channel),
        h("td", Object.entries(q.skills).map(([k, v]) => `${k} ≥ ${v}`).join(", ") || "—"),
        h("td", label(q.strategy)),
        h("td.num", `${q.offer_timeout} s`),
        h("td.num", `${q.wrap_up} s`),
        h("td.num", q.max_wait ? `${q.max_wait} s` : "no limit"),
        h("td", q.overflow || "missed"),
        h("td.num", String(q.priority)),
        h("td", h("div.inline",
          h("button.small", { type: "button", onclick: () => this.editQueue(q) }, "Edit"),
          h("button.small.danger-outline", { type: "button", onclick: () => this.deleteQueue(q) }, "Delete"))))));
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  editQueue(q) {
    const isNew = !q;
    q = q || { id: "", name: "", channel: "chat", skills: {}, strategy: "longest_idle", offer_timeout: 20, wrap_up: 0, max_wait: 0, overflow: null, priority: 0 };

    const f = {
      id: h("input#qf-id", { required: true, pattern: IDENT, value: q.id, readonly: isNew ? null : true }),
      name: h("input#qf-name", { value: q.name }),
      channel: h("select#qf-channel", ["chat", "call"].map((c) => h("option", { value: c, selected: c === q.channel }, c))),
      skills: h("input#qf-skills", { value: Object.entries(q.skills).map(([k, v]) => `${k}=${v}`).join(", "), placeholder: "support=3, sales=1" }),
      strategy: h("select#qf-strategy", ["longest_idle", "round_robin", "skill_level"].map((s) => h("option", { value: s, selected: s === q.strategy }, label(s)))),
      offer_timeout: h("input#qf-offer", { type: "number", min: 1, max: 600, step: "any", value: String(q.offer_timeout) }),
      wrap_up: h("input#qf-wrap", { type: "number", min: 0, max: 86400, step: "any", value: String(q.wrap_up) }),
      max_wait: h("input#qf-maxwait", { type: "number", min: 0, max: 86400, step: "any", value: String(q.max_wait) }),
      overflow: h("input#qf-overflow", { pattern: IDENT, value: q.overflow || "", placeholder: "none: missed" }),
      priority: h("input#qf-priority", { type: "number", min: 0, max: 100, value: String(q.priority) }),
    };
    const row = (k, text) => [h("label", { for: f[k].id }, text), f[k]];
    const error = h("p.form-error", { role: "alert", hidden: true });
    const form = h("form.queue-form.grid-form",
      row("id", "Id"), row("name", "Name"), row("channel", "Channel"), row("skills", "Required skills"),
      row("strategy", "Strategy"), row("offer_timeout", "Offer timeout (s)"), row("wrap_up", "Wrap-up (s)"),
      row("max_wait", "Max wait (s), 0 = none"), row("overflow", "Overflow queue"), row("priority", "Priority"),
      error, h("div.actions", h("button.primary", { type: "submit" }, "Save queue")));
    const dialog = modal(isNew ? "New queue" : `Queue ${q.id}`, form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.hidden = true;
      const skills = {};
      for (const part of f.skills.value.split(",").map((s) => s.trim()).filter(Boolean)) {
        const [k, v] = part.split("=").map((s) => s.trim());
        skills[k] = Number(v || 1);
      }
      const queue = {
        id: f.id.value.trim(), name: f.name.value.trim(), channel: f.channel.value, skills,
        strategy: f.strategy.value, offer_timeout: Number(f.offer_timeout.value), wrap_up: Number(f.wrap_up.value),
        max_wait: Number(f.max_wait.value), overflow: f.overflow.value.trim() || null, priority: Number(f.priority.value),
      };
      try {
        await this.conn.request({ type: "put_queue", queue });
        dialog.close();
        toast(`Queue ${queue.id} saved.`);
        this.loadConfig();
      } catch (err) {
        error.textContent = errorText(err);
        error.hidden = false;
      }
    });
  }

  async deleteQueue(q) {
    if (!(await confirmDialog({ title: `Delete queue ${q.id}?`, body: "Agents stop serving it at once.", confirm: "Delete", danger: true }))) return;
    try {
      await this.conn.request({ type: "delete_queue", queue: q.id });
      toast(`Queue ${q.id} deleted.`);
      this.loadConfig();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  // -------------------------------------------------------------- accounts

  buildAccounts() {
    this.accountBody = h("tbody");
    clear($("#panel-accounts"),
      h("div.panel-head", h("h2", "Accounts"),
        h("button.primary.small", { type: "button", onclick: () => this.editAccount(null) }, "New account")),
      h("table.data.accounts-table",
        h("thead", h("tr", ["Account", "Role", "Skills", "Channels", "Inboxes", "Extension", "Devices", ""]
          .map((t) => h("th", { scope: "col" }, t)))),
        this.accountBody));
  }

  renderAccounts(agents) {
    clear(this.accountBody, agents.map((a) => h("tr", { dataset: { account: a.username } },
      h("th", { scope: "row" }, a.display_name || a.username, h("span.muted.small", ` ${a.username}`)),
      h("td", a.role),
      h("td", Object.entries(a.skills).map(([k, v]) => `${k} ${v}`).join(", ") || "—"),
      h("td", a.role === "agent" ? a.channels.join(", ") : "—"),
      h("td", a.inboxes.join(", ") || "—"),
      h("td", a.extension || "—"),
      h("td", a.devices.map((d) => d.label ? `${d.id} (${d.label})` : d.id).join(", ") || "—"),
      h("td", h("div.inline",
        h("button.small", { type: "button", onclick: () => this.editAccount(a) }, "Edit"),
        a.username === this.conn.principal ? null
          : h("button.small.danger-outline", { type: "button", onclick: () => this.deleteAccount(a) }, "Delete"))))));
  }

  editAccount(a) {
    const isNew = !a;
    a = a || { username: "", display_name: "", role: "agent", skills: {}, channels: ["chat", "call"], extension: null, devices: [], inboxes: [] };
    const f = {
      username: h("input#af-username", { required: true, pattern: IDENT, value: a.username, readonly: isNew ? null : true, autocomplete: "off" }),
      display_name: h("input#af-name", { value: a.display_name }),
      role: h("select#af-role", ["agent", "supervisor"].map((r) => h("option", { value: r, selected: r === a.role }, r))),
      skills: h("input#af-skills", { value: Object.entries(a.skills).map(([k, v]) => `${k}=${v}`).join(", "), placeholder: "support=5, sales=2" }),
      inboxes: h("input#af-inboxes", { value: a.inboxes.join(", "), placeholder: "support, calls" }),
      extension: h("input#af-ext", { value: a.extension || "" }),
      devices: h("textarea#af-devices", { rows: 2, placeholder: "id | label | address, one a line" }),
      password: h("input#af-password", { type: "password", minlength: 8, maxlength: 256, autocomplete: "new-password", required: isNew }),
    };
    f.devices.value = a.devices.map((d) => [d.id, d.label, d.address].join(" | ")).join("\n");
    const chat = h("input", { type: "checkbox", checked: a.channels.includes("chat") });
    const call = h("input", { type: "checkbox", checked: a.channels.includes("call") });
    const row = (k, text) => [h("label", { for: f[k].id }, text), f[k]];
    const error = h("p.form-error", { role: "alert", hidden: true });
    const form = h("form.account-form.grid-form",
      row("username", "Username"), row("display_name", "Display name"), row("role", "Role"),
      row("skills", "Skills (1–10)"),
      h("span.label-like", "Channels"), h("div.inline", h("label.check", chat, " chat"), h("label.check", call, " call")),
      row("inboxes", "Inboxes"), row("extension", "Extension"), row("devices", "Devices"),
      row("password", isNew ? "Password" : "New password (optional)"),
      error, h("div.actions", h("button.primary", { type: "submit" }, "Save account")));
    const dialog = modal(isNew ? "New account" : `Account ${a.username}`, form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.hidden = true;
      const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
      const skills = {};
      for (const part of list(f.skills.value)) {
        const [k, v] = part.split("=").map((x) => x.trim());
        skills[k] = Number(v || 1);
      }
      const devices = f.devices.value.split("\n").map((l) => l.trim()).filter(Boolean).map((line) => {
        const [id, label = "", address = ""] = line.split("|").map((x) => x.trim());
        return { id, label, address };
      });
      const agent = {
        username: f.username.value.trim(), display_name: f.display_name.value.trim(), role: f.role.value,
        skills, channels: [chat.checked ? "chat" : null, call.checked ? "call" : null].filter(Boolean),
        extension: f.extension.value.trim() || null, devices, inboxes: list(f.inboxes.value),
      };
      const frame = { type: "put_agent", agent };
      if (f.password.value) frame.password = f.password.value;
      try {
        await this.conn.request(frame);
        dialog.close();
        toast(`Account ${agent.username} saved.`);
        this.loadConfig();
      } catch (err) {
        error.textContent = errorText(err);
        error.hidden = false;
      }
    });
  }

  async deleteAccount(a) {
    if (!(await confirmDialog({ title: `Delete account ${a.username}?`, confirm: "Delete", danger: true }))) return;
    try {
      await this.conn.request({ type: "delete_agent", username: a.username });
      toast(`Account ${a.username} deleted.`);
      this.loadConfig();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  // -------------------------------------------------------------- API keys

  buildKeys() {
    this.keyBody = h("tbody");
    const f = {
      id: h("input#kf-id", { required: true, pattern: IDENT }),
      name: h("input#kf-name"),
      role: h("select#kf-role", ["bot", "gateway"].map((r) => h("option", { value: r }, r))),
      source: h("select#kf-source", ["webchat", "telegram", "whatsapp", "viber", "messenger", "other"].map((x) => h("option", { value: x }, x))),
      queues: h("input#kf-queues", { placeholder: "support, sales" }),
    };
    const row = (k, text) => [h("label", { for: f[k].id }, text), f[k]];
    const form = h("form.key-form.grid-form", { "aria-label": "New API key" },
      h("h3.span-all", "New API key"),
      row("id", "Id"), row("name", "Name"), row("role", "Role"), row("source", "Source (bots)"), row("queues", "Queues"),
      h("div.actions", h("button.primary", { type: "submit" }, "Create key")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const key = {
        id: f.id.value.trim(), name: f.name.value.trim(), role: f.role.value, source: f.source.value,
        queues: f.queues.value.split(",").map((x) => x.trim()).filter(Boolean),
      };
      try {
        const created = await this.conn.request({ type: "create_api_key", key });
        form.reset();
        this.loadConfig();
        const secret = h("input.secret", { readonly: true, value: created.api_key, "aria-label": "API key" });
        modal(`API key ${created.key_id}`, h("div.key-secret",
          h("p", "Copy this key now: it is shown only once, the server keeps only its hash."), secret));
        secret.select();
      } catch (err) {
        toast(errorText(err), "error");
      }
    });
    clear($("#panel-keys"), h("h2", "API keys"),
      h("div.two-cols",
        h("table.data.keys-table",
          h("thead", h("tr", ["Key", "Role", "Source", "Queues", ""].map((t) => h("th", { scope: "col" }, t)))),
          this.keyBody),
        form));
  }

  renderKeys(keys) {
    clear(this.keyBody, keys.map((k) => h("tr", { dataset: { key: k.id } },
      h("th", { scope: "row" }, k.name ? `${k.name} (${k.id})` : k.id),
      h("td", k.role), h("td", k.role === "bot" ? k.source : "—"), h("td", k.queues.join(", ") || "—"),
      h("td", h("button.small.danger-outline", { type: "button", onclick: () => this.deleteKey(k) }, "Delete")))));
  }

  async deleteKey(k) {
    if (!(await confirmDialog({ title: `Delete API key ${k.id}?`, body: "Its bot or gateway can no longer sign in.", confirm: "Delete", danger: true }))) return;
    try {
      await this.conn.request({ type: "delete_api_key", key_id: k.id });
      toast(`Key ${k.id} deleted.`);
      this.loadConfig();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }
}
