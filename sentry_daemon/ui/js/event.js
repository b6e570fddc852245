// One event as the web API renders it (entries: exception, message, breadcrumbs, request, …),
// with what the control API adds: its attachments, the envelope it came in, the payload as stored.
// A transaction's spans are drawn as a waterfall.

import {ApiError, authHeaders, get, projectById} from "./api.js";
import {h, jsonBlock, keyValues, note, replace, section, table, text, time} from "./dom.js";
import {groupingView} from "./grouping.js";

async function loadEvent(parts) {
  const project = await projectById(parts[1]);
  if (!project) throw new ApiError(404, `no project ${parts[1]}`);
  const id = parts[2];
  const detail = await get(`/api/0/projects/${encodeURIComponent(project.org)}/${encodeURIComponent(project.slug)}/events/${encodeURIComponent(id)}/`);
  return {project, id, detail};
}

/** The payload as stored (control API), for the raw JSON and the envelope it came in. */
async function storedEvent(project, id, type) {
  try {
    const answer = await get("/__parlel/events", {project: project.id, type, event_id: id});
    return answer.events[0] || null;
  } catch (error) {
    return null;
  }
}

function entry(detail, type) {
  const found = (detail.entries || []).find(e => e.type === type);
  return found ? found.data : null;
}

export async function eventView(container, {parts}) {
  const {project, id, detail} = await loadEvent(parts);
  const stored = storedEvent(project, id, detail.type);
  const exception = entry(detail, "exception");
  const message = entry(detail, "message");
  const breadcrumbs = entry(detail, "breadcrumbs");
  const request = entry(detail, "request");
  const threads = entry(detail, "threads");
  const stacktrace = entry(detail, "stacktrace");
  const grouping = h("div", {}, note("Loading…"));
  const attachments = h("div", {}, note("Loading…"));
  const envelope = h("div", {}, note("Loading…"));
  const raw = h("div", {}, note("Loading…"));

  replace(container,
    h("p", {class: "crumbs"},
      detail.groupID ? h("a", {href: `#/issue/${encodeURIComponent(detail.groupID)}`}, "issue") : "event", " / ", id),
    h("h1", {class: "event-title"}, detail.title || id),
    h("p", {class: "culprit"}, detail.culprit || detail.location || ""),
    keyValues([["event id", id], ["type", detail.type], ["level", tagValue(detail, "level") || ""],
               ["received", time(detail.dateReceived)], ["created", time(detail.dateCreated)],
               ["project", `${project.org} / ${project.slug}`], ["platform", detail.platform || ""],
               ["release", detail.release ? (detail.release.version || text(detail.release)) : ""]]),
    message ? section("Message", h("pre", {class: "message"}, text(message.formatted || message.message))) : null,
    exception ? section("Exception", exceptionChain(exception)) : null,
    stacktrace ? section("Stack trace", frames(stacktrace.frames || [])) : null,
    threads ? section("Threads", (threads.values || []).map(t => h("div", {class: "thread"},
      h("h3", {}, `thread ${text(t.id)} ${text(t.name || "")}${t.crashed ? " (crashed)" : ""}`),
      t.stacktrace ? frames(t.stacktrace.frames || []) : null))) : null,
    breadcrumbs ? section("Breadcrumbs", breadcrumbTable(breadcrumbs.values || [])) : null,
    section("Tags", table([{title: "tag", cell: t => t.key}, {title: "value", cell: t => t.value}], detail.tags || [])),
    detail.user ? section("User", keyValues(Object.entries(detail.user).filter(([, v]) => v !== null && v !== undefined))) : null,
    request ? section("Request", requestView(request)) : null,
    section("Contexts", contexts(detail.contexts || {})),
    detail.sdk ? section("SDK", keyValues(Object.entries(detail.sdk))) : null,
    detail.type === "transaction" ? null : section("Grouping", grouping),
    section("Attachments", attachments),
    section("Envelope", envelope),
    section("Raw JSON", raw));

  if (detail.type !== "transaction") groupingView(grouping, id);
  attachmentList(attachments, id);
  stored.then(event => {
    replace(raw, h("details", {}, h("summary", {}, "the event as stored"), jsonBlock(event || detail)));
    envelopeView(envelope, event ? event.envelope : null);
  });
}

function tagValue(detail, key) {
  const found = (detail.tags || []).find(t => t.key === key);
  return found ? found.value : null;
}

function exceptionChain(exception) {
  const values = (exception.values || []).slice().reverse();  // the one raised last first, as Sentry shows it
  return values.map((value, index) => h("div", {class: "exception"},
    h("h3", {class: "exception-title"}, h("span", {class: "exception-type"}, text(value.type || "")),
      value.value !== null && value.value !== undefined ? [": ", h("span", {class: "exception-value"}, text(value.value))] : null),
    value.mechanism ? h("p", {class: "mechanism"}, `mechanism ${text(value.mechanism.type)}, ${value.mechanism.handled === false ? "unhandled" : "handled"}`) : null,
    index > 0 ? h("p", {class: "note"}, "which was the cause of the one above, or raised while handling it") : null,
    value.stacktrace ? frames(value.stacktrace.frames || []) : note("no stack trace")));
}

/** Frames, the most recent call first; in-app frames marked and open, with context lines and variables. */
function frames(list) {
  const ordered = list.slice().reverse();
  const anyInApp = ordered.some(f => f.inApp);
  return h("ol", {class: "frames"}, ordered.map((frame, index) => {
    const open = frame.inApp || (!anyInApp && index === 0);
    return h("li", {class: `frame ${frame.inApp ? "in-app" : "system"}`},
      h("details", {open},
        h("summary", {},
          frame.inApp ? h("span", {class: "badge in-app-badge"}, "in app") : h("span", {class: "badge system-badge"}, "system"), " ",
          h("span", {class: "function"}, text(frame.function || frame.rawFunction || "?")),
          " in ", h("span", {class: "filename"}, text(frame.filename || frame.absPath || frame.module || "?")),
          frame.lineNo ? ` at line ${frame.lineNo}` : ""),
        context(frame),
        frame.vars && Object.keys(frame.vars).length ? h("div", {class: "vars"}, h("h4", {}, "variables"),
          keyValues(Object.entries(frame.vars).map(([name, value]) => [name, h("code", {}, text(value))]))) : null));
  }));
}

function context(frame) {
  if (!frame.context || !frame.context.length) return null;
  return h("ol", {class: "context", start: frame.context[0][0]}, frame.context.map(([line, code]) =>
    h("li", {class: line === frame.lineNo ? "crash-line" : "", value: line}, h("code", {}, text(code)))));
}

function breadcrumbTable(values) {
  return table([
    {title: "time", cell: b => time(b.timestamp)},
    {title: "type", cell: b => b.type || ""},
    {title: "category", cell: b => b.category || ""},
    {title: "level", cell: b => b.level || ""},
    {title: "message", cell: b => b.message || ""},
    {title: "data", cell: b => b.data ? text(b.data) : ""},
  ], values.slice().reverse());
}

function requestView(request) {
  const filled = value => value !== null && value !== undefined && value !== "" &&
    !(Array.isArray(value) && !value.length) && !(typeof value === "object" && !Object.keys(value).length);
  const rows = [["method", request.method], ["url", request.url], ["query", request.query], ["fragment", request.fragment],
                ["data", request.data], ["cookies", request.cookies], ["env", request.env]];
  return [keyValues(rows.filter(([, value]) => filled(value)).map(([key, value]) => [key, text(value)])),
          request.headers && request.headers.length ? h("div", {}, h("h3", {}, "headers"),
            keyValues(request.headers.map(pair => Array.isArray(pair) ? pair : [text(pair), ""]))) : null];
}

function contexts(all) {
  const names = Object.keys(all);
  if (!names.length) return note("No contexts.");
  return names.map(name => h("div", {class: "context-block"}, h("h3", {}, name),
    keyValues(Object.entries(all[name] || {}).map(([key, value]) => [key, text(value)]))));
}

async function attachmentList(holder, eventId) {
  try {
    const answer = await get("/__parlel/attachments", {event_id: eventId});
    replace(holder, answer.attachments.length ? table([
      {title: "file", cell: a => h("a", {href: `/__parlel/attachments/${encodeURIComponent(a.id)}`, download: a.filename || "attachment"}, a.filename || a.id)},
      {title: "type", cell: a => a.content_type || ""},
      {title: "kind", cell: a => a.attachment_type || ""},
      {title: "bytes", className: "number", cell: a => String(a.size)},
    ], answer.attachments) : note("No attachments."));
  } catch (error) {
    replace(holder, note(String(error), "error"));
  }
}

function envelopeView(holder, envelopeId) {
  if (envelopeId === null || envelopeId === undefined) return replace(holder, note("The envelope is not known (sent to the store endpoint, or evicted)."));
  const path = `/__parlel/envelopes/${encodeURIComponent(envelopeId)}/raw`;
  const shown = h("div", {});
  replace(holder,
    h("p", {}, h("a", {href: path, download: `envelope-${envelopeId}.txt`}, `envelope ${envelopeId}`), " ",
      h("button", {type: "button", id: "show-envelope", onclick: async () => {
        try {
          const response = await fetch(path, {headers: authHeaders(), credentials: "omit"});
          const bytes = await response.arrayBuffer();
          replace(shown, h("pre", {class: "envelope"}, new TextDecoder("utf-8", {fatal: false}).decode(bytes)));
        } catch (error) {
          replace(shown, note(String(error), "error"));
        }
      }}, "show it")),
    shown);
}

// --- transactions ------------------------------------------------------------------------------

export async function transactionView(container, {parts}) {
  const {project, id, detail} = await loadEvent(parts);
  const spans = entry(detail, "spans") || [];
  const trace = (detail.contexts || {}).trace || {};
  const start = Number(detail.startTimestamp), end = Number(detail.endTimestamp);
  const raw = h("div", {}, note("Loading…"));
  const envelope = h("div", {}, note("Loading…"));
  replace(container,
    h("p", {class: "crumbs"}, h("a", {href: "#/transactions"}, "transactions"), " / ", id),
    h("h1", {}, detail.title || "transaction"),
    keyValues([["event id", id], ["op", text(trace.op || "")], ["status", text(trace.status || "")],
               ["duration", duration(end - start)], ["started", time(start)], ["trace", text(trace.trace_id || "")],
               ["project", `${project.org} / ${project.slug}`]]),
    section("Spans", waterfall({span_id: trace.span_id, op: trace.op, description: detail.title,
                                start_timestamp: start, timestamp: end}, spans, start, end)),
    section("Tags", table([{title: "tag", cell: t => t.key}, {title: "value", cell: t => t.value}], detail.tags || [])),
    section("Contexts", contexts(detail.contexts || {})),
    section("Envelope", envelope),
    section("Raw JSON", raw));
  storedEvent(project, id, "transaction").then(event => {
    replace(raw, h("details", {}, h("summary", {}, "the transaction as stored"), jsonBlock(event || detail)));
    envelopeView(envelope, event ? event.envelope : null);
  });
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "";
  return seconds < 1 ? `${(seconds * 1000).toFixed(2)} ms` : `${seconds.toFixed(3)} s`;
}

/** The root and its spans in tree order, each a bar placed by its start and length. */
function waterfall(root, spans, start, end) {
  const children = new Map();
  for (const span of spans) {
    const parent = span.parent_span_id || null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(span);
  }
  for (const list of children.values()) list.sort((a, b) => a.start_timestamp - b.start_timestamp);
  const rows = [];
  const placed = new Set();
  (function walk(span, depth) {
    rows.push([span, depth]);
    placed.add(span);
    for (const child of children.get(span.span_id) || []) if (!placed.has(child)) walk(child, depth + 1);
  })(root, 0);
  for (const span of spans) if (!placed.has(span)) rows.push([span, 1]);  // orphans: their parent is elsewhere
  const total = end - start > 0 ? end - start : 1;
  return h("ol", {class: "waterfall", id: "waterfall"}, rows.map(([span, depth]) => {
    const bar = h("span", {class: "bar"});
    const left = Math.max(0, (Number(span.start_timestamp) - start) / total * 100);
    const width = Math.max(0.3, (Number(span.timestamp) - Number(span.start_timestamp)) / total * 100);
    bar.style.setProperty("left", `${Math.min(left, 99.7)}%`);
    bar.style.setProperty("width", `${Math.min(width, 100 - Math.min(left, 99.7))}%`);
    const label = h("span", {class: "span-label"}, h("span", {class: "op"}, text(span.op || "")), " ",
      h("span", {class: "description"}, text(span.description || "")));
    label.style.setProperty("padding-left", `${depth * 1.2}em`);
    return h("li", {class: "span-row"}, label,
      h("span", {class: "track"}, bar),
      h("span", {class: "span-duration"}, duration(Number(span.timestamp) - Number(span.start_timestamp))));
  }));
}
