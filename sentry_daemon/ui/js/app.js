// The page: a header, one view at a time chosen by the location's hash (#/issues?…), and the live
// stream feeding the feed for as long as the page is open.

import {ApiError, DEFAULT_TOKEN, call, forgetProjects, setToken, token} from "./api.js";
import {h, note, replace} from "./dom.js";
import {addRecord, clearFeed, feedView, fromStream, setConnection} from "./feed.js";
import {issueListView, issueView} from "./issues.js";
import {eventView, transactionView} from "./event.js";
import {checkInsView, faultsView, journalView, logsView, recordView, transactionsView} from "./tables.js";
import {LiveStream} from "./stream.js";

const ROUTES = {
  feed: feedView,
  issues: issueListView,
  issue: issueView,
  event: eventView,
  transactions: transactionsView,
  transaction: transactionView,
  logs: logsView,
  "check-ins": checkInsView,
  journal: journalView,
  faults: faultsView,
  record: recordView,
};

const main = document.getElementById("view");
const flash = document.getElementById("flash");
let leave = null;
let rendering = 0;

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return {parts: parts.length ? parts : ["feed"], params: new URLSearchParams(query || "")};
}

async function render() {
  const current = ++rendering;
  const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : "";
  if (leave) { try { leave(); } catch (error) { /* the old view is gone either way */ } leave = null; }
  const {parts, params} = parseHash();
  const view = ROUTES[parts[0]];
  forgetProjects();  // projects come and go (tenants): each view reads them once, afresh
  for (const link of document.querySelectorAll("nav.main a")) {
    if (link.dataset.view === parts[0]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!view) return replace(main, h("h1", {}, "Not found"), note(`No view ${parts[0]}.`, "error"));
  replace(main, note("Loading…"));
  window.scrollTo(0, 0);
  try {
    const cleanup = await view(main, {parts, params});
    if (current !== rendering) { if (typeof cleanup === "function") cleanup(); return; }
    leave = typeof cleanup === "function" ? cleanup : null;
  } catch (error) {
    if (current !== rendering) return;
    const detail = error instanceof ApiError ? `${error.status}: ${error.detail}` : String(error);
    replace(main, h("h1", {}, "Could not load this"), note(detail, "error"),
      error instanceof ApiError && (error.status === 401 || error.status === 403)
        ? note("Set a token with the access this needs under “token”.") : null);
  }
  // the control that brought us here is gone with the old view: keyboard focus goes to the same
  // control in the new one (the search box after a search), or else to the new heading
  const again = focused ? document.getElementById(focused) : null;
  const heading = main.querySelector("h1");
  if (again && main.contains(again)) again.focus({preventScroll: true});
  else if (heading && (document.activeElement === document.body || !document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({preventScroll: true});
  }
}

function say(message) {
  flash.textContent = message;
}

function setUpToken() {
  const input = document.getElementById("token");
  input.value = token();
  document.getElementById("token-form").addEventListener("submit", event => {
    event.preventDefault();
    setToken(input.value.trim() || DEFAULT_TOKEN);
    input.value = token();
    forgetProjects();
    clearFeed();
    stream.restart();
    say("Token saved in this browser.");
    render();
  });
}

function setUpReset() {
  document.getElementById("reset").addEventListener("click", async () => {
    if (!window.confirm("Reset the daemon? Every event, issue and tenant is deleted; the seeded organization, project, key and token stay.")) return;
    try {
      await call("POST", "/__parlel/reset");
      clearFeed();
      forgetProjects();
      say("Reset: back to the seeded state.");
      render();
    } catch (error) {
      say(`Reset refused: ${error instanceof ApiError ? error.detail : error}`);
    }
  });
}

setUpToken();
setUpReset();
window.addEventListener("hashchange", render);
const stream = new LiveStream({onRecord: record => addRecord(fromStream(record)), onState: setConnection});
stream.start();
window.addEventListener("pagehide", () => stream.stop());
render();
