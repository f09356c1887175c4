// The case page: its fields, a status bar with the moves the server's status
// lookup allows from here, a reply to the customer or a comment, escalation,
// the history, and live updates. What the agent may do with the case
// (`workable`, `takeable`) comes from the server with each view of it.

import { $, h, clear, toast, errorText, dateTime, label, confirmDialog, section, modal } from "./dom.js";
import { caseLookups, statusInfo, caseQueueName, casePill } from "./cases.js";
import { showInteraction } from "./history.js";

const ACTIONS = {
  created: "Case registered",
  status: "Status",
  assignee: "Assignee",
  group: "Assignee group",
  field: "Changed",
  linked: "Linked",
  consultation: "Consultation",
  customer_reply: "Customer wrote",
  satisfaction: "Satisfaction",
  article: "Article linked",
  notification: "Customer notified",
  comment: "Comment",
  agent_reply: "Reply to customer",
};

function event(ev, lookups) {
  const st = (v) => (v ? statusInfo(lookups, v).name : "—");
  let what;
  if (ev.action === "status") what = `${st(ev.old)} → ${st(ev.new)}`;
  else if (ev.action === "assignee" || ev.action === "group") what = `${ev.old || "none"} → ${ev.new || "none"}`;
  else if (ev.action === "field") what = `${label(ev.field)}: ${ev.old ?? "—"} → ${ev.new ?? "—"}`;
  else if (ev.action === "linked") what = `${label(ev.field)} by ${ev.new}`;
  else if (ev.action === "consultation") what = `during ${ev.new}`;
  else if (ev.action === "customer_reply") what = `by ${ev.field}${ev.new ? ` from ${ev.new}` : ""}`;
  else if (ev.action === "satisfaction") what = `${ev.new} of 5`;
  else if (ev.action === "notification") what = ev.new ? `${ev.field} to ${ev.new}` : ev.field;
  else if (ev.action === "article") what = ev.new;
  else if (ev.action === "agent_reply") what = ev.new ? `to ${ev.new}` : "no email address";
  else what = ev.new || "";
  return h(`li.case-event.ev-${ev.action}`, { dataset: { action: ev.action } },
    h("time", { datetime: new Date(ev.at * 1000).toISOString() }, dateTime(ev.at)),
    h("span.ev-by", ev.by),
    h("span.ev-action", ACTIONS[ev.action] || label(ev.action)),
    what ? h("span.ev-what", what) : null,
    ev.text ? h("p.ev-text", ev.text) : null);
}

export class CasePanel {
  /**
   * `host`: where the page goes, `{ workspace, details }` (the agent's
   * workspace and details column by default; the supervisor's Cases tab
   * gives its own). `back`: the header button, `{ text, action }`.
   */
  constructor(app, number, { host = null, back = null } = {}) {
    this.app = app;
    this.back = back || { text: "Case queue", action: () => app.openCaseQueue() };
    this.conn = app.conn;
    this.id = number;
    this.kind = "case";
    this.preview = false;
    this.destroyed = false;
    this.detail = null;
    this.lookups = null;
    this.articles = new Map(); // picked to link when resolving: id -> title
    this.head = h("header.ws-head");
    this.bar = h("div.status-bar", { role: "group", "aria-label": "Move the case to" });
    this.body = h("div.case-body");
    const where = host || { workspace: $("#workspace"), details: $("#details") };
    clear(where.workspace, h("div.case-ws", { dataset: { case: number } }, this.head, this.bar, this.body));
    this.detailsEl = h("div.details-inner");
    clear(where.details, this.detailsEl);
    clear(this.body, h("p.muted", "Loading the case…"));
    // The server pushes every change of the case we watch (get_case below),
    // ours included: the page follows them; others' changes are announced.
    this.off = this.conn.on("case_changed", (f) => {
      if (f.case.number !== this.id) return;
      if (f.by && f.by !== this.app.username) toast(`Case ${this.id}: ${label(f.reason)} by ${f.by}.`);
      this.reloadSoon();
    });
    this.reload();
  }

  get case() {
    return this.detail && this.detail.case;
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this._timer);
    this.off();
  }

  reloadSoon() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.reload(), 100);
  }

  async reload() {
    try {
      const [lookups, detail] = await Promise.all([
        caseLookups(this.app), this.conn.request({ type: "get_case", case: this.id, watch: true })]);
      if (this.destroyed) return;
      this.lookups = lookups;
      this.show(detail);
    } catch (err) {
      if (this.destroyed || err.code === "disconnected" || err.code === "offline") return;
      clear(this.body, h("p.form-error", `Could not open case ${this.id}: ${errorText(err)}`));
    }
  }

  show(detail) {
    this.detail = detail;
    if (this.app.myCases) this.app.myCases.refresh(); // its status or assignee in the sidebar
    if (!this.pane) this.build();
    this.renderHead();
    this.renderBar();
    this.renderFields();
    this.renderWrite();
    this.escalateBtn.disabled = !this.workable;
    this.renderFacts();
    clear(this.pane.history, detail.history.length
      ? detail.history.map((ev) => event(ev, this.lookups))
      : h("li.muted", "No history."));
  }

  /** May I change it now (the server says, for me). */
  get workable() {
    return Boolean(this.case.workable);
  }

  renderHead() {
    const c = this.case;
    clear(this.head,
      h("div.ws-title",
        h("h2", h("span.case-number", c.number), " · ", h("span.case-title", c.subject)),
        h("p.ws-meta",
          casePill(c.status, this.lookups),
          h("span.case-priority", { dataset: { priority: c.priority } }, `${label(c.priority)} priority`),
          h("span", caseQueueName(this.lookups, c.queue)),
          h("span.case-assignee", c.assignee ? `assigned to ${c.assignee}` : "not assigned"),
          c.status !== "closed" && c.status !== "canceled" ? h("span", `resolve by ${dateTime(c.resolution_due)}`) : null)),
      h("div.ws-actions",
        h("button.small.case-back", { type: "button", onclick: this.back.action }, this.back.text)));
  }

  // The moves: only those the status lookup (the server's table) lists.
  renderBar() {
    const c = this.case;
    const info = statusInfo(this.lookups, c.status);
    const can = this.workable;
    if (!info.to.length) {
      clear(this.bar, h("span.muted", `${info.name}: this case does not change any more.`));
      return;
    }
    this.pane.comment.disabled = !can;
    // Taking an unassigned case into work is the server's "takeable"; any
    // other move is "workable".
    const allowed = (to) => (to === "in_progress" && !c.assignee ? c.takeable : can);
    clear(this.bar,
      h("label.bar-label", { for: this.pane.comment.id }, "Comment"), this.pane.comment,
      h("span.bar-label", "Move to"),
      info.to.map((to) => h("button.small.status-to", {
        type: "button", dataset: { status: to }, disabled: !allowed(to),
        title: allowed(to) ? null : (to === "in_progress" && !c.assignee
          ? "Not yours to take: this case queue gives its next case only, or it is not your queue"
          : "Only the assignee (or a member of its queue, when nobody has it) moves the case"),
        onclick: () => this.move(to),
      }, to === "in_progress" && !c.assignee ? "Take into work" : statusInfo(this.lookups, to).name)),
      this.articles.size ? h("span.muted.small", `links on resolve: ${[...this.articles.values()].join(", ")}`) : null);
  }

  async move(to) {
    const target = statusInfo(this.lookups, to);
    const comment = this.pane.comment.value.trim();
    if (target.final) {
      const ok = await confirmDialog({
        title: `${target.name}: case ${this.id}?`, body: "The case will not change any more.",
        confirm: target.name, danger: to === "canceled",
      });
      if (!ok) return;
    }
    const frame = { type: "set_case_status", case: this.id, status: to, comment };
    if (target.resolved) frame.articles = [...this.articles.keys()];
    try {
      const detail = await this.conn.request(frame);
      this.pane.comment.value = "";
      this.articles.clear();
      toast(`Case ${this.id}: ${target.name}.`);
      if (detail.suggest_article) this.suggestArticle();
      if (target.close_on_save) {
        this.app.closeCase(this.id);
        return;
      }
      this.show(detail);
    } catch (err) {
      toast(`Not moved: ${errorText(err)}`, "error");
    }
  }

  // ----------------------------------------------------------- building

  build() {
    const p = `case-${this.id}`;
    const f = {
      subject: h("input", { id: `${p}-subject`, name: "subject", required: true, maxlength: 256 }),
      description: h("textarea", { id: `${p}-description`, name: "description", rows: 5, maxlength: 20000 }),
      priority: h("select", { id: `${p}-priority`, name: "priority" },
        this.lookups.priorities.map((x) => h("option", { value: x }, label(x)))),
      email: h("input", { id: `${p}-email`, name: "email", type: "email", maxlength: 256 }),
    };
    const save = h("button.primary.small", { type: "submit" }, "Save fields");
    const form = h("form.case-fields.grid-form", { "aria-label": "Case fields" },
      h("label", { for: f.subject.id }, "Subject"), f.subject,
      h("label", { for: f.description.id }, "Description"), f.description,
      h("label", { for: f.priority.id }, "Priority"), f.priority,
      h("label", { for: f.email.id }, "Notify email"), f.email,
      h("div.actions", save));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.saveFields();
    });
    const comment = h("input.bar-comment", { id: `${p}-comment`, maxlength: 20000, placeholder: "optional, saved with the move" });
    this.pane = {
      fields: f, form, save, comment, history: h("ol.case-history", { "aria-label": "History" }),
      facts: h("dl.facts"), links: h("div.case-links"), write: this.writeBox(p),
    };
    clear(this.body,
      h("section.call-section", { "aria-labelledby": `${p}-fields` },
        h("h3", { id: `${p}-fields` }, "Case"), form),
      h("section.call-section.case-write-section", { "aria-labelledby": `${p}-write` },
        h("h3", { id: `${p}-write` }, "Write"), this.pane.write.form),
      h("section.call-section", { "aria-labelledby": `${p}-history` },
        h("h3", { id: `${p}-history` }, "History"), this.pane.history));
    clear(this.detailsEl,
      section("Details", this.pane.facts, true),
      section("Calls and chats", this.pane.links, true),
      section("Escalate", this.escalateForm(), false, "escalate-section"),
      section("Knowledge base", this.kbBox(), false));
  }

  // ------------------------------------------------ reply and comment

  /** A text to send the customer (mailed) or to keep for colleagues. */
  writeBox(p) {
    const text = h("textarea.case-note-text", { id: `${p}-note`, name: "note", rows: 3, maxlength: 20000 });
    const reply = h("button.small.primary.case-reply", { type: "button" }, "Reply to customer");
    const comment = h("button.small.case-comment", { type: "button" }, "Add comment");
    const hint = h("p.muted.small.case-reply-to.span-all");
    const form = h("form.case-note-form.grid-form", { "aria-label": "Write on the case" },
      h("label", { for: text.id }, "Message"), text,
      h("div.actions", reply, comment), hint);
    form.addEventListener("submit", (e) => e.preventDefault());
    reply.addEventListener("click", () => this.note("reply"));
    comment.addEventListener("click", () => this.note("comment"));
    return { form, text, reply, comment, hint };
  }

  renderWrite() {
    const c = this.case;
    const w = this.pane.write;
    // Replies: the server's "workable" (an open case I may change); comments:
    // any case I see.
    w.reply.disabled = !this.workable;
    w.reply.title = this.workable ? "" : "Only who may work the case answers the customer";
    w.hint.textContent = c.email
      ? `A reply is mailed to ${c.email}. A comment is only for colleagues.`
      : "This case has no email: a reply is only kept in the history. A comment is only for colleagues.";
  }

  async note(kind) {
    const w = this.pane.write;
    const text = w.text.value.trim();
    if (!text) {
      toast("Write something first.", "error");
      w.text.focus();
      return;
    }
    w.reply.disabled = w.comment.disabled = true;
    try {
      const detail = await this.conn.request({ type: "add_case_note", case: this.id, kind, text });
      w.text.value = "";
      toast(kind === "reply" ? `Reply to the customer on ${this.id} saved.` : `Comment added to ${this.id}.`);
      this.show(detail);
    } catch (err) {
      toast(`Not saved: ${errorText(err)}`, "error");
    } finally {
      w.comment.disabled = false;
      if (this.case) this.renderWrite();
    }
  }

  renderFields() {
    const c = this.case;
    const f = this.pane.fields;
    const open = this.workable;
    // Not while the agent edits: only fields nobody touched follow the case.
    for (const k of ["subject", "description", "priority", "email"]) {
      if (document.activeElement !== f[k]) f[k].value = c[k] || "";
      f[k].disabled = !open;
    }
    this.pane.save.disabled = !open;
  }

  async saveFields() {
    const c = this.case;
    const f = this.pane.fields;
    const frame = { type: "update_case", case: this.id };
    for (const k of ["subject", "description", "priority", "email"]) {
      if (f[k].value !== (c[k] || "")) frame[k] = k === "subject" ? f[k].value.trim() : f[k].value;
    }
    if (Object.keys(frame).length === 2) {
      toast("Nothing changed.");
      return;
    }
    try {
      this.show(await this.conn.request(frame));
      toast(`Case ${this.id} saved.`);
    } catch (err) {
      toast(`Not saved: ${errorText(err)}`, "error");
    }
  }

  renderFacts() {
    const c = this.case;
    const when = (ts) => (ts ? dateTime(ts) : "—");
    clear(this.pane.facts,
      h("dt", "Contact"), h("dd.case-contact-name", this.contactName()),
      c.account_name ? [h("dt", "Company"), h("dd", c.account_name)] : null,
      h("dt", "Email"), h("dd", c.email || "—"),
      h("dt", "Queue"), h("dd", caseQueueName(this.lookups, c.queue)),
      c.group ? [h("dt", "Group"), h("dd", caseQueueName(this.lookups, c.group))] : null,
      h("dt", "Created"), h("dd", `${when(c.created_at)}${c.created_by ? ` by ${c.created_by}` : ""}`),
      h("dt", "Respond by"), h("dd", when(c.response_due)),
      h("dt", "Responded"), h("dd", when(c.responded_at)),
      h("dt", "Resolve by"), h("dd", when(c.resolution_due)),
      c.resolved_at ? [h("dt", "Resolved"), h("dd", when(c.resolved_at))] : null,
      c.closed_at ? [h("dt", "Closed"), h("dd", when(c.closed_at))] : null,
      c.satisfaction != null ? [h("dt", "Satisfaction"), h("dd", `${c.satisfaction} of 5`)] : null,
      c.articles.length ? [h("dt", "Articles"), h("dd", c.articles.join(", "))] : null);
    // A call or chat of this session opens in its workspace; any other one
    // read-only (its transcript or call journey).
    clear(this.pane.links, c.interactions.length
      ? h("ul.case-lines", c.interactions.map((ix) => {
        const known = this.app.interactions ? this.app.interactions.get(ix) : null;
        return h("li.case-line", { dataset: { interaction: ix } },
          h("button.link", {
            type: "button",
            onclick: () => {
              if (known) this.app.open(ix, known.channel);
              else if (this.app.showRecord) this.app.showRecord(ix); // a supervisor's, editable
              else showInteraction(this.conn, ix);
            },
          }, known ? `${label(known.channel)} ${dateTime(known.created_at)}` : ix),
          known ? h("span.pill", { dataset: { state: known.status } }, label(known.status)) : null);
      }))
      : h("p.muted", "None."));
  }

  contactName() {
    const c = this.case;
    if (!c.contact) return "—";
    return c.contact_name || c.contact;
  }

  // --------------------------------------------------------- escalation

  escalateForm() {
    const p = `esc-${this.id}`;
    const group = h("select", { id: `${p}-group` }, h("option", { value: "" }, "— keep —"),
      this.lookups.queues.map((q) => h("option", { value: q.id }, q.name || q.id)));
    const assignee = h("select", { id: `${p}-assignee` });
    const fill = () => {
      const q = this.lookups.queues.find((x) => x.id === (group.value || this.case.queue));
      clear(assignee, h("option", { value: "" }, group.value ? "— the group takes it —" : "— keep —"),
        (q ? q.members : []).map((m) => h("option", { value: m }, m)));
    };
    group.addEventListener("change", fill);
    fill();
    const form = h("form.escalate-form.grid-form", { "aria-label": "Escalate" },
      h("label", { for: group.id }, "Group"), group,
      h("label", { for: assignee.id }, "Assignee"), assignee,
      h("div.actions", this.escalateBtn = h("button.small", { type: "submit" }, "Escalate")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const frame = { type: "escalate_case", case: this.id };
      if (group.value) frame.group = group.value;
      if (assignee.value) frame.assignee = assignee.value;
      try {
        this.show(await this.conn.request(frame));
        toast(`Case ${this.id} escalated.`);
      } catch (err) {
        toast(`Not escalated: ${errorText(err)}`, "error");
      }
    });
    return form;
  }

  // ----------------------------------------------------- knowledge base

  kbBox() {
    const q = h("input", { type: "search", "aria-label": "Search articles", maxlength: 256, placeholder: "Words of the article" });
    const out = h("ul.case-lines.kb-results");
    const form = h("form.kb-search", { role: "search", "aria-label": "Search the knowledge base" },
      h("div.inline", q, h("button.small", { type: "submit" }, "Search")), out,
      h("p.muted.small", "Picked articles are linked when the case is resolved."));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const found = await this.conn.request({ type: "search_articles", query: q.value.trim(), limit: 20 });
        clear(out, found.articles.length ? found.articles.map((a) => h("li",
          h("label.check", h("input", {
            type: "checkbox", checked: this.articles.has(a.id),
            onchange: (ev) => {
              if (ev.target.checked) this.articles.set(a.id, a.title);
              else this.articles.delete(a.id);
              this.renderBar();
            },
          }), a.title)))
          : h("li.muted", "No article found."));
      } catch (err) {
        clear(out, h("li.form-error", errorText(err)));
      }
    });
    return form;
  }

  suggestArticle() {
    const number = this.id;
    const title = h("input#kb-title", { required: true, maxlength: 256, value: this.case.subject });
    const body = h("textarea#kb-body", { required: true, rows: 6, maxlength: 20000 });
    const form = h("form.grid-form", { "aria-label": "New article" },
      h("p.span-all", "No article was linked. Write one for the next agent?"),
      h("label", { for: "kb-title" }, "Title"), title,
      h("label", { for: "kb-body" }, "Text"), body,
      h("div.actions", h("button.primary", { type: "submit" }, "Save article")));
    const dialog = modal("Knowledge base", form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await this.conn.request({ type: "put_article", title: title.value.trim(), body: body.value, case: number });
        dialog.close();
        toast("Article saved and linked.");
      } catch (err) {
        toast(errorText(err), "error");
      }
    });
  }
}
