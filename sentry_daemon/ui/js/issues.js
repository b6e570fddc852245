// The issue list of a project (the daemon parses the search: the page sends it as typed) and one
// issue: its counts and status, resolve / ignore, its events, tags, and why its latest event
// grouped where it did.

import {ApiError, call, get, parseLink, projects} from "./api.js";
import {h, keyValues, note, pager, replace, section, table, text, time} from "./dom.js";
import {groupingView} from "./grouping.js";

const SORTS = [["date", "last seen"], ["new", "first seen"], ["freq", "events"], ["user", "users"],
               ["trends", "trends"], ["priority", "priority"], ["recommended", "recommended"]];
const PAGE = 25;

function hashFor(params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") query.set(name, value);
  return `#/issues?${query}`;
}

export async function issueListView(container, {params}) {
  const found = await projects();
  if (!found.length) return replace(container, h("h1", {}, "Issues"), note("No projects."));
  const project = found.find(p => p.id === params.get("project")) || found[0];
  const query = params.has("query") ? params.get("query") : "is:unresolved";
  const sort = params.get("sort") || "date";
  const cursor = params.get("cursor") || "";

  const projectSelect = h("select", {id: "issues-project", name: "project"},
    found.map(p => h("option", {value: p.id, selected: p === project}, `${p.org} / ${p.slug}`)));
  const search = h("input", {type: "search", id: "issue-search", name: "query", value: query, size: 60,
                             "aria-label": "issue search", spellcheck: "false", autocomplete: "off"});
  const sortSelect = h("select", {id: "issues-sort", name: "sort"},
    SORTS.map(([value, label]) => h("option", {value, selected: value === sort}, label)));
  const results = h("div", {class: "results"}, note("Loading…"));
  const form = h("form", {class: "toolbar", role: "search", onsubmit: event => {
    event.preventDefault();
    location.hash = hashFor({project: projectSelect.value, query: search.value, sort: sortSelect.value});
  }},
    h("label", {for: "issues-project"}, "project "), projectSelect,
    h("label", {for: "issue-search"}, "search "), search,
    h("label", {for: "issues-sort"}, "sort "), sortSelect,
    h("button", {type: "submit"}, "search"));
  projectSelect.addEventListener("change", () => form.requestSubmit());
  sortSelect.addEventListener("change", () => form.requestSubmit());
  replace(container, h("h1", {}, "Issues"), form, results);

  let answer;
  try {
    answer = await call("GET", `/api/0/organizations/${encodeURIComponent(project.org)}/issues/`,
                        {query: {project: project.id, query, sort, cursor, limit: PAGE}});
  } catch (error) {
    return replace(results, note(error instanceof ApiError ? error.detail : String(error), "error"));
  }
  const links = parseLink(answer.headers.get("Link"));
  const base = {project: project.id, query, sort};
  const rows = answer.body;
  replace(results,
    rows.length ? table([
      {title: "issue", cell: i => h("a", {href: `#/issue/${encodeURIComponent(i.id)}`}, i.shortId)},
      {title: "title", className: "title", cell: i => h("span", {}, h("span", {class: "issue-title"}, i.title),
                                                            h("span", {class: "culprit"}, i.culprit || ""))},
      {title: "level", cell: i => h("span", {class: `level level-${i.level}`}, i.level)},
      {title: "status", cell: i => i.status},
      {title: "events", className: "number", cell: i => i.count},
      {title: "users", className: "number", cell: i => String(i.userCount)},
      {title: "last seen", cell: i => time(i.lastSeen)},
    ], rows, {rowAttrs: i => ({dataset: {issue: i.id}})}) : note("No issues match."),
    pager({hasPrevious: !!cursor && links.previous && links.previous.results,
           hasNext: !!(links.next && links.next.results),
           onPrevious: () => { location.hash = hashFor({...base, cursor: links.previous.cursor}); },
           onNext: () => { location.hash = hashFor({...base, cursor: links.next.cursor}); },
           label: `${rows.length} shown`}));
}

export async function issueView(container, {parts}) {
  const id = parts[1];
  const path = `/api/0/issues/${encodeURIComponent(id)}/`;
  const issue = await get(path);
  const statusLine = h("span", {class: "status", id: "issue-status"}, statusText(issue));
  const message = h("p", {class: "note", role: "status", "aria-live": "polite"});

  async function change(body, label) {
    try {
      await call("PUT", path, {json: body});
      const fresh = await get(path);
      statusLine.textContent = statusText(fresh);
      message.textContent = `${label}.`;
      renderButtons(fresh);
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.detail : String(error);
    }
  }
  const buttons = h("div", {class: "actions"});
  function renderButtons(current) {
    replace(buttons,
      current.status !== "resolved" ? h("button", {type: "button", id: "resolve", onclick: () => change({status: "resolved"}, "Resolved")}, "Resolve") : null,
      current.status !== "ignored" ? h("button", {type: "button", id: "ignore", onclick: () => change({status: "ignored"}, "Ignored")}, "Ignore") : null,
      current.status !== "unresolved" ? h("button", {type: "button", id: "unresolve", onclick: () => change({status: "unresolved"}, "Unresolved")}, "Unresolve") : null);
  }
  renderButtons(issue);

  const events = h("div", {}, note("Loading…"));
  const tags = h("div", {}, note("Loading…"));
  const grouping = h("div", {}, note("Loading…"));
  replace(container,
    h("p", {class: "crumbs"}, h("a", {href: `#/issues?project=${encodeURIComponent(issue.project.id)}`}, "issues"), " / ", issue.shortId),
    h("h1", {class: "issue-title"}, issue.title),
    h("p", {class: "culprit"}, issue.culprit || ""),
    keyValues([["status", statusLine], ["level", issue.level], ["events", issue.count], ["users", String(issue.userCount)],
               ["first seen", time(issue.firstSeen)], ["last seen", time(issue.lastSeen)],
               ["project", issue.project.slug], ["type", issue.issueType || issue.type]]),
    buttons, message,
    section("Events", events), section("Tags", tags), section("Grouping of the latest event", grouping));

  issueEvents(events, id, issue.project.id, "");
  get(`${path}tags/`).then(found => replace(tags, found.length ? table([
    {title: "tag", cell: t => t.key},
    {title: "values", className: "number", cell: t => String(t.totalValues)},
    {title: "top values", cell: t => (t.topValues || []).map(v => `${text(v.value)} (${v.count})`).join(", ")},
  ], found) : note("No tags."))).catch(error => replace(tags, note(String(error), "error")));
  get(`${path}events/latest/`).then(latest => groupingView(grouping, latest.eventID || latest.id))
    .catch(error => replace(grouping, note(String(error), "error")));
}

async function issueEvents(holder, id, projectId, cursor) {
  let answer;
  try {
    answer = await call("GET", `/api/0/issues/${encodeURIComponent(id)}/events/`, {query: {cursor}});
  } catch (error) {
    return replace(holder, note(String(error), "error"));
  }
  const links = parseLink(answer.headers.get("Link"));
  replace(holder,
    table([
      {title: "event", cell: e => h("a", {href: `#/event/${encodeURIComponent(projectId)}/${encodeURIComponent(e.eventID)}`}, e.eventID)},
      {title: "title", cell: e => e.title},
      {title: "when", cell: e => time(e.dateCreated)},
      {title: "user", cell: e => e.user ? (e.user.email || e.user.id || e.user.username || "") : ""},
    ], answer.body),
    pager({hasPrevious: !!cursor && links.previous && links.previous.results, hasNext: !!(links.next && links.next.results),
           onPrevious: () => issueEvents(holder, id, projectId, links.previous.cursor),
           onNext: () => issueEvents(holder, id, projectId, links.next.cursor)}));
}

function statusText(issue) {
  return issue.substatus ? `${issue.status} (${issue.substatus})` : issue.status;
}
