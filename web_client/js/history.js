// Chat history: search_chats with its filters, and a read-only transcript.

import { h, clear, label, customerName, toast, errorText, dateTime, modal, IDENT } from "./dom.js";
import { renderMessage } from "./chat.js";

const SOURCES = ["webchat", "telegram", "whatsapp", "viber", "messenger", "other"];

// Queue names, per sign-in: an agent's queues come with the welcome; a
// supervisor sees every queue, named in the configuration (asked once).
const namers = new WeakMap(); // welcome -> Promise<(id) => name>

/** A function giving a queue's name (its id when unknown) for `conn`'s sign-in. */
export function queueNamer(conn) {
  const welcome = conn.welcome || {};
  let namer = namers.get(welcome);
  if (!namer) {
    const names = new Map((welcome.queues || []).map((q) => [q.id, q.name || q.id]));
    const config = welcome.role === "supervisor"
      ? conn.request({ type: "get_config" }).then((c) => c.queues, () => [])
      : Promise.resolve([]);
    namer = config.then((queues) => {
      for (const q of queues) names.set(q.id, q.name || q.id);
      return (id) => names.get(id) || id;
    });
    if (conn.welcome) namers.set(welcome, namer);
  }
  return namer;
}

let formSeq = 0;

/** A search form and its results; `onOpen(record)` opens one. */
export function chatSearch(conn, { agentField = true, onOpen } = {}) {
  const n = ++formSeq;
  const id = (k) => `hs-${n}-${k}`;
  const field = (k, text, el) => [h("label", { for: id(k) }, text), Object.assign(el, { id: id(k) })];
  const contact = h("input", { name: "contact", placeholder: "contact id" });
  const contactQuery = h("input", { type: "search", "aria-label": "Find a contact by name", placeholder: "find by name, phone…" });
  const contactHits = h("ul.contact-hits");
  const findContact = h("button.small", { type: "button" }, "Find");
  findContact.addEventListener("click", async () => {
    const q = contactQuery.value.trim();
    if (!q) return;
    try {
      const found = await conn.request({ type: "find_contacts", query: q, limit: 10 });
      clear(contactHits, found.contacts.length ? found.contacts.map((c) => h("li",
        h("button.link.small", { type: "button", onclick: () => { contact.value = c.id; clear(contactHits); } },
          `${c.name || c.id}${c.phones.length ? ` · ${c.phones[0]}` : ""}`))) : h("li.muted", "No contact found."));
    } catch (err) {
      toast(errorText(err), "error");
    }
  });
  const agent = h("input", { name: "agent", placeholder: "username", pattern: IDENT });
  const source = h("select", { name: "source" }, h("option", { value: "" }, "any"), SOURCES.map((s) => h("option", { value: s }, s)));
  const queue = h("input", { name: "queue", placeholder: "queue id", pattern: IDENT });
  const state = h("select", { name: "state" }, h("option", { value: "" }, "any"),
    ["new", "in_progress", "completed"].map((s) => h("option", { value: s }, label(s))));
  const since = h("input", { type: "date", name: "since" });
  const until = h("input", { type: "date", name: "until" });
  const limit = h("input", { type: "number", name: "limit", min: 1, max: 500, value: "50" });
  const results = h("div.search-results", { "aria-live": "polite" });
  const form = h("form.chat-search", { role: "search", "aria-label": "Search chat history" },
    h("div.search-grid",
      h("div.field", field("contact", "Contact", contact), h("div.inline", contactQuery, findContact), contactHits),
      agentField ? h("div.field", field("agent", "Agent", agent)) : null,
      h("div.field", field("source", "Source", source)),
      h("div.field", field("queue", "Queue", queue)),
      h("div.field", field("state", "State", state)),
      h("div.field", field("since", "From", since)),
      h("div.field", field("until", "To", until)),
      h("div.field", field("limit", "At most", limit))),
    h("div.actions", h("button.primary", { type: "submit" }, "Search")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const frame = { type: "search_chats", limit: Number(limit.value) || 50 };
    if (contact.value.trim()) frame.contact = contact.value.trim();
    if (agentField && agent.value.trim()) frame.agent = agent.value.trim();
    if (source.value) frame.source = source.value;
    if (queue.value.trim()) frame.queue = queue.value.trim();
    if (state.value) frame.state = state.value;
    if (since.value) frame.since = new Date(`${since.value}T00:00`).getTime() / 1000;
    if (until.value) frame.until = new Date(`${until.value}T00:00`).getTime() / 1000 + 86400;
    try {
      const [reply, queueName] = await Promise.all([conn.request(frame), queueNamer(conn)]);
      clear(results, resultsTable(reply.chats, onOpen, queueName));
    } catch (err) {
      clear(results, h("p.form-error", { role: "alert" }, errorText(err)));
    }
  });
  return h("div.chat-search-box", form, results);
}

function resultsTable(chats, onOpen, queueName) {
  if (!chats.length) return h("p.muted", "No chats match.");
  return h("table.data.history-table", h("caption.visually-hidden", "Chats found"),
    h("thead", h("tr", ["Started", "Customer", "Agents", "Queue", "Source", "State", "Result", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", chats.map((r) => h("tr", { dataset: { interaction: r.interaction.id } },
      h("td", dateTime(r.interaction.accepted_at || r.interaction.created_at)),
      h("td", r.contact ? r.contact.name || customerName(r.interaction) : customerName(r.interaction)),
      h("td", r.agents.join(", ") || "—"),
      h("td", { dataset: { queue: r.interaction.queue } }, queueName(r.interaction.queue)),
      h("td", r.interaction.source || "—"),
      h("td", h("span.pill", { dataset: { state: r.state || r.interaction.status } }, label(r.state || r.interaction.status))),
      h("td", r.result || "—"),
      h("td", h("button.small", { type: "button", onclick: () => onOpen(r) }, "Open"))))));
}

/** A chat's transcript or a call's journey, read-only, in a dialog. */
export async function showInteraction(conn, interaction) {
  try {
    const [chat, queueName] = await Promise.all([conn.request({ type: "get_chat", interaction }), queueNamer(conn)]);
    return transcriptDialog(chat, "", queueName);
  } catch (err) {
    if (err.code !== "not_found") {
      toast(errorText(err), "error");
      return null;
    }
  }
  try {
    const [{ record: r }, queueName] = await Promise.all([conn.request({ type: "get_call", interaction }), queueNamer(conn)]);
    return modal(`Call ${r.number}`, h("div.transcript-box", callFacts(r, queueName), callSteps(r)), { wide: true });
  } catch (err) {
    toast(errorText(err), "error");
    return null;
  }
}

function transcriptDialog(chat, me, queueName) {
  const ix = chat.record.interaction;
  return modal(`Chat with ${customerName(ix)}`,
    h("div.transcript-box", chatFacts(chat, queueName), transcriptList(chat, me)), { wide: true });
}

/** A call's record as facts. */
export function callFacts(r, queueName) {
  const ix = r.interaction;
  return h("dl.facts",
    h("dt", "Number"), h("dd", r.number),
    h("dt", "Kind"), h("dd", label(r.kind)),
    h("dt", "State"), h("dd", label(r.state)),
    h("dt", "Agent"), h("dd", ix.agent || "—"),
    h("dt", "Queue"), h("dd", { dataset: { queue: ix.queue } }, queueName(ix.queue)),
    h("dt", "Contact"), h("dd", r.contact ? r.contact.name || r.contact.id : "not identified"),
    h("dt", "Answered"), h("dd", dateTime(r.answered_at) || "—"),
    h("dt", "Result"), h("dd.call-result-fact", r.result ? label(r.result) : "—"));
}

/** A call's journey: its steps, in order. */
export function callSteps(r) {
  return h("ol.steps", r.steps.map((s) => h("li", { dataset: { step: s.step } },
    h("time", new Date(s.at * 1000).toLocaleTimeString()), h("span.step-name", label(s.step)), s.detail ? h("span.step-detail", s.detail) : null)));
}

/** The whole transcript of a chat. */
export function transcriptList(chat, me) {
  const ix = chat.record.interaction;
  return h("ol.messages.transcript", { "aria-label": "Transcript" },
    chat.messages.map((m) => renderMessage(m, { me, customer: customerName(ix) })));
}

/** A chat's record as facts. */
export function chatFacts(chat, queueName) {
  const r = chat.record;
  const ix = r.interaction;
  return h("dl.facts.wide-facts",
    h("dt", "Customer"), h("dd", r.contact ? r.contact.name || r.contact.id : customerName(ix)),
    h("dt", "Agents"), h("dd", r.agents.join(", ") || "—"),
    h("dt", "Source"), h("dd", ix.source || "—"),
    h("dt", "Queue"), h("dd", { dataset: { queue: ix.queue } }, queueName(ix.queue)),
    h("dt", "Start"), h("dd", dateTime(ix.accepted_at) || "—"),
    h("dt", "End"), h("dd", dateTime(ix.ended_at) || "—"),
    h("dt", "State"), h("dd", label(r.state || ix.status)),
    h("dt", "Result"), h("dd", r.result || "—"),
    r.result_details ? [h("dt", "Result details"), h("dd", r.result_details)] : null,
    r.notes ? [h("dt", "Notes"), h("dd", r.notes)] : null);
}
