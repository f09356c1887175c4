// Contact identification ("user identification" / caller identification)
// and the customer journey, shared by the chat and the call workspaces.

import { h, clear, toast, errorText, dateTime, label, modal } from "./dom.js";

function contactCard(c, action = null) {
  const lines = [
    c.phones.length ? h("span.c-line", `☎ ${c.phones.join(", ")}`) : null,
    c.emails.length ? h("span.c-line", `✉ ${c.emails.join(", ")}`) : null,
    c.account ? h("span.c-line", `Company: ${c.account}`) : null,
  ];
  return h("div.contact-card", { dataset: { contact: c.id } },
    h("div.c-main", h("strong.c-name", c.name || "(no name)"), lines),
    action);
}

/**
 * The identification outcome and the tools to change it: the one contact
 * found, the candidates to pick from, or a search and a new-contact form.
 */
export function identification(app, { interaction, record, number = "", defaults = {}, onIdentified }) {
  const conn = app.conn;
  const root = h("div.identification");
  const status = h("p.form-error", { role: "alert", hidden: true });

  async function identify(frame, what) {
    status.hidden = true;
    try {
      const reply = await conn.request({ type: "identify", interaction, ...frame });
      toast(`Linked to ${reply.contact.name || reply.contact.id}${what ? ` (${what})` : ""}.`);
      if (onIdentified) onIdentified(reply.contact);
    } catch (err) {
      status.textContent = errorText(err);
      status.hidden = false;
    }
  }
  const pickButton = (c, text = "Pick") => h("button.small.pick-contact", {
    type: "button", onclick: () => identify({ contact: c.id }, "picked"),
    "aria-label": `${text}: ${c.name || c.id}`,
  }, text);

  // The search: by name, phone, email, identity or company name.
  const query = h("input.contact-query", {
    type: "search", "aria-label": "Search contacts", placeholder: "Name, phone, email or company", maxlength: 256,
  });
  const results = h("ul.contact-results", { "aria-live": "polite" });
  const searchForm = h("form.contact-search", { role: "search", "aria-label": "Find a contact" },
    h("div.inline", query, h("button.small", { type: "submit" }, "Search")), results);
  searchForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = query.value.trim();
    if (!q) return;
    try {
      const found = await conn.request({ type: "find_contacts", query: q, limit: 20 });
      clear(results, found.contacts.length
        ? found.contacts.map((c) => h("li", contactCard(c, pickButton(c))))
        : h("li.muted", "No contact found."));
    } catch (err) {
      clear(results, h("li.form-error", errorText(err)));
    }
  });

  // A new contact, created on the spot and linked.
  const f = {
    name: h("input", { name: "name", required: true, maxlength: 256, value: defaults.name || "" }),
    phone: h("input", { name: "phone", type: "tel", maxlength: 64, value: defaults.phone || number || "" }),
    email: h("input", { name: "email", type: "email", maxlength: 256, value: defaults.email || "" }),
    account: h("input", { name: "account", maxlength: 256, value: "" }),
  };
  const ids = {};
  for (const [k, el] of Object.entries(f)) {
    ids[k] = `nc-${k}-${interaction}`;
    el.id = ids[k];
  }
  const newForm = h("form.new-contact", { "aria-label": "New contact" },
    h("label", { for: ids.name }, "Name"), f.name,
    h("label", { for: ids.phone }, "Phone"), f.phone,
    h("label", { for: ids.email }, "Email"), f.email,
    h("label", { for: ids.account }, "Company"), f.account,
    h("div.actions", h("button.primary.small", { type: "submit" }, "Create contact and link")));
  newForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const nc = { name: f.name.value.trim() };
    for (const k of ["phone", "email", "account"]) if (f[k].value.trim()) nc[k] = f[k].value.trim();
    identify({ new_contact: nc }, "new contact");
  });
  const newBox = h("details.new-contact-box", h("summary", "New contact"), newForm);
  const tools = h("div.ident-tools", searchForm, newBox);

  let outcome;
  if (record.contact) {
    outcome = h("div.outcome.outcome-one", { dataset: { outcome: "one" } },
      h("p.outcome-text", "✓ Identified"), contactCard(record.contact));
    tools.hidden = true;
    const change = h("button.link.small", { type: "button", "aria-expanded": "false" }, "Change contact");
    change.addEventListener("click", () => {
      tools.hidden = !tools.hidden;
      change.setAttribute("aria-expanded", String(!tools.hidden));
      if (!tools.hidden) query.focus();
    });
    outcome.append(change);
  } else if (record.candidates.length) {
    outcome = h("div.outcome.outcome-many", { dataset: { outcome: "many" } },
      h("p.outcome-text", `${record.candidates.length} contacts match${number ? ` ${number}` : ""} — pick the right one:`),
      h("ul.candidates", record.candidates.map((c) => h("li", contactCard(c, pickButton(c, "This one"))))));
  } else {
    outcome = h("div.outcome.outcome-none", { dataset: { outcome: "none" } },
      h("p.outcome-text", number ? `No contact matches ${number}.` : "This customer is not identified yet."),
      h("p.muted.small", "Search for the contact, or create a new one."));
    newBox.open = false;
  }
  root.append(outcome, tools, status);
  return root;
}

// ------------------------------------------------------------- journeys

export async function journeyTable(app, contactId, { onOpen } = {}) {
  const j = await app.conn.request({ type: "get_journey", contact: contactId });
  if (!j.entries.length) return h("p.muted", "No calls or chats of this contact in your inboxes.");
  return h("table.journey", { "aria-label": `Customer journey of ${j.contact.name || j.contact.id}` },
    h("thead", h("tr", ["When", "Channel", "Queue", "Agent", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", j.entries.map((e) => h("tr", { dataset: { interaction: e.interaction } },
      h("td", dateTime(e.created_at)),
      h("td", e.kind && e.kind !== e.channel ? `${e.channel} (${label(e.kind)})` : e.channel),
      h("td", { dataset: { queue: e.queue } }, app.queueName ? app.queueName(e.queue) : e.queue),
      h("td", e.agent || "—"),
      h("td", h("span.pill", { dataset: { state: e.status } }, label(e.status))),
      h("td", onOpen ? h("button.link.small", { type: "button", onclick: () => onOpen(e) }, "Open") : null)))));
}

/** A button showing the contact's customer journey in a dialog. */
export function journeyButton(app, contact) {
  return h("button.small.journey-btn", {
    type: "button",
    onclick: async () => {
      try {
        const table = await journeyTable(app, contact.id, {
          onOpen: (e) => {
            dialog.close();
            app.open(e.interaction, e.channel);
          },
        });
        const dialog = modal(`Customer journey — ${contact.name || contact.id}`, table, { wide: true });
      } catch (err) {
        toast(errorText(err), "error");
      }
    },
  }, "Show customer journey");
}
