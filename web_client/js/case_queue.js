// The agent's case queues ("take next" / "take any") and the sidebar list of
// the cases assigned to the agent; both follow case_changed pushes. The
// server filters (queue, assignee group), orders (the line "take next"
// follows) and says which case the agent may take (`takeable`).

import { $, h, clear, sync, markCurrent, toast, errorText, dateTime, label } from "./dom.js";
import { caseLookups, myCaseQueues, casePill } from "./cases.js";

export class CaseQueuePanel {
  constructor(app) {
    this.app = app;
    this.conn = app.conn;
    this.id = "case-queue";
    this.kind = "cases";
    this.preview = false;
    this.destroyed = false;
    this.timer = null;
    this.body = h("div.case-body");
    clear($("#workspace"), h("div.case-ws.case-queue-ws",
      h("header.ws-head",
        h("div.ws-title", h("h2", "Case queue"), h("p.ws-meta", "Cases waiting in your case queues, most urgent first.")),
        h("div.ws-actions", h("button.primary.take-next-any", { type: "button", onclick: () => this.take({}) }, "Take next"))),
      this.body));
    clear($("#details"), h("div.details-inner", h("p.muted.pad", "Open a case to see its details.")));
    clear(this.body, h("p.muted", "Loading…"));
    this.off = this.conn.on("case_changed", () => this.reloadSoon());
    this.reload();
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this.timer);
    this.off();
  }

  reloadSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), 200);
  }

  async reload() {
    try {
      const lookups = await caseLookups(this.app);
      const queues = myCaseQueues(lookups, this.app.username);
      // Per queue: its own open cases (with the one "take next" gives) and
      // those escalated to it as their assignee group, most urgent first.
      const ask = (filter) => this.conn.request({ type: "list_cases", ...filter, open_only: true, order: "line", limit: 200 });
      const lists = await Promise.all(queues.map((q) => Promise.all([ask({ queue: q.id }), ask({ group: q.id })])));
      if (this.destroyed) return;
      // sync: the sections a case_changed did not touch stay as they are.
      sync(this.body, queues.length
        ? queues.map((q, i) => this.queueSection(lookups, q, {
          cases: lists[i][0].cases,
          // A case escalated to its own queue is listed once, with the queue's.
          escalated: lists[i][1].cases.filter((c) => c.queue !== q.id),
          next: lists[i][0].next,
        }))
        : h("p.muted", "You are not a member of any case queue."));
    } catch (err) {
      if (this.destroyed || err.code === "disconnected" || err.code === "offline") return;
      clear(this.body, h("p.form-error", errorText(err)));
    }
  }

  caseTable(lookups, cases, next, caption) {
    const rows = cases.map((c) => h("tr", {
      dataset: { case: c.number, status: c.status }, class: c.number === next ? "next" : "",
    },
    h("td", h("button.link.case-open", { type: "button", onclick: () => this.app.openCase(c.number) }, c.number)),
    h("td.case-subject", c.subject),
    h("td", label(c.priority)),
    h("td", casePill(c.status, lookups)),
    h("td", c.assignee || "—"),
    h("td", dateTime(c.resolution_due)),
    h("td", c.takeable
      ? h("button.small.take-case", { type: "button", onclick: () => this.take({ case: c.number }) }, "Take")
      : null)));
    return h("table.data.case-table", { "aria-label": caption },
      h("thead", h("tr", ["Case", "Subject", "Priority", "Status", "Assignee", "Resolve by", ""]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", rows));
  }

  queueSection(lookups, q, list) {
    const any = q.take === "any";
    const titleId = `cq-${q.id}`;
    const name = q.name || q.id;
    return h("section.call-section.case-queue", { "aria-labelledby": titleId, dataset: { queue: q.id, take: q.take } },
      h("div.panel-head",
        h("h3", { id: titleId }, name,
          h("span.muted.small", any ? " · take any case" : " · take the next case only")),
        h("button.small.take-next", {
          type: "button", disabled: !list.next, onclick: () => this.take({ queue: q.id }),
        }, list.next ? `Take next (${list.next})` : "Nothing to take")),
      list.cases.length
        ? this.caseTable(lookups, list.cases, list.next, `Cases of ${name}`)
        : h("p.muted", "No open cases."),
      list.escalated.length
        ? h("div.case-escalated", { dataset: { group: q.id } },
          h("h4", `Escalated to ${name}`),
          this.caseTable(lookups, list.escalated, list.next, `Cases escalated to ${name}`))
        : null);
  }

  async take(what) {
    try {
      const detail = await this.conn.request({ type: "take_case", ...what });
      toast(`Case ${detail.case.number} is yours.`);
      this.app.openCase(detail.case.number);
    } catch (err) {
      toast(`Not taken: ${errorText(err)}`, "error");
      this.reload();
    }
  }
}

/** The sidebar list of my open cases; returns a function that stops it. */
export function myCasesList(app) {
  const list = $("#case-list");
  let timer = null;
  const render = async () => {
    try {
      const [lookups, mine] = await Promise.all([caseLookups(app),
        app.conn.request({ type: "list_cases", assignee: app.username, open_only: true, limit: 50 })]);
      const selected = app.panel ? app.panel.id : null;
      sync(list, mine.cases.length
        ? mine.cases.map((c) => h("li", h("button.ix-item.case-item", {
          type: "button", dataset: { case: c.number },
          onclick: () => app.openCase(c.number),
        },
        h("span.ch-badge", { dataset: { channel: "case" }, "aria-hidden": "true" }, "▤"),
        h("span.ix-main", h("span.ix-title", c.subject), h("span.ix-sub", c.number)),
        h("span.ix-side", casePill(c.status, lookups)))))
        : h("li.empty", "No cases assigned to you"));
      markCurrent(list, "case", selected);
    } catch (err) {
      if (err.code !== "disconnected" && err.code !== "offline") clear(list, h("li.empty", errorText(err)));
    }
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(render, 200);
  };
  const off = app.conn.on("case_changed", soon);
  const offWelcome = app.conn.on("welcome", soon);
  render();
  return { refresh: soon, stop: () => { off(); offWelcome(); clearTimeout(timer); clear(list); } };
}
