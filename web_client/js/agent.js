// The agent's workplace: presence, invitations, the lists and the panels.

import {
  $, h, clear, sync, markCurrent, label, since, until, customerName, toast, errorText, beep, notify,
  askNotifications, clock, modal, setSince,
} from "./dom.js";
import { ChatPanel } from "./chat.js";
import { CallPanel } from "./call.js";
import { chatSearch } from "./history.js";
import { CasePanel } from "./case_page.js";
import { CaseQueuePanel, myCasesList } from "./case_queue.js";
import { myCallsList } from "./mycalls.js";

const CALL_KIND = { callback: "Callback", outbound: "Outbound call", scheduled: "Scheduled call" };

export class AgentApp {
  constructor(conn) {
    this.conn = conn;
    this.role = "agent";
    this.me = null;
    this.offer = null;
    this.interactions = new Map(); // id -> latest InteractionView
    this.calls = new Map(); // calls of this session, id -> InteractionView
    this.callStates = new Map(); // id -> call state
    this.chatList = { active: [], closed: [] };
    this.lookups = { templates: [], results: [] };
    this.scheduled = new Map(); // scheduled calls made in this session
    this.unread = new Map();
    this.panel = null;
    this.devices = this._loadDevices();
    this.account = null; // welcome.account: devices, skills, inboxes
    this.queueNames = new Map(); // welcome.queues: id -> name
    this._listTimer = null;

    this.unsubs = [
      conn.on("agent_state", (f) => this.onAgentState(f.agent)),
      conn.on("offer", (f) => this.onOffer(f)),
      conn.on("offer_closed", (f) => this.onOfferClosed(f)),
      conn.on("interaction", (f) => this.onInteraction(f.interaction)),
      conn.on("message", (f) => this.onMessage(f.message)),
      conn.on("call_state", (f) => this.onCallState(f)),
      conn.on("reassigned", (f) => this.onReassigned(f)),
    ];
    this._wirePresence();
    this._onHistory = () => this.openHistory();
    $("#history-btn").addEventListener("click", this._onHistory);
    this._onCaseQueue = () => this.openCaseQueue();
    $("#case-queue-btn").addEventListener("click", this._onCaseQueue);
    this.myCases = myCasesList(this);
    this.myCalls = myCallsList(this); // scheduled and recent calls
    $("#presence").hidden = false;
    $("#agent-view").hidden = false;
    this.renderWorkspaceEmpty();
  }

  get username() {
    return this.conn.principal;
  }

  /** A queue's name from the welcome (the id when it is not one of mine). */
  queueName(id) {
    return this.queueNames.get(id) || id;
  }

  destroy() {
    for (const off of this.unsubs) off();
    for (const [el, type, fn] of this._listeners || []) el.removeEventListener(type, fn);
    $("#history-btn").removeEventListener("click", this._onHistory);
    $("#case-queue-btn").removeEventListener("click", this._onCaseQueue);
    this.myCases.stop();
    if (this.panel) this.panel.destroy();
    this.panel = null;
    clear($("#workspace"));
    clear($("#details"));
    clear($("#active-list"));
    clear($("#closed-list"));
    this.myCalls.stop();
    clearTimeout(this._listTimer);
  }

  /** Signing out: go offline first, so routing does not wait for the grace period. */
  async beforeLogout() {
    if (this.me && this.me.status !== "offline" && this.conn.state === "online") {
      try {
        await this.conn.request({ type: "set_status", status: "offline" }, { timeout: 3000 });
      } catch {
        /* signing out anyway */
      }
    }
  }

  // ------------------------------------------------------------- snapshot

  onWelcome(welcome) {
    const fresh = !welcome.resumed || welcome.replay_gap;
    if (fresh) {
      this.interactions.clear();
      this.offer = null;
      this._caseLookups = null;
    }
    this.account = welcome.account || null;
    this.queueNames = new Map((welcome.queues || []).map((q) => [q.id, q.name || q.id]));
    if (welcome.agent) this.onAgentState(welcome.agent);
    for (const ix of welcome.interactions) this._remember(ix);
    this._removeInvitation();
    if (welcome.offer) this.onOffer({ ...welcome.offer, timeout: 0 }, { quiet: true });
    this.loadLookups();
    this.refreshLists(0);
    const active = welcome.interactions.find((ix) => ix.agent === this.username && isLive(ix));
    if (this.panel) this.panel.reload();
    else if (active) this.open(active.id, active.channel);
  }

  resync() {
    this.refreshLists(0);
    if (this.panel) this.panel.reload();
  }

  async loadLookups() {
    try {
      const lookups = await this.conn.request({ type: "get_lookups" });
      this.lookups = { templates: lookups.templates, results: lookups.results };
      if (this.panel && this.panel.onLookups) this.panel.onLookups();
    } catch (err) {
      toast(`Could not load templates: ${errorText(err)}`, "error");
    }
  }

  // ------------------------------------------------------------- presence

  _wirePresence() {
    this._listeners = [];
    const listen = (el, type, fn) => {
      el.addEventListener(type, fn);
      this._listeners.push([el, type, fn]);
    };
    for (const btn of document.querySelectorAll(".status-btn")) {
      listen(btn, "click", () => {
        const status = btn.dataset.status;
        if (status === "ready") askNotifications();
        this.setStatus(status, status === "not_ready" ? $("#reason-select").value : "");
      });
    }
    listen($("#reason-select"), "change", () => {
      if (this.me && this.me.status === "not_ready") this.setStatus("not_ready", $("#reason-select").value);
    });
    listen($("#wrapup-done"), "click", async () => {
      try {
        await this.conn.request({ type: "wrap_up_done" });
      } catch (err) {
        toast(errorText(err), "error");
      }
    });
  }

  async setStatus(status, reason = "") {
    try {
      await this.conn.request({ type: "set_status", status, reason });
    } catch (err) {
      toast(`Status not changed: ${errorText(err)}`, "error");
    }
  }

  onAgentState(agent) {
    if (agent.username !== this.username) return;
    this.me = agent;
    for (const btn of document.querySelectorAll(".status-btn")) {
      btn.setAttribute("aria-pressed", String(btn.dataset.status === agent.status));
    }
    const select = $("#reason-select");
    if (agent.status === "not_ready" && agent.reason) {
      if (![...select.options].some((o) => o.value === agent.reason)) {
        select.append(h("option", { value: agent.reason }, label(agent.reason)));
      }
      select.value = agent.reason;
    }
    select.classList.toggle("active", agent.status === "not_ready");
    const badge = $("#state-badge");
    badge.dataset.state = agent.state;
    badge.dataset.status = agent.status;
    const statusText = agent.status === "not_ready"
      ? `Not ready (${label(agent.reason || "no reason")})` : label(agent.status);
    $(".state-name", badge).textContent = `${label(agent.state)} · ${statusText}`;
    setSince($(".state-time", badge), agent.since);
    badge.title = `State ${label(agent.state)}, status ${statusText}`;
    $("#wrapup-done").hidden = agent.state !== "wrap_up";
  }

  // ----------------------------------------------------------- invitations

  onOffer(frame, { quiet = false } = {}) {
    this.offer = frame;
    const ix = frame.interaction;
    this._remember(ix);
    this._removeInvitation();
    const isCall = ix.channel === "call";
    const accept = h("button.primary", { type: "button" }, "Accept");
    const open = h("button", { type: "button" }, "Open");
    const cancel = h("button.danger-outline", { type: "button" }, "Cancel");
    const titleId = `inv-${ix.id}`;
    const who = isCall ? (ix.customer.name || "Unknown caller") : customerName(ix);
    const card = h("section.invitation", {
      role: "dialog", "aria-labelledby": titleId, dataset: { offer: frame.offer, channel: ix.channel },
    },
    h("header",
      h("span.ch-badge", { dataset: { channel: ix.channel } }, isCall ? "Call" : "Chat"),
      h("h2", { id: titleId }, isCall ? "Incoming call" : "Incoming chat"),
      h("span.expires", { "aria-label": "Time left to answer" }, until(frame.expires_at))),
    h("dl.facts",
      h("dt", isCall ? "Caller" : "Customer"), h("dd.inv-customer", who),
      h("dt", isCall ? "Number" : "Source"),
      h("dd.inv-source", isCall ? (ix.customer.phone || "unknown") : (ix.source || "—")),
      h("dt", "Queue"), h("dd.inv-queue", { dataset: { queue: ix.queue } }, this.queueName(ix.queue)),
      ix.previous ? [h("dt", "Continues"), h("dd", "an earlier chat")] : null),
    h("div.actions", accept, open, cancel));

    const busy = (on) => { for (const b of [accept, cancel]) b.disabled = on; };
    accept.addEventListener("click", async () => {
      busy(true);
      try {
        await this.conn.request({ type: "accept", offer: frame.offer });
      } catch (err) {
        toast(`Could not accept: ${errorText(err)}`, "error");
        if (err.code === "not_found" || err.code === "conflict") this._removeInvitation();
        else busy(false);
      }
    });
    open.addEventListener("click", () => this.open(ix.id, ix.channel, { preview: true }));
    cancel.addEventListener("click", async () => {
      busy(true);
      try {
        await this.conn.request({ type: "decline", offer: frame.offer });
      } catch (err) {
        toast(`Could not decline: ${errorText(err)}`, "error");
        this._removeInvitation();
      }
    });
    $("#invitations").append(card);
    // Take the focus only from nothing: never from a field the agent types in.
    const active = document.activeElement;
    if (!active || active === document.body || active.id === "main") accept.focus();
    if (!quiet) {
      beep();
      notify(isCall ? "Incoming call" : "Incoming chat", `${who} · ${this.queueName(ix.queue)}`, () => accept.focus());
    }
  }

  acceptOffer() {
    const btn = $(".invitation .primary");
    if (btn) btn.click();
  }

  _removeInvitation() {
    clear($("#invitations"));
  }

  onOfferClosed(frame) {
    if (this.offer && this.offer.offer === frame.offer) {
      this.offer = null;
      this._removeInvitation();
    }
    if (frame.outcome === "accepted") {
      const ix = this.interactions.get(frame.interaction);
      this.open(frame.interaction, ix ? ix.channel : undefined);
    } else {
      const text = {
        timed_out: "The invitation timed out.",
        rescinded: frame.reason ? `The invitation was withdrawn (${label(frame.reason)}).` : "The invitation was withdrawn.",
        declined: "Invitation declined.",
      }[frame.outcome];
      toast(text, frame.outcome === "declined" ? "info" : "warn");
      if (this.panel && this.panel.id === frame.interaction && this.panel.preview) {
        this.closePanel();
      }
    }
    this.refreshLists();
  }

  // ---------------------------------------------------------- interactions

  _remember(ix) {
    const old = this.interactions.get(ix.id);
    this.interactions.set(ix.id, ix);
    if (ix.channel === "call" && (ix.agent === this.username || this.calls.has(ix.id))) {
      this.calls.set(ix.id, ix);
    }
    return old;
  }

  onInteraction(ix) {
    const old = this._remember(ix);
    if (this.panel && this.panel.id === ix.id) this.panel.onInteraction(ix);
    // Work that just became mine is shown, unless the agent is looking at other live work.
    if (ix.agent === this.username && ix.status === "assigned") {
      const p = this.panel;
      const busyElsewhere = p && p.id !== ix.id && (isLive(this.interactions.get(p.id))
        || (p.kind !== "call" && p.kind !== "chat" && old && old.agent === ix.agent && old.status === ix.status));
      if (!p || (p.id === ix.id && p.preview) || (p.id !== ix.id && !busyElsewhere)) {
        this.open(ix.id, ix.channel);
      }
    }
    this.refreshLists();
  }

  /** A supervisor took this interaction from me: it stays readable, no longer mine. */
  onReassigned(frame) {
    const ix = frame.interaction;
    const what = ix.channel === "call" ? "call" : `chat with ${customerName(ix)}`;
    toast(frame.to ? `${frame.by} passed your ${what} to ${frame.to}.` : `${frame.by} put your ${what} back in its queue.`, "warn");
    this.onInteraction(ix);
  }

  onMessage(message) {
    if (this.panel && this.panel.id === message.interaction && this.panel.onMessage) {
      this.panel.onMessage(message);
    } else {
      this.unread.set(message.interaction, (this.unread.get(message.interaction) || 0) + 1);
      this.renderLists();
    }
  }

  onCallState(frame) {
    this.callStates.set(frame.interaction, frame.state);
    if (this.panel && this.panel.id === frame.interaction && this.panel.onCallState) {
      this.panel.onCallState(frame);
    }
    this.renderLists();
  }

  // ------------------------------------------------------------------ lists

  refreshLists(delay = 150) {
    clearTimeout(this._listTimer);
    this._listTimer = setTimeout(async () => {
      this.myCalls.refresh();
      try {
        const list = await this.conn.request({ type: "list_chats" });
        this.chatList = { active: list.active, closed: list.closed };
        for (const r of [...list.active, ...list.closed]) {
          const known = this.interactions.get(r.interaction.id);
          if (!known || isLive(r.interaction) || !isLive(known)) this.interactions.set(r.interaction.id, r.interaction);
        }
      } catch (err) {
        if (err.code !== "disconnected" && err.code !== "offline") toast(errorText(err), "error");
      }
      this.renderLists();
    }, delay);
  }

  renderLists() {
    const selected = this.panel ? this.panel.id : null;
    const activeChats = this.chatList.active.map((r) => this.interactions.get(r.interaction.id) || r.interaction);
    const liveCalls = [...this.calls.values()].filter((ix) => isLive(ix) && ix.agent === this.username);
    const active = [...activeChats.filter(isLive), ...liveCalls];
    sync($("#active-list"), active.length
      ? active.map((ix) => this._item(ix))
      : h("li.empty", "Nothing active"));
    sync($("#closed-list"), this.chatList.closed.length
      ? this.chatList.closed.map((r) => this._item(r.interaction, r))
      : h("li.empty", "No closed chats yet"));
    markCurrent($("#active-list"), "interaction", selected);
    markCurrent($("#closed-list"), "interaction", selected);
    this.myCalls.render();
  }

  _item(ix, record = null) {
    const isCall = ix.channel === "call";
    const unread = this.unread.get(ix.id) || 0;
    let stateText;
    if (isCall) stateText = label(this.callStates.get(ix.id) || ix.status);
    else stateText = label((record && record.state) || ix.chat_state || ix.status);
    const title = isCall ? (ix.customer.name || ix.customer.phone || "Call") : customerName(ix);
    const sub = [isCall ? (CALL_KIND[ix.source] || "Call") : ix.source, this.queueName(ix.queue)].filter(Boolean).join(" · ");
    const btn = h("button.ix-item", {
      type: "button",
      dataset: { interaction: ix.id, channel: ix.channel },
      onclick: () => this.open(ix.id, ix.channel),
    },
    h("span.ch-badge", { dataset: { channel: ix.channel }, "aria-hidden": "true" }, isCall ? "☎" : "✉"),
    h("span.ix-main", h("span.ix-title", title), h("span.ix-sub", sub)),
    h("span.ix-side",
      h("span.pill", { dataset: { state: (record && record.state) || ix.chat_state || ix.status } }, stateText),
      ix.ended_at ? h("span.ix-time", clock(ix.ended_at)) : (ix.accepted_at ? since(ix.accepted_at, { class: "ix-time" }) : null),
      unread ? h("span.unread", { "aria-label": `${unread} unread` }, String(unread)) : null));
    return h("li", btn);
  }

  // ----------------------------------------------------------------- panels

  open(id, channel, { preview = false } = {}) {
    if (!channel) {
      const ix = this.interactions.get(id);
      channel = ix ? ix.channel : "chat";
    }
    if (this.panel && this.panel.id === id && this.panel.preview === preview) {
      this.panel.reload();
      return this.panel;
    }
    if (this.panel) this.panel.destroy();
    this.unread.delete(id);
    const Panel = channel === "call" ? CallPanel : ChatPanel;
    this.panel = new Panel(this, id, { preview });
    this.renderLists();
    return this.panel;
  }

  /** The case page of `number` in the workspace (the call or chat stays in the lists). */
  openCase(number) {
    if (this.panel && this.panel.id === number) {
      this.panel.reload();
    } else {
      if (this.panel) this.panel.destroy();
      this.panel = new CasePanel(this, number);
      this.renderLists();
    }
    this.myCases.refresh();
    return this.panel;
  }

  openCaseQueue() {
    if (this.panel) this.panel.destroy();
    this.panel = new CaseQueuePanel(this);
    this.renderLists();
    this.myCases.refresh();
    return this.panel;
  }

  /** A case page closes itself once a status with close_on_save is saved. */
  closeCase(number) {
    if (this.panel && this.panel.id === number) this.openCaseQueue();
    else this.myCases.refresh();
  }

  closePanel() {
    if (this.panel) this.panel.destroy();
    this.panel = null;
    this.renderWorkspaceEmpty();
    this.renderLists();
  }

  renderWorkspaceEmpty() {
    clear($("#workspace"), h("div.empty-workspace",
      h("h2", "No conversation open"),
      h("p.muted", "Go Ready to receive chats and calls. Invitations pop up at the top right; "
        + "pick a chat or call on the left to see it here.")));
    clear($("#details"));
  }

  // ------------------------------------------------------------------ misc

  _loadDevices() {
    try {
      return new Set(JSON.parse(localStorage.getItem(`switchboard.devices.${this.conn.principal}`) || "[]"));
    } catch {
      return new Set();
    }
  }

  rememberDevice(id) {
    if (!id || this.devices.has(id)) return;
    this.devices.add(id);
    localStorage.setItem(`switchboard.devices.${this.username}`, JSON.stringify([...this.devices]));
  }

  openHistory() {
    const dialog = modal("Chat history", chatSearch(this.conn, {
      agentField: false,
      onOpen: (record) => {
        dialog.close();
        this.open(record.interaction.id, "chat");
      },
    }), { wide: true });
  }
}

export function isLive(ix) {
  return ix && ix.status !== "ended" && ix.status !== "failed";
}
