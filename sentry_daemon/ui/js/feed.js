// The live feed: what arrives, newest first, as the stream tells it (the stream first replays its
// backlog, so the feed opens with what came recently). The page keeps the newest MAX_KEPT records
// and shows one page of them; while the reader is scrolled down, on a later page or has paused,
// new arrivals wait behind a "N new" button instead of moving the rows.

import {projects} from "./api.js";
import {h, note, pager, replace, time} from "./dom.js";
import {KINDS} from "./stream.js";

const MAX_KEPT = 2000;
const PAGE = 50;

const state = {records: [], listeners: new Set(), connection: "connecting", filters: null};

/** What the stream told of a record, as the feed shows it. */
export function fromStream({kind, id, data}) {
  return {
    kind, seq: id, id: data.id === undefined ? null : String(data.id), project: data.project === undefined ? null : String(data.project),
    time: data.time || data.timestamp || null, title: data.title || data.message || data.name || "",
    level: data.level || null, url: typeof data.url === "string" ? data.url : null,
  };
}

export function addRecord(record) {
  state.records.unshift(record);
  if (state.records.length > MAX_KEPT) state.records.length = MAX_KEPT;
  for (const listener of state.listeners) listener(record);
}

export function setConnection(value) {
  state.connection = value;
  for (const listener of state.listeners) listener(null);
}

export function clearFeed() {
  state.records = [];
  for (const listener of state.listeners) listener(null);
}

/** Where a feed row leads. */
export function recordHref(record) {
  const id = encodeURIComponent(record.id || "");
  switch (record.kind) {
    case "error": case "default": case "feedback": return `#/event/${record.project}/${id}`;
    case "transaction": return `#/transaction/${record.project}/${id}`;
    case "log": return "#/logs";
    case "check_in": return "#/check-ins";
    default: return record.url ? `#/record?url=${encodeURIComponent(record.url)}` : "#/feed";
  }
}

export function feedView(container) {
  const filters = state.filters || (state.filters = {project: "", kinds: new Set(KINDS)});
  let page = 0;
  let paused = false;
  let pending = 0;
  let slugs = new Map();

  const status = h("span", {class: "connection", role: "status", "aria-live": "polite"});
  const projectSelect = h("select", {id: "feed-project", onchange: () => { filters.project = projectSelect.value; page = 0; render(); }},
    h("option", {value: ""}, "all projects"));
  const kindBoxes = KINDS.map(kind => {
    const box = h("input", {type: "checkbox", value: kind, id: `feed-kind-${kind}`, checked: filters.kinds.has(kind),
      onchange: () => { if (box.checked) filters.kinds.add(kind); else filters.kinds.delete(kind); page = 0; render(); }});
    return h("label", {class: "kind-box", for: `feed-kind-${kind}`}, box, " ", kind);
  });
  const pauseButton = h("button", {type: "button", "aria-pressed": "false", onclick: () => {
    paused = !paused; pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.textContent = paused ? "resume" : "pause";
    if (!paused && window.scrollY < 40 && page === 0) render();
  }}, "pause");
  const newButton = h("button", {type: "button", class: "new-records", hidden: true, onclick: () => {
    page = 0; window.scrollTo(0, 0); render();
  }});
  const list = h("div", {class: "feed-list"});

  replace(container,
    h("h1", {}, "Live feed"),
    h("div", {class: "toolbar"},
      h("label", {for: "feed-project"}, "project "), projectSelect,
      h("fieldset", {class: "kinds"}, h("legend", {}, "kinds"), kindBoxes),
      pauseButton, status),
    newButton, list);

  projects().then(found => {
    slugs = new Map(found.map(p => [p.id, `${p.org}/${p.slug}`]));
    for (const p of found) projectSelect.appendChild(h("option", {value: p.id}, `${p.org} / ${p.slug}`));
    projectSelect.value = filters.project;
    render();
  }).catch(() => {});

  function matches(record) {
    return (!filters.project || record.project === filters.project) && filters.kinds.has(record.kind);
  }

  function holding() {
    return paused || page > 0 || window.scrollY > 40;
  }

  function render() {
    pending = 0;
    newButton.hidden = true;
    status.textContent = state.connection;
    status.dataset.state = state.connection;
    const shown = state.records.filter(matches);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    const rows = shown.slice(page * PAGE, (page + 1) * PAGE);
    replace(list,
      rows.length ? h("ol", {class: "feed", id: "feed"}, rows.map(row)) :
        note(state.records.length ? "Nothing matches the filters." : "Waiting for what clients send…"),
      pager({hasPrevious: page > 0, hasNext: page < pages - 1,
             onPrevious: () => { page -= 1; render(); }, onNext: () => { page += 1; render(); },
             label: `page ${page + 1} of ${pages} (${shown.length} records)`}));
  }

  function row(record) {
    return h("li", {class: `feed-row kind-${record.kind}`, dataset: {kind: record.kind, id: record.id || ""}},
      h("span", {class: "when"}, time(record.time)),
      h("span", {class: "kind"}, record.kind),
      h("span", {class: `level level-${record.level || "none"}`}, record.level || ""),
      h("span", {class: "project"}, slugs.get(record.project) || record.project || ""),
      h("a", {class: "title", href: recordHref(record)}, record.title || record.id || "(no title)"));
  }

  // a replay brings thousands of records in one go: one render per burst, not one per record
  let scheduled = null;
  function soon() {
    if (scheduled === null) scheduled = setTimeout(() => { scheduled = null; render(); }, 30);
  }

  function arrived(record) {
    status.textContent = state.connection;
    status.dataset.state = state.connection;
    if (record === null) { if (!holding()) soon(); return; }
    if (!matches(record)) return;
    if (holding()) {
      pending += 1;
      newButton.hidden = false;
      newButton.textContent = `${pending} new — show`;
      return;
    }
    soon();
  }

  function scrolled() {
    if (pending && !holding()) render();
  }

  state.listeners.add(arrived);
  window.addEventListener("scroll", scrolled, {passive: true});
  render();
  return () => {
    state.listeners.delete(arrived);
    window.removeEventListener("scroll", scrolled);
    if (scheduled !== null) clearTimeout(scheduled);
  };
}
