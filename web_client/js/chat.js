// The chat workspace: the conversation, the composer and the chat record.

import {
  $, h, clear, label, customerName, toast, errorText, clock, dateTime, bytes, randomId,
  confirmDialog, section,
} from "./dom.js";
import { identification, journeyButton } from "./contacts.js";
import { callbackForm } from "./call.js";
import { casesBox } from "./cases.js";

const EMOJI = [
  "😀", "😊", "🙂", "😉", "😂", "🥲", "😍", "🤔", "😅", "😢", "😮", "😎",
  "👍", "👎", "👋", "🙏", "👏", "🤝", "💪", "✅", "❌", "⚠️", "❗", "❓",
  "🎉", "❤️", "⭐", "🔥", "📦", "🚚", "💳", "📞", "📧", "📎", "🕒", "🙌",
];

const MAX_FILE = 5 * 1024 * 1024; // the server's default; it checks again

// --------------------------------------------------------------- messages

/** One message as a list item; every text goes in as text. */
export function renderMessage(m, { me = "", customer = "Customer" } = {}) {
  const who = {
    customer,
    agent: m.by === me ? "You" : (m.by || "Agent"),
    bot: m.by ? `Bot (${m.by})` : "Bot",
    system: "System",
  }[m.author] || m.author;
  const body = [];
  if (m.text) body.push(h("div.msg-text", m.text));
  if (m.file) body.push(renderFile(m.file));
  return h(`li.msg.msg-${m.author}`, { dataset: { n: String(m.n), author: m.author } },
    h("div.bubble",
      h("div.msg-meta",
        h("span.msg-who", who),
        m.template ? h("span.msg-template", { title: `Template ${m.template}` }, "template") : null,
        h("time", { datetime: new Date(m.sent_at * 1000).toISOString() }, clock(m.sent_at))),
      body));
}

// Links come from the server (signed /files/ paths); anything else is not followed.
function safeUrl(url) {
  return /^(\/(?!\/)|https?:\/\/)/.test(url || "") ? url : "";
}

function renderFile(file) {
  const f = { ...file, url: safeUrl(file.url) };
  const caption = h("figcaption", h("a", { href: f.url || null, target: "_blank", rel: "noopener", download: f.name }, f.name),
    ` · ${bytes(f.size)}`);
  if (f.preview && f.url) {
    return h("figure.msg-file.image",
      h("a", { href: f.url, target: "_blank", rel: "noopener" },
        h("img", { src: f.url, alt: f.name, loading: "lazy" })),
      caption);
  }
  return h("figure.msg-file", caption);
}

function toBase64(buffer) {
  const bytes8 = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes8.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes8.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

const GUESS_MIME = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", pdf: "application/pdf", txt: "text/plain" };

function mimeOf(file) {
  if (file.type) return file.type;
  const ext = file.name.split(".").pop().toLowerCase();
  return GUESS_MIME[ext] || "application/octet-stream";
}

// ------------------------------------------------------------------ panel

export class ChatPanel {
  constructor(app, id, { preview = false } = {}) {
    this.app = app;
    this.conn = app.conn;
    this.id = id;
    this.kind = "chat";
    this.preview = preview;
    this.messages = new Map(); // n -> MessageView
    this.pending = new Map(); // client_id -> pending send
    this.record = null;
    this.templateId = null;
    this.destroyed = false;
    this.build();
    this.reload();
  }

  get ix() {
    return this.app.interactions.get(this.id) || (this.record && this.record.interaction);
  }

  get canWrite() {
    const ix = this.ix;
    return Boolean(!this.preview && ix && ix.agent === this.app.username && ix.status === "assigned"
      && ix.chat_state !== "completed");
  }

  destroy() {
    this.destroyed = true;
    document.removeEventListener("click", this._outside);
  }

  // ------------------------------------------------------------- building

  build() {
    const ws = $("#workspace");
    this.head = h("header.ws-head");
    this.banner = h("div.preview-banner", { hidden: true });
    this.list = h("ol.messages", { role: "log", "aria-live": "polite", "aria-label": "Conversation" });
    this.dropHint = h("div.drop-hint", { hidden: true, "aria-hidden": "true" }, "Drop files to send them");
    this.composer = this.buildComposer();
    this.conversation = h("div.conversation", this.list, this.dropHint);
    clear(ws, h("div.chat-ws", this.head, this.banner, this.conversation, this.composer));
    this.wireDrop(this.conversation);
    this.detailsEl = h("div.details-inner");
    clear($("#details"), this.detailsEl);
  }

  buildComposer() {
    this.input = h("textarea.compose-input", {
      rows: 2, maxlength: 4096, "aria-label": "Message",
      placeholder: "Type a message — Enter to send, Shift+Enter for a new line",
    });
    this.templateSelect = h("select.template-select", { "aria-label": "Quick reply template" });
    this.emojiBtn = h("button.icon.emoji-btn", {
      type: "button", "aria-label": "Insert emoji", "aria-haspopup": "true", "aria-expanded": "false",
    }, "☺");
    this.emojiPop = h("div.emoji-pop", { hidden: true, role: "group", "aria-label": "Emoji" },
      EMOJI.map((e) => h("button.emoji", { type: "button", "aria-label": `Insert ${e}` }, e)));
    this.fileInput = h("input.visually-hidden", { type: "file", id: `file-${this.id}`, multiple: true, tabindex: "-1" });
    this.attachBtn = h("button.small.attach-btn", { type: "button", title: "Attach a file (or drop it on the conversation)" }, "Attach file");
    this.sendBtn = h("button.primary.send-btn", { type: "submit" }, "Send");
    this.templateHint = h("span.template-hint", { hidden: true });
    const form = h("form.composer", { "aria-label": "Reply" },
      h("div.compose-tools",
        this.templateSelect, h("span.emoji-wrap", this.emojiBtn, this.emojiPop), this.attachBtn, this.fileInput,
        this.templateHint),
      h("div.compose-row", this.input, this.sendBtn));

    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener("input", () => {
      if (!this.input.value.trim()) this.setTemplate(null);
    });
    this.templateSelect.addEventListener("change", () => {
      const t = this.app.lookups.templates.find((x) => x.id === this.templateSelect.value);
      this.templateSelect.value = "";
      if (!t) return;
      const v = this.input.value;
      this.input.value = v.trim() ? `${v.replace(/\s+$/, "")} ${t.text}` : t.text;
      this.setTemplate(t);
      this.input.focus();
      this.input.setSelectionRange(this.input.value.length, this.input.value.length);
    });
    this.emojiBtn.addEventListener("click", () => this.toggleEmoji());
    this.emojiPop.addEventListener("click", (e) => {
      const b = e.target.closest("button.emoji");
      if (!b) return;
      this.insertAtCursor(b.textContent);
      this.toggleEmoji(false);
    });
    this.emojiPop.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        this.toggleEmoji(false);
        this.emojiBtn.focus();
      }
    });
    this._outside = (e) => {
      if (!this.emojiPop.hidden && !e.target.closest(".emoji-wrap")) this.toggleEmoji(false);
    };
    document.addEventListener("click", this._outside);
    this.attachBtn.addEventListener("click", () => this.fileInput.click());
    this.fileInput.addEventListener("change", () => {
      this.attach([...this.fileInput.files]);
      this.fileInput.value = "";
    });
    this.fillTemplates();
    return form;
  }

  fillTemplates() {
    const templates = this.app.lookups.templates;
    clear(this.templateSelect,
      h("option", { value: "" }, templates.length ? "Quick reply…" : "No templates"),
      templates.map((t) => h("option", { value: t.id, title: t.text }, t.name)));
    this.templateSelect.disabled = !templates.length || !this.canWrite;
  }

  onLookups() {
    this.fillTemplates();
    this.fillResults();
  }

  setTemplate(t) {
    this.templateId = t ? t.id : null;
    this.templateHint.hidden = !t;
    this.templateHint.textContent = t ? `Template “${t.name}” — edit before sending if needed` : "";
  }

  toggleEmoji(show = this.emojiPop.hidden) {
    this.emojiPop.hidden = !show;
    this.emojiBtn.setAttribute("aria-expanded", String(show));
    if (show) this.emojiPop.querySelector("button").focus();
  }

  insertAtCursor(text) {
    const el = this.input;
    const start = el.selectionStart ?? el.value.length;
    const end = el.selectionEnd ?? el.value.length;
    el.value = el.value.slice(0, start) + text + el.value.slice(end);
    el.focus();
    el.setSelectionRange(start + text.length, start + text.length);
  }

  wireDrop(zone) {
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    zone.addEventListener("dragenter", (e) => {
      if (!hasFiles(e) || !this.canWrite) return;
      e.preventDefault();
      depth += 1;
      this.dropHint.hidden = false;
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragover", (e) => {
      if (hasFiles(e) && this.canWrite) e.preventDefault();
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) {
        this.dropHint.hidden = true;
        zone.classList.remove("dragging");
      }
    });
    zone.addEventListener("drop", (e) => {
      depth = 0;
      this.dropHint.hidden = true;
      zone.classList.remove("dragging");
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (!this.canWrite) {
        toast("This chat does not take files now.", "warn");
        return;
      }
      this.attach([...e.dataTransfer.files]);
    });
  }

  // -------------------------------------------------------------- loading

  async reload() {
    try {
      const chat = await this.conn.request({ type: "get_chat", interaction: this.id });
      if (this.destroyed) return;
      this.record = chat.record;
      this.app.interactions.set(this.id, chat.record.interaction);
      for (const m of chat.messages) this.messages.set(m.n, m);
      this.renderAll();
    } catch (err) {
      if (this.destroyed) return;
      if (err.code === "disconnected" || err.code === "offline") return; // the resume reloads it
      clear(this.list, h("li.msg-error", `Could not open this chat: ${errorText(err)}`));
    }
  }

  onInteraction(ix) {
    if (this.record) this.record.interaction = ix;
    const contactChanged = this.record && ix.contact !== (this.record.contact && this.record.contact.id);
    this.renderHead();
    this.updateComposer();
    if (contactChanged) this.reload();
    else this.renderDetails();
  }

  onMessage(m) {
    this.messages.set(m.n, m);
    this.renderMessages();
  }

  // ------------------------------------------------------------ rendering

  renderAll() {
    this.renderHead();
    this.renderMessages();
    this.updateComposer();
    this.renderDetails();
  }

  renderHead() {
    const ix = this.ix;
    if (!ix) return;
    const state = ix.chat_state || (this.record && this.record.state);
    const stateKey = state || ix.status;
    const actions = [];
    if (this.canWrite && state === "new") {
      actions.push(h("button.mark-progress", { type: "button", onclick: () => this.markInProgress() }, "Mark in progress"));
    }
    if (this.canWrite) {
      actions.push(h("button.danger.end-chat", { type: "button", onclick: () => this.endChat() }, "End chat"));
    }
    clear(this.head,
      h("div.ws-title",
        h("h2", customerName(ix)),
        h("p.ws-meta",
          h("span.pill.chat-state", { dataset: { state: stateKey }, "aria-label": `Chat state: ${label(stateKey)}` }, label(stateKey)),
          h("span", ix.source || "chat"), h("span.ws-queue", { dataset: { queue: ix.queue } }, `queue ${this.app.queueName(ix.queue)}`),
          ix.accepted_at ? h("span", `started ${clock(ix.accepted_at)}`) : null,
          ix.ended_at ? h("span", `ended ${clock(ix.ended_at)}${ix.end_reason ? ` (${label(ix.end_reason)})` : ""}`) : null)),
      h("div.ws-actions", actions));
    if (this.preview) {
      this.banner.hidden = false;
      clear(this.banner, h("span", "Preview of an invitation — accept it to reply."),
        this.app.offer && this.app.offer.interaction.id === this.id
          ? h("button.primary.small", { type: "button", onclick: () => this.app.acceptOffer() }, "Accept")
          : null);
    } else {
      this.banner.hidden = true;
    }
  }

  renderMessages() {
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    const customer = customerName(this.ix);
    const items = [...this.messages.values()].sort((a, b) => a.n - b.n)
      .map((m) => renderMessage(m, { me: this.app.username, customer }));
    for (const p of this.pending.values()) items.push(p.el);
    clear(this.list, items.length ? items : h("li.msg-empty", "No messages yet."));
    if (nearBottom || this._stick) this.list.scrollTop = this.list.scrollHeight;
    this._stick = false;
  }

  updateComposer() {
    const can = this.canWrite;
    for (const el of [this.input, this.sendBtn, this.emojiBtn, this.attachBtn]) el.disabled = !can;
    this.templateSelect.disabled = !can || !this.app.lookups.templates.length;
    this.composer.classList.toggle("disabled", !can);
    const ix = this.ix;
    this.input.placeholder = can ? "Type a message — Enter to send, Shift+Enter for a new line"
      : (ix && ix.chat_state === "completed") || (ix && ix.status === "ended") ? "This chat is completed."
        : "Accept the chat to reply.";
  }

  // The record pane is built once per chat and then updated in place, so
  // pushes never wipe what the agent is typing into its forms.
  renderDetails() {
    const ix = this.ix;
    const r = this.record;
    if (!ix || !r) return;
    if (!this.pane) this.buildDetails(ix, r);
    this.renderFacts();
    const identKey = `${r.contact ? r.contact.id : ""}|${r.candidates.map((c) => c.id).join(",")}`;
    if (identKey !== this.pane.identKey) {
      this.pane.identKey = identKey;
      const number = ix.customer.phone || (r.contact && r.contact.phones[0]) || "";
      clear(this.pane.ident, identification(this.app, {
        interaction: this.id, record: r, number,
        defaults: { name: ix.customer.name, phone: ix.customer.phone, email: ix.customer.email },
        onIdentified: () => this.reload(),
      }));
      clear(this.pane.journey, r.contact ? journeyButton(this.app, r.contact) : null);
      this.pane.journey.closest("details").hidden = !r.contact;
    }
  }

  buildDetails(ix, r) {
    const resultSelect = h("select#chat-result", { name: "result" });
    const saveForm = recordForm(this.conn, {
      interaction: this.id, prefix: "chat", resultSelect,
      record: () => this.record,
      onSaved: (saved) => Object.assign(this.record, saved),
    });
    const number = ix.customer.phone || (r.contact && r.contact.phones[0]) || "";
    this.pane = {
      facts: h("dl.facts"),
      ident: h("div.ident-box"),
      journey: h("div.journey-box"),
      resultSelect,
      identKey: null,
    };
    this.fillResults();
    clear(this.detailsEl,
      section("Chat record", this.pane.facts, true),
      section("Customer", this.pane.ident, true, "customer-section"),
      section("Result and notes", saveForm, true, "result-section"),
      section("Cases", casesBox(this.app, {
        interaction: this.id,
        current: () => ({ contact: this.record.contact, number: this.ix.customer.phone || "", customer: this.ix.customer }),
        onChange: () => this.reload(),
      }), true, "cases-section"),
      section("Call back", callbackForm(this.app, { interaction: this.id, number }), false),
      section("Customer journey", this.pane.journey, true));
  }

  fillResults() {
    if (!this.pane) return;
    const select = this.pane.resultSelect;
    const current = select.value || (this.record && this.record.result) || "";
    clear(select, h("option", { value: "" }, "— no result —"),
      this.app.lookups.results.map((o) => h("option", { value: o.id, selected: o.id === current }, o.name)));
  }

  renderFacts() {
    const ix = this.ix;
    const r = this.record;
    clear(this.pane.facts,
      h("dt", "From"), h("dd", r.contact ? r.contact.name || r.contact.id : customerName(ix)),
      h("dt", "To"), h("dd", r.agents.length ? r.agents.join(", ") : (ix.agent || "—")),
      h("dt", "Source"), h("dd", ix.source || "—"),
      h("dt", "Queue"), h("dd", { dataset: { queue: ix.queue } }, this.app.queueName(ix.queue)),
      h("dt", "Start"), h("dd", ix.accepted_at ? dateTime(ix.accepted_at) : "not accepted yet"),
      h("dt", "End"), h("dd", ix.ended_at ? dateTime(ix.ended_at) : "—"),
      h("dt", "State"), h("dd", label(ix.chat_state || r.state || ix.status)),
      r.case ? [h("dt", "Case"), h("dd", h("button.link", { type: "button", onclick: () => this.app.openCase(r.case) }, r.case))] : null,
      ix.previous ? [h("dt", "Continues"), h("dd", h("button.link", { type: "button", onclick: () => this.app.open(ix.previous, "chat") }, "the earlier chat"))] : null,
      ix.customer.phone ? [h("dt", "Phone"), h("dd", ix.customer.phone)] : null,
      ix.customer.email ? [h("dt", "Email"), h("dd", ix.customer.email)] : null);
  }

  // --------------------------------------------------------------- sending

  async send() {
    const text = this.input.value.trim();
    if (!text || !this.canWrite) return;
    const clientId = randomId("m-");
    const template = this.templateId;
    this.input.value = "";
    this.setTemplate(null);
    const el = renderMessage({ n: 0, author: "agent", by: this.app.username, text, sent_at: this.conn.now(), template },
      { me: this.app.username });
    el.classList.add("pending");
    this.pending.set(clientId, { el, frame: { type: "send_message", interaction: this.id, text, client_id: clientId, template } });
    this._stick = true;
    this.renderMessages();
    await this.push(clientId);
  }

  async push(clientId) {
    const p = this.pending.get(clientId);
    if (!p) return;
    p.el.classList.remove("failed");
    p.el.querySelector(".retry")?.remove();
    try {
      const frame = { ...p.frame };
      if (!frame.template) delete frame.template;
      const sent = await this.conn.request(frame, { timeout: 60000 });
      this.pending.delete(clientId);
      this.messages.set(sent.message.n, sent.message);
      this.renderMessages();
    } catch (err) {
      p.el.classList.add("failed");
      const retry = h("button.link.retry", { type: "button", onclick: () => this.push(clientId) }, "Not sent — retry");
      p.el.querySelector(".bubble").append(retry);
      toast(`Message not sent: ${errorText(err)}`, "error");
    }
  }

  async attach(files) {
    for (const file of files) {
      if (file.size > MAX_FILE) {
        toast(`${file.name} is larger than ${bytes(MAX_FILE)}.`, "error");
        continue;
      }
      const clientId = randomId("f-");
      const el = renderMessage({
        n: 0, author: "agent", by: this.app.username, sent_at: this.conn.now(),
        file: { name: file.name, size: file.size, url: "", preview: false },
      }, { me: this.app.username });
      el.classList.add("pending");
      let data;
      try {
        data = toBase64(await file.arrayBuffer());
      } catch (err) {
        toast(`Cannot read ${file.name}: ${err.message}`, "error");
        continue;
      }
      this.pending.set(clientId, {
        el,
        frame: { type: "send_file", interaction: this.id, name: file.name, mime: mimeOf(file), data, client_id: clientId },
      });
      this._stick = true;
      this.renderMessages();
      await this.push(clientId);
    }
  }

  // ---------------------------------------------------------------- state

  async markInProgress() {
    try {
      await this.conn.request({ type: "update_chat", interaction: this.id, state: "in_progress" });
      const ix = this.ix;
      if (ix && ix.chat_state === "new") ix.chat_state = "in_progress";
      this.renderHead();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  async endChat() {
    const ok = await confirmDialog({
      title: "End this chat?",
      body: `The chat with ${customerName(this.ix)} will be completed; the customer can no longer write in it.`,
      confirm: "End chat",
      danger: true,
    });
    if (!ok) return;
    try {
      await this.conn.request({ type: "end", interaction: this.id, reason: "agent_ended" });
      toast("Chat ended.");
    } catch (err) {
      toast(`Could not end the chat: ${errorText(err)}`, "error");
    }
  }
}

/**
 * A chat record's own fields (name, result, result details, notes) as a form
 * that sends `update_chat` with only what changed. `record()` is the record
 * as known now; `resultSelect` is the caller's (it fills the options);
 * `onSaved(fields)` gets the fields as stored.
 */
export function recordForm(conn, { interaction, prefix, record, resultSelect, onSaved }) {
  const r = record();
  const id = (k) => `${prefix}-${k}`;
  resultSelect.id = id("result");
  const name = h("input", { id: id("name"), name: "name", value: r.name || "", maxlength: 256 });
  const details = h("textarea", { id: id("result-details"), name: "result_details", rows: 2, maxlength: 20000 });
  details.value = r.result_details || "";
  const notes = h("textarea", { id: id("notes"), name: "notes", rows: 3, maxlength: 20000 });
  notes.value = r.notes || "";
  const form = h("form.record-form", { "aria-label": "Chat result and notes" },
    h("label", { for: name.id }, "Chat name"), name,
    h("label", { for: resultSelect.id }, "Result"), resultSelect,
    h("label", { for: details.id }, "Result details"), details,
    h("label", { for: notes.id }, "Notes"), notes,
    h("div.actions", h("button.primary.small", { type: "submit" }, "Save record")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const rec = record();
    const frame = { type: "update_chat", interaction };
    if (name.value !== (rec.name || "")) frame.name = name.value;
    if (resultSelect.value && resultSelect.value !== rec.result) frame.result = resultSelect.value;
    if (details.value !== (rec.result_details || "")) frame.result_details = details.value;
    if (notes.value !== (rec.notes || "")) frame.notes = notes.value;
    try {
      await conn.request(frame);
      toast("Chat record saved.");
      onSaved({
        name: name.value, result: resultSelect.value || rec.result,
        result_details: details.value, notes: notes.value,
      });
    } catch (err) {
      toast(`Not saved: ${errorText(err)}`, "error");
    }
  });
  return form;
}
