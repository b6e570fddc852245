// Building the page's elements. Everything an event carries is data from outside: it only ever
// becomes a text node (createTextNode / textContent), never markup: no string is parsed as HTML.

/** An element: h("td", {class: "x", title: "…"}, "text", child, [more children]). */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "href") node.setAttribute("href", safeHref(value));
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

/** Links go to the page's own routes (#/…) or the daemon's own paths (/…), nowhere else. */
export function safeHref(value) {
  const text = String(value);
  if (text.startsWith("#") || (text.startsWith("/") && !text.startsWith("//"))) return text;
  return "#";
}

/** Replace what `node` holds with `children`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A value as text: strings as they are, anything else as JSON. */
export function text(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  try { return JSON.stringify(value); } catch (error) { return String(value); }
}

/** Pretty JSON in a <pre>, as text. */
export function jsonBlock(value) {
  return h("pre", {class: "json"}, JSON.stringify(value, null, 2));
}

/** A two-column table of [key, value] rows; values that are not nodes are shown as text. */
export function keyValues(rows, className = "kv") {
  return h("table", {class: className}, h("tbody", {}, rows.map(([key, value]) =>
    h("tr", {}, h("th", {scope: "row"}, text(key)), h("td", {}, value instanceof Node ? value : text(value))))));
}

/** A section with a heading. */
export function section(title, ...children) {
  return h("section", {class: "panel"}, h("h2", {}, title), ...children);
}

export function time(iso) {
  if (iso === null || iso === undefined || iso === "") return "";
  const date = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  if (Number.isNaN(date.getTime())) return text(iso);
  return date.toISOString().replace("T", " ").replace("Z", "");
}

/** A "message" line (loading, empty, error). */
export function note(message, className = "note") {
  return h("p", {class: className, role: className === "error" ? "alert" : "status"}, message);
}

/** Previous / next buttons for a list shown page by page. */
export function pager({hasPrevious, hasNext, onPrevious, onNext, label}) {
  return h("nav", {class: "pager", "aria-label": "pages"},
    h("button", {type: "button", disabled: !hasPrevious, onclick: onPrevious}, "← previous"),
    h("span", {class: "page-label"}, label || ""),
    h("button", {type: "button", disabled: !hasNext, onclick: onNext}, "next →"));
}

/** A table from column definitions [{title, cell: row => node|text}]. */
export function table(columns, rows, {rowAttrs} = {}) {
  return h("table", {class: "list"},
    h("thead", {}, h("tr", {}, columns.map(c => h("th", {scope: "col"}, c.title)))),
    h("tbody", {}, rows.map(row => h("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map(c => { const v = c.cell(row); return h("td", {class: c.className}, v instanceof Node ? v : text(v)); })))));
}

/** A list shown a page at a time from rows already in hand (newest first). */
export function pagedTable(columns, rows, {pageSize = 50, rowAttrs} = {}) {
  const holder = h("div", {class: "paged"});
  let page = 0;
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  function render() {
    const start = page * pageSize;
    replace(holder,
      table(columns, rows.slice(start, start + pageSize), {rowAttrs}),
      pager({hasPrevious: page > 0, hasNext: page < pages - 1,
             onPrevious: () => { page -= 1; render(); }, onNext: () => { page += 1; render(); },
             label: `page ${page + 1} of ${pages} (${rows.length} rows)`}));
  }
  render();
  return holder;
}
