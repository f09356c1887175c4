// The supervisor's cases: a search over every case (queue, status, assignee,
// open only) with the case page beside it, a new case, and the case settings (case
// queues with their service levels and members, customer notification
// texts). The case page is the agents' own (case_page.js): the server tells
// it what a supervisor may do (`workable`: every open case).

import { $, h, clear, toast, errorText, dateTime, label, modal, IDENT } from "./dom.js";
import { caseLookups, caseQueueName, casePill } from "./cases.js";
import { CasePanel } from "./case_page.js";

/** The Cases tab. Returns `{ open(number), close(number), destroy() }`. */
export function supervisorCases(app) {
  const conn = app.conn;
  const f = {
    queue: h("select#svc-queue", h("option", { value: "" }, "All case queues")),
    status: h("select#svc-status", h("option", { value: "" }, "Any status")),
    assignee: h("input#svc-assignee", { pattern: IDENT, placeholder: "username" }),
    open: h("input#svc-open", { type: "checkbox", checked: true }),
  };
  const results = h("tbody");
  const host = { workspace: h("div.sv-case-page"), details: h("div.sv-case-details") };
  const field = (k, text) => h("div.field", h("label", { for: f[k].id }, text), f[k]);
  const form = h("form.chat-search.sv-case-search", { role: "search", "aria-label": "Find cases" },
    h("div.search-grid.flat",
      field("queue", "Case queue"), field("status", "Status"), field("assignee", "Assignee"),
      h("div.field", h("span.label-like", "Show"), h("label.check", f.open, " open cases only"))),
    h("div.actions", h("button.primary", { type: "submit" }, "Search")));
  const listView = h("div.sv-case-list",
    form,
    h("table.data.sv-case-table", { "aria-label": "Cases" },
      h("thead", h("tr", ["Case", "Subject", "Status", "Priority", "Case queue", "Assignee", "Registered", "Resolve by"]
        .map((t) => h("th", { scope: "col" }, t)))),
      results));
  const pageView = h("div.sv-case-view", { hidden: true }, host.workspace, host.details);
  clear($("#panel-cases"),
    h("div.panel-head", h("h2", "Cases"),
      h("button.primary.small.new-case", { type: "button", onclick: () => newCase() }, "New case")),
    listView, pageView);

  let panel = null;
  let lookups = null;
  let timer = null;

  async function fillFilters() {
    lookups = await caseLookups(app);
    clear(f.queue, h("option", { value: "" }, "All case queues"),
      lookups.queues.map((q) => h("option", { value: q.id }, q.name || q.id)));
    clear(f.status, h("option", { value: "" }, "Any status"),
      lookups.statuses.map((s) => h("option", { value: s.id }, s.name)));
  }

  async function search() {
    const frame = { type: "list_cases", open_only: f.open.checked, limit: 200 };
    if (f.queue.value) frame.queue = f.queue.value;
    if (f.status.value) frame.status = f.status.value;
    if (f.assignee.value.trim()) frame.assignee = f.assignee.value.trim();
    try {
      if (!lookups) await fillFilters();
      const reply = await conn.request(frame);
      clear(results, reply.cases.length ? reply.cases.map((c) => h("tr", { dataset: { case: c.number, status: c.status } },
        h("th", { scope: "row" }, h("button.link.case-open", { type: "button", onclick: () => open(c.number) }, c.number)),
        h("td.case-subject", c.subject),
        h("td", casePill(c.status, lookups)),
        h("td", label(c.priority)),
        h("td", caseQueueName(lookups, c.queue)),
        h("td.case-assignee", c.assignee || "—"),
        h("td", dateTime(c.created_at)),
        h("td", dateTime(c.resolution_due))))
        : h("tr", h("td.muted", { colspan: 8 }, "No cases match.")));
    } catch (err) {
      if (err.code === "disconnected" || err.code === "offline") return;
      toast(`Cases unavailable: ${errorText(err)}`, "error");
    }
  }

  function showList() {
    if (panel) panel.destroy();
    panel = null;
    pageView.hidden = true;
    listView.hidden = false;
    search();
  }

  function open(number) {
    app.selectTab("cases");
    if (panel && panel.id === number) {
      panel.reload();
      return panel;
    }
    if (panel) panel.destroy();
    listView.hidden = true;
    pageView.hidden = false;
    panel = new CasePanel(app, number, { host, back: { text: "All cases", action: showList } });
    return panel;
  }

  /** Register a case that came by no call or chat (a letter, a walk-in). */
  async function newCase() {
    try {
      if (!lookups) await fillFilters();
    } catch (err) {
      toast(errorText(err), "error");
      return;
    }
    const n = {
      subject: h("input#svn-subject", { required: true, maxlength: 256 }),
      description: h("textarea#svn-description", { rows: 4, maxlength: 20000 }),
      queue: h("select#svn-queue", { required: true }, lookups.queues.map((q) => h("option", { value: q.id }, q.name || q.id))),
      priority: h("select#svn-priority", lookups.priorities.map((p) => h("option", { value: p, selected: p === "medium" }, label(p)))),
      email: h("input#svn-email", { type: "email", maxlength: 256 }),
    };
    const row = (k, text) => [h("label", { for: n[k].id }, text), n[k]];
    const error = h("p.form-error", { role: "alert", hidden: true });
    const create = h("form.grid-form.new-case-form",
      row("subject", "Subject"), row("description", "Description"), row("queue", "Case queue"),
      row("priority", "Priority"), row("email", "Notify email"),
      error, h("div.actions", h("button.primary", { type: "submit" }, "Register case")));
    const dialog = modal("New case", create);
    create.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.hidden = true;
      const frame = {
        type: "create_case", subject: n.subject.value.trim(), description: n.description.value,
        queue: n.queue.value, priority: n.priority.value,
      };
      if (n.email.value.trim()) frame.email = n.email.value.trim();
      try {
        const detail = await conn.request(frame);
        dialog.close();
        toast(`Case ${detail.case.number} registered.`);
        open(detail.case.number);
      } catch (err) {
        error.textContent = errorText(err);
        error.hidden = false;
      }
    });
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });
  // The list follows the changes this supervisor is told of (those it made,
  // registered or watches); Search shows everyone else's.
  const off = conn.on("case_changed", () => {
    if (panel) return; // the open page follows its own case
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });

  return {
    open,
    close: (number) => {
      if (panel && panel.id === number) showList();
    },
    reload: () => {
      lookups = null;
      if (!panel) search();
    },
    destroy: () => {
      off();
      clearTimeout(timer);
      if (panel) panel.destroy();
    },
  };
}

// --------------------------------------------------------------- settings

/** The Case settings tab: case queues and customer notification texts. */
export function caseSettings(app, onChange) {
  const conn = app.conn;
  const queueBody = h("tbody");
  const mailBody = h("tbody");
  clear($("#panel-case-settings"),
    h("div.panel-head", h("h2", "Case queues"),
      h("button.primary.small.new-case-queue", { type: "button", onclick: () => editQueue(null) }, "New case queue")),
    h("table.data.case-queue-table",
      h("thead", h("tr", ["Case queue", "Take", "First response", "Resolution", "Members", ""]
        .map((t) => h("th", { scope: "col" }, t)))),
      queueBody),
    h("h2", "Customer notifications"),
    h("p.muted", "Mailed to the customer when a case is registered, moves, or gets a reply. "
      + "$number, $subject, $status, $assignee, $resolution_due and $satisfaction_links are filled in; "
      + "in a reply also $text and $agent."),
    h("table.data.mail-template-table",
      h("thead", h("tr", ["Notification", "Subject", ""].map((t) => h("th", { scope: "col" }, t)))),
      mailBody));

  async function load() {
    try {
      app._caseLookups = null; // fetch afresh: another supervisor may have changed them
      const lookups = await caseLookups(app);
      clear(queueBody, lookups.queues.map((q) => h("tr", { dataset: { caseQueue: q.id } },
        h("th", { scope: "row" }, q.name ? `${q.name} (${q.id})` : q.id),
        h("td", q.take === "any" ? "any case" : "next only"),
        h("td.num", `${q.response_hours} h`),
        h("td.num", `${q.resolution_hours} h`),
        h("td.cq-members", q.members.join(", ") || "—"),
        h("td", h("button.small", { type: "button", "aria-label": `Edit case queue ${q.id}`, onclick: () => editQueue(q) }, "Edit")))));
      clear(mailBody, lookups.mail_templates.map((t) => h("tr", { dataset: { mailTemplate: t.id } },
        h("th", { scope: "row" }, label(t.id)),
        h("td.mt-subject", t.subject),
        h("td", h("button.small", { type: "button", "aria-label": `Edit ${label(t.id)}`, onclick: () => editMail(t) }, "Edit")))));
    } catch (err) {
      if (err.code === "disconnected" || err.code === "offline") return;
      toast(`Case settings unavailable: ${errorText(err)}`, "error");
    }
  }

  function dialogForm(title, fields, submit) {
    const error = h("p.form-error", { role: "alert", hidden: true });
    const form = h("form.grid-form", fields, error, h("div.actions", h("button.primary", { type: "submit" }, "Save")));
    const dialog = modal(title, form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        await submit();
        dialog.close();
        await load();
        onChange();
      } catch (err) {
        error.textContent = errorText(err);
        error.hidden = false;
      }
    });
  }

  function editQueue(q) {
    const isNew = !q;
    q = q || { id: "", name: "", take: "any", response_hours: 4, resolution_hours: 24, members: [] };
    const f = {
      id: h("input#cqf-id", { required: true, pattern: IDENT, value: q.id, readonly: isNew ? null : true }),
      name: h("input#cqf-name", { value: q.name, maxlength: 256 }),
      take: h("select#cqf-take",
        h("option", { value: "any", selected: q.take === "any" }, "Any case (take any)"),
        h("option", { value: "next", selected: q.take === "next" }, "Next case only (take next)")),
      response: h("input#cqf-response", { type: "number", min: 0, step: "any", required: true, value: String(q.response_hours) }),
      resolution: h("input#cqf-resolution", { type: "number", min: 0, step: "any", required: true, value: String(q.resolution_hours) }),
      members: h("input#cqf-members", { value: q.members.join(", "), placeholder: "alice, bob" }),
    };
    const row = (k, text) => [h("label", { for: f[k].id }, text), f[k]];
    dialogForm(isNew ? "New case queue" : `Case queue ${q.id}`,
      [row("id", "Id"), row("name", "Name"), row("take", "Agents take"), row("response", "First response (hours)"),
        row("resolution", "Resolution (hours)"), row("members", "Members")],
      async () => {
        const queue = {
          id: f.id.value.trim(), name: f.name.value.trim(), take: f.take.value,
          response_hours: Number(f.response.value), resolution_hours: Number(f.resolution.value),
          members: f.members.value.split(",").map((x) => x.trim()).filter(Boolean),
        };
        await conn.request({ type: "put_case_queue", queue });
        toast(`Case queue ${queue.id} saved.`);
      });
  }

  function editMail(t) {
    const f = {
      subject: h("input#mtf-subject", { required: true, maxlength: 256, value: t.subject }),
      body: h("textarea#mtf-body", { required: true, rows: 10, maxlength: 20000 }),
    };
    f.body.value = t.body;
    dialogForm(label(t.id),
      [h("label", { for: "mtf-subject" }, "Subject"), f.subject, h("label", { for: "mtf-body" }, "Text"), f.body],
      async () => {
        await conn.request({ type: "put_mail_template", template: { id: t.id, subject: f.subject.value, body: f.body.value } });
        toast(`${label(t.id)} saved.`);
      });
  }

  return { load };
}
