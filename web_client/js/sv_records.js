// A supervisor's view of one chat or call, with what a supervisor may change:
// the chat record (name, result, details, notes), the customer's
// identification, a call's result, and the contact's customer journey; and
// an agent's calls (scheduled and recent). Agents do the same from their
// workspace (chat.js, call.js); a supervisor corrects records afterwards.

import { h, clear, toast, errorText, dateTime, duration, label, modal, section } from "./dom.js";
import { queueNamer, chatFacts, transcriptList, callFacts, callSteps } from "./history.js";
import { identification, journeyTable } from "./contacts.js";
import { recordForm } from "./chat.js";

/** The result lookup (asked once per sign-in). */
function results(app) {
  if (!app._results) {
    app._results = app.conn.request({ type: "get_lookups" }).then((l) => l.results, (err) => {
      app._results = null;
      throw err;
    });
  }
  return app._results;
}

function resultSelect(id, options, current) {
  return h("select", { id },
    h("option", { value: "" }, "— no result —"),
    options.map((o) => h("option", { value: o.id, selected: o.id === current }, o.name)));
}

/** Open a chat or a call by its id; returns the dialog. */
export async function openRecord(app, interaction) {
  const conn = app.conn;
  try {
    const [chat, queueName, options] = await Promise.all([
      conn.request({ type: "get_chat", interaction }), queueNamer(conn), results(app)]);
    return chatDialog(app, chat, queueName, options);
  } catch (err) {
    if (err.code !== "not_found") {
      toast(errorText(err), "error");
      return null;
    }
  }
  try {
    const [detail, queueName, options] = await Promise.all([
      conn.request({ type: "get_call", interaction }), queueNamer(conn), results(app)]);
    return callDialog(app, detail.record, queueName, options);
  } catch (err) {
    toast(errorText(err), "error");
    return null;
  }
}

/** Show it again, fresh from the server (after a change that moves its facts). */
function reopen(app, dialog, interaction) {
  dialog.close();
  return openRecord(app, interaction);
}

function journeyBox(app, contact, dialog) {
  const box = h("div.journey-box");
  if (!contact) return null;
  const show = h("button.small.journey-btn", { type: "button" }, "Show customer journey");
  show.addEventListener("click", async () => {
    try {
      clear(box, await journeyTable(app, contact.id, {
        onOpen: (e) => reopen(app, dialog, e.interaction),
      }));
    } catch (err) {
      toast(errorText(err), "error");
    }
  });
  clear(box, show);
  return box;
}

function chatDialog(app, chat, queueName, options) {
  const r = chat.record;
  const ix = r.interaction;
  const id = ix.id;
  const side = h("div.sv-record-side", chatFacts(chat, queueName));
  const dialog = modal(`Chat with ${r.contact ? r.contact.name || r.contact.id : ix.customer.name || id}`,
    h("div.transcript-box.editable", side, transcriptList(chat, "")), { wide: true });
  // The agents' form, saved and then shown again with the stored record.
  const form = recordForm(app.conn, {
    interaction: id, prefix: "svr", record: () => r,
    resultSelect: resultSelect("svr-result", options, r.result),
    onSaved: () => reopen(app, dialog, id),
  });
  const number = ix.customer.phone || (r.contact && r.contact.phones[0]) || "";
  side.append(
    section("Result and notes", form, true, "result-section"),
    section("Customer", identification(app, {
      interaction: id, record: r, number,
      defaults: { name: ix.customer.name, phone: ix.customer.phone, email: ix.customer.email },
      onIdentified: () => reopen(app, dialog, id),
    }), !r.contact, "customer-section"),
    r.contact ? section("Customer journey", journeyBox(app, r.contact, dialog), false) : null);
  return dialog;
}

function callDialog(app, r, queueName, options) {
  const id = r.interaction.id;
  const result = resultSelect("svr-call-result", options, r.result);
  const reason = h("textarea#svr-call-reason", { rows: 2, maxlength: 1000 });
  reason.value = r.reason || "";
  const form = h("form.record-form", { "aria-label": "Call result" },
    h("label", { for: "svr-call-result" }, "Result"), result,
    h("label", { for: "svr-call-reason" }, "Reason"), reason,
    h("div.actions", h("button.primary.small", { type: "submit" }, "Save result")));
  const side = h("div.sv-record-side", callFacts(r, queueName));
  const dialog = modal(`Call ${r.number}`, h("div.transcript-box.editable", side, callSteps(r)), { wide: true });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await app.conn.request({ type: "set_call_result", interaction: id, result: result.value || null, reason: reason.value });
      toast("Call result saved.");
      reopen(app, dialog, id);
    } catch (err) {
      toast(`Not saved: ${errorText(err)}`, "error");
    }
  });
  side.append(
    section("Result", form, true, "result-section"),
    r.contact ? section("Customer journey", journeyBox(app, r.contact, dialog), false) : null);
  return dialog;
}

/** An agent's pending scheduled calls and last calls, in a dialog. */
export async function agentCalls(app, username) {
  try {
    const list = await app.conn.request({ type: "list_calls", agent: username, limit: 20 });
    const queueName = await queueNamer(app.conn);
    let dialog = null;
    const scheduled = list.scheduled.length
      ? h("table.data.sv-scheduled", { "aria-label": "Scheduled calls" },
        h("thead", h("tr", ["When", "Number", "Device", "Queue"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", list.scheduled.map((s) => h("tr", { dataset: { scheduled: s.id } },
          h("td", dateTime(s.at)), h("td", s.number), h("td", s.device), h("td", s.queue ? queueName(s.queue) : "—")))))
      : h("p.muted", "No scheduled calls.");
    const recent = list.recent.length
      ? h("table.data.sv-recent", { "aria-label": "Recent calls" },
        h("thead", h("tr", ["Started", "Direction", "Number", "Queue", "Talked", "Result", "Case", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", list.recent.map((c) => h("tr", { dataset: { interaction: c.interaction } },
          h("td", dateTime(c.started_at)),
          h("td", `${label(c.direction)} (${label(c.kind)})`),
          h("td", c.contact ? `${c.contact.name || c.contact.id} · ${c.number}` : c.number),
          h("td", queueName(c.queue)),
          h("td.num", c.talking != null ? duration(c.talking) : "—"),
          h("td", c.result ? label(c.result) : label(c.state)),
          h("td", c.case || "—"),
          h("td", h("button.small", { type: "button", onclick: () => { dialog.close(); openRecord(app, c.interaction); } }, "Open"))))))
      : h("p.muted", "No calls yet.");
    dialog = modal(`Calls of ${username}`, h("div.sv-agent-calls",
      h("h3", "Scheduled"), scheduled, h("h3", "Recent"), recent), { wide: true });
    return dialog;
  } catch (err) {
    toast(errorText(err), "error");
    return null;
  }
}
