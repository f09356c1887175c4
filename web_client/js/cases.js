// Cases from a call or chat: "Add new case" (the contact filled in, linked to
// the interaction) and "Advise on existing case" (the contact's case
// history), plus the case lookups and labels the case pages share.

import { h, clear, toast, errorText, dateTime, label, modal } from "./dom.js";

// ------------------------------------------------------------------ lookups

/** The case lookups (statuses with their allowed next statuses, priorities,
 * case queues), fetched once per sign-in and shared. */
export function caseLookups(app) {
  if (!app._caseLookups) {
    app._caseLookups = app.conn.request({ type: "get_case_lookups" }).catch((err) => {
      app._caseLookups = null;
      throw err;
    });
  }
  return app._caseLookups;
}

export function statusInfo(lookups, id) {
  return lookups.statuses.find((s) => s.id === id) || { id, name: label(id), to: [] };
}

export function caseQueueName(lookups, id) {
  const q = lookups && lookups.queues.find((x) => x.id === id);
  return q ? q.name || q.id : id || "—";
}

/** The case queues `username` works (is a member of). */
export function myCaseQueues(lookups, username) {
  return lookups.queues.filter((q) => q.members.includes(username));
}

export function casePill(status, lookups = null) {
  const name = lookups ? statusInfo(lookups, status).name : label(status);
  return h("span.pill.case-status", { dataset: { state: status } }, name);
}

/** One case as a compact line with an Open button. */
export function caseLine(app, c, lookups, extra = null) {
  return h("li.case-line", { dataset: { case: c.number, status: c.status } },
    h("button.link.case-open", { type: "button", onclick: () => app.openCase(c.number) }, c.number),
    h("span.case-subject", c.subject),
    casePill(c.status, lookups),
    h("span.muted.small", dateTime(c.created_at)),
    extra);
}

// ------------------------------------------------------------ the cases box

/**
 * The "Cases" section of a call or chat: the cases linked to `interaction`,
 * "Add new case" and "Advise on existing case". `current()` gives what the
 * workspace knows now: `{ contact, number, customer }` (the identified
 * contact, the caller's number, the chat's customer).
 */
export function casesBox(app, { interaction, current, onChange }) {
  const linked = h("ul.case-lines.linked-cases", { "aria-label": "Cases of this conversation" });
  const add = h("button.small.primary.add-case", { type: "button" }, "Add new case");
  const advise = h("button.small.advise-case", { type: "button" }, "Advise on existing case");
  const box = h("div.cases-box", { dataset: { interaction } }, h("div.inline", add, advise), linked);

  const refresh = async () => {
    try {
      const [lookups, list] = await Promise.all([
        caseLookups(app), app.conn.request({ type: "list_cases", interaction, limit: 20 })]);
      clear(linked, list.cases.length
        ? list.cases.map((c) => caseLine(app, c, lookups))
        : h("li.muted.small", "No case linked yet."));
    } catch (err) {
      if (err.code !== "disconnected" && err.code !== "offline") clear(linked, h("li.form-error", errorText(err)));
    }
  };
  const changed = () => {
    refresh();
    if (onChange) onChange();
  };
  add.addEventListener("click", () => addCaseDialog(app, { interaction, ...current(), onDone: changed }));
  advise.addEventListener("click", () => adviseDialog(app, { interaction, ...current(), onDone: changed }));
  const off = app.conn.on("case_changed", (f) => {
    if (!box.isConnected) off();
    else if (f.case.interactions.includes(interaction)) refresh();
  });
  refresh();
  return box;
}

// ------------------------------------------------------------ add new case

function field(id, text, input) {
  input.id = id;
  return [h("label", { for: id }, text), input];
}

/** The case lookups, or null after telling the agent why not. */
async function lookupsOrSay(app) {
  try {
    return await caseLookups(app);
  } catch (err) {
    toast(`Cases are not available: ${errorText(err)}`, "error");
    return null;
  }
}

async function addCaseDialog(app, { interaction, contact, number = "", customer = {}, onDone }) {
  const lookups = await lookupsOrSay(app);
  if (!lookups) return;
  const queues = myCaseQueues(lookups, app.username);
  if (!queues.length) {
    toast("You are not a member of any case queue.", "error");
    return;
  }
  const p = `nc-${interaction}`;
  const subject = h("input", { name: "subject", required: true, maxlength: 256 });
  const description = h("textarea", { name: "description", rows: 4, maxlength: 20000 });
  const queue = h("select", { name: "queue" }, queues.map((q) => h("option", { value: q.id }, q.name || q.id)));
  const priority = h("select", { name: "priority" },
    lookups.priorities.map((x) => h("option", { value: x, selected: x === "medium" }, label(x))));
  const email = h("input", {
    name: "email", type: "email", maxlength: 256,
    value: (contact && contact.emails[0]) || customer.email || "",
  });
  // The contact: the identified one, or a new one created with the case.
  let who;
  const nc = {
    name: h("input", { name: "contact_name", maxlength: 256, value: customer.name || "" }),
    phone: h("input", { name: "contact_phone", type: "tel", maxlength: 64, value: number || customer.phone || "" }),
    company: h("input", { name: "contact_company", maxlength: 256 }),
  };
  if (contact) {
    who = h("div.case-contact", { dataset: { contact: contact.id } },
      h("span.label-like", "Contact"), h("strong", contact.name || contact.id),
      contact.account ? h("span.muted", ` · ${contact.account}`) : null);
  } else {
    who = h("fieldset.case-new-contact",
      h("legend", "New contact (leave the name empty for none)"),
      field(`${p}-cname`, "Name", nc.name),
      field(`${p}-cphone`, "Phone", nc.phone),
      field(`${p}-ccompany`, "Company", nc.company));
  }
  const err = h("p.form-error", { role: "alert", hidden: true });
  const submit = h("button.primary", { type: "submit" }, "Create case");
  const form = h("form.case-form.grid-form", { "aria-label": "New case" },
    field(`${p}-subject`, "Subject", subject),
    field(`${p}-description`, "Description", description),
    field(`${p}-queue`, "Case queue", queue),
    field(`${p}-priority`, "Priority", priority),
    h("div.span-all", who),
    field(`${p}-email`, "Notify email", email),
    err, h("div.actions", submit));
  const dialog = modal("Add new case", form);
  subject.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const frame = {
      type: "create_case", interaction, subject: subject.value.trim(), description: description.value,
      queue: queue.value, priority: priority.value,
    };
    if (!frame.subject) return;
    if (email.value.trim()) frame.email = email.value.trim();
    if (contact) {
      frame.contact = contact.id;
    } else if (nc.name.value.trim()) {
      frame.new_contact = { name: nc.name.value.trim(), phone: nc.phone.value.trim(), account: nc.company.value.trim() };
      if (email.value.trim()) frame.new_contact.email = email.value.trim();
    }
    submit.disabled = true;
    err.hidden = true;
    try {
      const detail = await app.conn.request(frame);
      dialog.close();
      toast(`Case ${detail.case.number} created.`);
      if (onDone) onDone(detail.case);
    } catch (e2) {
      err.textContent = errorText(e2);
      err.hidden = false;
      submit.disabled = false;
    }
  });
}

// ------------------------------------------------------ advise on a case

async function adviseDialog(app, { interaction, contact, onDone }) {
  const lookups = await lookupsOrSay(app);
  if (!lookups) return;
  const p = `adv-${interaction}`;
  const list = h("div.case-pick", { role: "radiogroup", "aria-label": "The contact's cases" });
  const ref = h("input", { name: "case", maxlength: 64, placeholder: "SR00000001" });
  const note = h("textarea", { name: "note", rows: 3, maxlength: 20000 });
  const err = h("p.form-error", { role: "alert", hidden: true });
  const submit = h("button.primary", { type: "submit" }, "Record consultation");
  const form = h("form.advise-form", { "aria-label": "Advise on existing case" },
    h("h3", contact ? `Cases of ${contact.name || contact.id}` : "Cases"), list,
    h("div.grid-form", field(`${p}-case`, "Or case number", ref), field(`${p}-note`, "Note", note)),
    err, h("div.actions", submit));
  const dialog = modal("Advise on existing case", form, { wide: true });
  if (contact) {
    clear(list, h("p.muted", "Loading…"));
    try {
      const found = await app.conn.request({ type: "list_cases", contact: contact.id, limit: 100 });
      clear(list, found.cases.length
        ? h("ul.case-lines", found.cases.map((c) => h("li.case-choice", { dataset: { case: c.number } },
          h("label.check",
            h("input", { type: "radio", name: "advise-case", value: c.number }),
            h("span.case-number", c.number), h("span.case-subject", c.subject)),
          casePill(c.status, lookups),
          h("span.muted.small", dateTime(c.created_at)))))
        : h("p.muted", "This contact has no cases."));
    } catch (e) {
      clear(list, h("p.form-error", errorText(e)));
    }
  } else {
    clear(list, h("p.muted", "Identify the customer to pick from their cases, or give the case number."));
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const picked = form.querySelector("input[name=advise-case]:checked");
    const number = ref.value.trim() || (picked && picked.value);
    if (!number) {
      err.textContent = "Pick a case or give its number.";
      err.hidden = false;
      return;
    }
    submit.disabled = true;
    err.hidden = true;
    try {
      const detail = await app.conn.request({ type: "advise_case", case: number, interaction, note: note.value });
      dialog.close();
      toast(`Consultation recorded on ${detail.case.number}.`);
      if (onDone) onDone(detail.case);
    } catch (e2) {
      err.textContent = errorText(e2);
      err.hidden = false;
      submit.disabled = false;
    }
  });
}
