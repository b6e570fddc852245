// The daemon's own JSON APIs: the web API (/api/0/, bearer token) and the control API (/__parlel/).
// The token lives in this browser's localStorage; the daemon's seeded token is the default.

export const DEFAULT_TOKEN = "sntrys_parlel";
const TOKEN_KEY = "sentryfake.token";

export function token() {
  try { return localStorage.getItem(TOKEN_KEY) || DEFAULT_TOKEN; } catch (error) { return DEFAULT_TOKEN; }
}

export function setToken(value) {
  try {
    if (value && value !== DEFAULT_TOKEN) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch (error) { /* storage refused (private mode): the token lasts until the page reloads */ }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

export function authHeaders() {
  return {"Authorization": `Bearer ${token()}`};
}

/** One request: {status, body (parsed JSON, or text), headers}; non-2xx answers throw ApiError. */
export async function call(method, path, {query, json, raw} = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== "") url.searchParams.append(name, one);
    }
  }
  const options = {method, headers: authHeaders(), credentials: "omit"};
  if (json !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(json);
  }
  const response = await fetch(url.pathname + url.search, options);
  const type = response.headers.get("Content-Type") || "";
  let body;
  if (raw) body = await response.arrayBuffer();
  else if (type.startsWith("application/json")) body = await response.json();
  else body = await response.text();
  if (!response.ok) {
    const detail = body && typeof body === "object" && !raw ? (body.detail || JSON.stringify(body)) : response.statusText;
    throw new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return {status: response.status, body, headers: response.headers};
}

export const get = (path, query) => call("GET", path, {query}).then(answer => answer.body);

/** Sentry's Link header: {previous: {cursor, results}, next: {cursor, results}}. */
export function parseLink(header) {
  const links = {};
  for (const part of (header || "").split(/,\s*(?=<)/)) {
    const rel = /rel="([^"]+)"/.exec(part);
    const cursor = /cursor="([^"]*)"/.exec(part);
    const results = /results="([^"]+)"/.exec(part);
    if (rel) links[rel[1]] = {cursor: cursor ? cursor[1] : "", results: results ? results[1] === "true" : false};
  }
  return links;
}

let projectsLoading = null;

/** Every project the token sees: [{id, slug, name, org}], loaded once per view (``forgetProjects``). */
export function projects() {
  if (!projectsLoading) {
    projectsLoading = get("/api/0/projects/").then(rows => rows.map(p => ({
      id: String(p.id), slug: p.slug, name: p.name, org: p.organization ? p.organization.slug : null,
    }))).catch(error => { projectsLoading = null; throw error; });
  }
  return projectsLoading;
}

export function forgetProjects() { projectsLoading = null; }

export async function projectById(id) {
  return (await projects()).find(p => p.id === String(id)) || null;
}
