// The lists the control API keeps: transactions, logs, check-ins, the near-miss journal, the
// faults in force, and any one record the stream names. Each reads the newest rows only
// (?limit=) and shows them a page at a time.

import {ApiError, call, get, projects} from "./api.js";
import {h, jsonBlock, note, pagedTable, replace, text, time} from "./dom.js";

const NEWEST = 500;

async function projectFilter(container, title, params, hash) {
  const found = await projects();
  const select = h("select", {id: "table-project", onchange: () => {
    location.hash = select.value ? `${hash}?project=${encodeURIComponent(select.value)}` : hash;
  }}, h("option", {value: ""}, "all projects"),
    found.map(p => h("option", {value: p.id, selected: p.id === params.get("project")}, `${p.org} / ${p.slug}`)));
  const results = h("div", {class: "results"}, note("Loading…"));
  replace(container, h("h1", {}, title),
    h("div", {class: "toolbar"}, h("label", {for: "table-project"}, "project "), select), results);
  return {results, project: params.get("project") || "", slugs: new Map(found.map(p => [p.id, p.slug]))};
}

function failed(holder, error) {
  replace(holder, note(error instanceof ApiError ? error.detail : String(error), "error"));
}

export async function transactionsView(container, {params}) {
  const {results, project, slugs} = await projectFilter(container, "Transactions", params, "#/transactions");
  try {
    // the events list by type (``/__parlel/transactions`` lists every type of event as of this writing)
    const answer = await get("/__parlel/events", {type: "transaction", project, limit: NEWEST});
    const rows = answer.events.slice().reverse();
    replace(results, rows.length ? pagedTable([
      {title: "transaction", cell: t => h("a", {href: `#/transaction/${t.project}/${encodeURIComponent(t.event_id)}`}, t.transaction || t.event_id)},
      {title: "op", cell: t => ((t.contexts || {}).trace || {}).op || ""},
      {title: "duration", className: "number", cell: t => `${((t.timestamp - t.start_timestamp) * 1000).toFixed(1)} ms`},
      {title: "spans", className: "number", cell: t => String((t.spans || []).length)},
      {title: "project", cell: t => slugs.get(String(t.project)) || String(t.project)},
      {title: "when", cell: t => time(t.timestamp)},
    ], rows) : note("No transactions."));
  } catch (error) { failed(results, error); }
}

export async function logsView(container, {params}) {
  const {results, project, slugs} = await projectFilter(container, "Logs", params, "#/logs");
  try {
    const answer = await get("/__parlel/items", {type: "log", project, limit: NEWEST});
    const rows = [];
    for (const item of answer.items) {
      const logs = item.payload && Array.isArray(item.payload.items) ? item.payload.items : [];
      for (const log of logs) rows.push({...log, project: item.project});
    }
    rows.reverse();
    replace(results, rows.length ? pagedTable([
      {title: "time", cell: l => time(l.timestamp)},
      {title: "level", cell: l => h("span", {class: `level level-${text(l.level)}`}, text(l.level))},
      {title: "body", className: "title", cell: l => text(l.body)},
      {title: "trace", cell: l => text(l.trace_id || "")},
      {title: "attributes", cell: l => h("details", {}, h("summary", {}, `${Object.keys(l.attributes || {}).length}`),
        jsonBlock(l.attributes || {}))},
      {title: "project", cell: l => slugs.get(String(l.project)) || String(l.project)},
    ], rows, {rowAttrs: () => ({class: "log-row"})}) : note("No logs."));
  } catch (error) { failed(results, error); }
}

export async function checkInsView(container, {params}) {
  const {results, project, slugs} = await projectFilter(container, "Check-ins", params, "#/check-ins");
  try {
    const answer = await get("/__parlel/check_ins", {project, limit: NEWEST});
    const rows = answer.check_ins.slice().reverse();
    replace(results, rows.length ? pagedTable([
      {title: "monitor", cell: c => c.monitor},
      {title: "status", cell: c => h("span", {class: `check-in-status status-${text(c.status)}`}, text(c.status))},
      {title: "environment", cell: c => c.environment || ""},
      {title: "duration", className: "number", cell: c => c.duration === null || c.duration === undefined ? "" : `${c.duration} ms`},
      {title: "expected", cell: c => time(c.expectedTime)},
      {title: "received", cell: c => time(c.dateCreated)},
      {title: "project", cell: c => slugs.get(String(c.project)) || String(c.project)},
    ], rows) : note("No check-ins."));
  } catch (error) { failed(results, error); }
}

export async function journalView(container, {params}) {
  const {results, project} = await projectFilter(container, "Near misses", params, "#/journal");
  try {
    const answer = await get("/__parlel/journal", {project, limit: NEWEST});
    const rows = answer.journal.slice().reverse();
    replace(results, rows.length ? pagedTable([
      {title: "received", cell: e => time(e.received)},
      {title: "request", cell: e => `${text(e.method)} ${text(e.path)}`},
      {title: "status", className: "number", cell: e => text(e.status)},
      {title: "cause", className: "title", cell: e => text(e.cause || e.detail)},
      {title: "client", cell: e => text(e.client || e.user_agent || "")},
      {title: "fault", cell: e => e.fault === null || e.fault === undefined ? "" : text(e.fault)},
      {title: "body", cell: e => e.body ? h("details", {}, h("summary", {}, `${text(e.body_size)} bytes`), h("pre", {class: "json"}, text(e.body))) : ""},
    ], rows) : note("No near misses: every request stored all it carried."));
  } catch (error) { failed(results, error); }
}

export async function faultsView(container) {
  const results = h("div", {class: "results"}, note("Loading…"));
  replace(container, h("h1", {}, "Faults in force"),
    h("p", {class: "note"}, "Add faults with POST /__parlel/faults (see the README); they answer here until spent or removed."),
    results);
  async function load() {
    try {
      const answer = await get("/__parlel/faults");
      replace(results, answer.faults.length ? pagedTable([
        {title: "id", cell: f => String(f.id)},
        {title: "action", cell: f => text(f.action)},
        {title: "endpoint", cell: f => text(f.endpoint)},
        {title: "project", cell: f => f.project === null ? "any" : text(f.project)},
        {title: "categories", cell: f => text((f.categories || []).join(", "))},
        {title: "fired", className: "number", cell: f => text(f.fired)},
        {title: "remaining", className: "number", cell: f => f.remaining === null ? "∞" : text(f.remaining)},
        {title: "created", cell: f => time(f.created)},
        {title: "", cell: f => h("button", {type: "button", onclick: async () => {
          try { await call("DELETE", `/__parlel/faults/${encodeURIComponent(f.id)}`); } catch (error) { /* gone already */ }
          load();
        }}, "remove")},
      ], answer.faults) : note("No faults in force."));
    } catch (error) { failed(results, error); }
  }
  load();
}

/** One record the stream named, by its control-API URL (only the daemon's own paths). */
export async function recordView(container, {params}) {
  const url = params.get("url") || "";
  if (!url.startsWith("/__parlel/") && !url.startsWith("/api/0/")) {
    return replace(container, h("h1", {}, "Record"), note("Not a path of this daemon.", "error"));
  }
  replace(container, h("h1", {}, "Record"), h("p", {}, h("code", {}, url)), note("Loading…"));
  try {
    const answer = await call("GET", url);
    replace(container, h("h1", {}, "Record"), h("p", {}, h("code", {}, url)),
      typeof answer.body === "string" ? h("pre", {class: "json"}, answer.body) : jsonBlock(answer.body));
  } catch (error) {
    replace(container, h("h1", {}, "Record"), h("p", {}, h("code", {}, url)), note(String(error), "error"));
  }
}
