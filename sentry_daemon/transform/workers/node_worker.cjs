// The javascript transform worker: the real @sentry/node, imported and initialised once, kept warm.
//
//     SENTRY_NODE_MODULES=<dir holding @sentry/node> node node_worker.cjs CPU_BUDGET_SECONDS
//
// Run by the daemon (through launch.py, which sets this process's limits) as a child process.
// It reads one job a line on stdin, {"id", "event", "code"}, and answers one line per job, in
// order, on fd 3 (not stdout: what a callback logs with console.log is not a reply):
// {"id", "ok": true, "event": <what the transport would have sent, or null>} or
// {"id", "ok": false, "kind", "message", "traceback"}; "retire": true asks the daemon to replace
// it (it has used half its CPU budget, or a callback left data on the global scope).
//
// The SDK is initialised once with beforeSend/beforeSendTransaction set to a dispatcher and a
// transport that parses the serialized envelope instead of sending it. Each job compiles its
// callback, captures its event with Sentry.captureEvent in its own isolation scope and scope
// (scopes, defaults, normalization, event filters, beforeSend, envelope) and waits for the client
// to finish processing. Only the integrations that shape an event are enabled; those that
// instrument this process (console, http, uncaught exceptions) or describe it (context, modules,
// context lines read from this machine's files) are left out, and so is Dedupe, which would drop
// a repeated event.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const vm = require('node:vm');
const { createRequire } = require('node:module');

const sdkRequire = createRequire(path.join(process.env.SENTRY_NODE_MODULES, 'noop.js'));
const Sentry = sdkRequire('@sentry/node');
const VERSION = sdkRequire('@sentry/node/package.json').version;

const CODE_FILE = 'beforeSend.js';
const DSN = 'http://transform@127.0.0.1:9/0'; // never contacted: the transport below sends nothing
const KEEP = new Set(['EventFilters', 'FunctionToString', 'LinkedErrors', 'RequestData', 'NodeSystemError']);
const cpuBudget = Number(process.argv[2] || 0);
const REPLIES = 3;

let job = null; // {callback, error, badReturn, sent: [envelope bodies]}

function note(result) {
  if (result !== null && !isPlainObject(result)) {
    job.badReturn = describeValue(result);
  }
  return result;
}

function dispatch(event, hint) {
  let result;
  try {
    result = job.callback(event, hint);
  } catch (error) {
    job.error = error;
    throw error;
  }
  if (result && typeof result.then === 'function') {
    return result.then(note, (error) => {
      job.error = error;
      throw error;
    });
  }
  return note(result);
}

function isPlainObject(value) {
  return Object.prototype.toString.call(value) === '[object Object]';
}

function describeValue(value) {
  return value === undefined ? 'undefined' : Object.prototype.toString.call(value).slice(8, -1).toLowerCase();
}

Sentry.init({
  dsn: DSN,
  traceLifecycle: 'static', // transactions go through beforeSendTransaction, as events
  defaultIntegrations: false,
  integrations: Sentry.getDefaultIntegrations({}).filter((integration) => KEEP.has(integration.name)),
  sendClientReports: false,
  beforeSend: dispatch,
  beforeSendTransaction: dispatch,
  transport: (options) => Sentry.createTransport(options, async (request) => {
    if (job) job.sent.push(request.body);
    return { statusCode: 200 };
  }),
});
const client = Sentry.getClient();

// The event (or transaction) item of a serialized envelope: header line, then item header and
// payload pairs (a payload is one line unless its header gives a length).
function sentEvent(bodies) {
  for (const body of bodies) {
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    let rest = text.slice(text.indexOf('\n') + 1);
    while (rest.length) {
      const headerEnd = rest.indexOf('\n');
      const header = JSON.parse(headerEnd < 0 ? rest : rest.slice(0, headerEnd));
      rest = headerEnd < 0 ? '' : rest.slice(headerEnd + 1);
      let payload;
      if (typeof header.length === 'number') {
        payload = rest.slice(0, header.length);
        rest = rest.slice(header.length + 1);
      } else {
        const end = rest.indexOf('\n');
        payload = end < 0 ? rest : rest.slice(0, end);
        rest = end < 0 ? '' : rest.slice(end + 1);
      }
      if (header.type === 'event' || header.type === 'transaction') return JSON.parse(payload);
    }
  }
  return null;
}

function failure(kind, message, traceback) {
  return { ok: false, kind, message, traceback: traceback || '' };
}

function describeError(error) {
  if (error instanceof Error) return error.message ? `${error.name}: ${error.message}` : error.name;
  return `Uncaught ${typeof error === 'string' ? JSON.stringify(error) : String(error)}`;
}

// The stack from the callback's frames up: the SDK's and this worker's frames are cut.
function userStack(error) {
  if (!(error instanceof Error) || typeof error.stack !== 'string') return '';
  const lines = error.stack.split('\n');
  let last = -1;
  lines.forEach((line, n) => { if (line.includes(CODE_FILE)) last = n; });
  return (last < 0 ? lines : lines.slice(0, last + 1)).join('\n');
}

function compileCallback(code) {
  const source = code.replace(/[\s;]+$/, '');
  let factory;
  try {
    factory = vm.compileFunction(`return (${source}\n);`, ['require'], { filename: CODE_FILE });
  } catch (error) {
    // Node's compile errors show the line and a caret, then this worker's frames: those are cut.
    const lines = String(error.stack || error).split('\n');
    const end = lines.findIndex((line) => line.startsWith('    at '));
    return failure('Compilation failed', describeError(error), (end < 0 ? lines : lines.slice(0, end)).join('\n'));
  }
  let callback;
  try {
    callback = factory(sdkRequire);
  } catch (error) {
    return failure('Transformation error', describeError(error), userStack(error));
  }
  if (typeof callback !== 'function') {
    return failure('Compilation failed', `the code is not a function expression ((event, hint) => ...), it is ${describeValue(callback)}`);
  }
  return callback;
}

// What the global scope would add to every later event (its data, not its propagation context).
function globalScopeState() {
  const data = Sentry.getGlobalScope().getScopeData();
  const { propagationContext, eventProcessors, attachments, span, ...rest } = data;
  return JSON.stringify({ ...rest, processors: eventProcessors.length, attachments: attachments.length });
}

async function run(request) {
  const callback = compileCallback(request.code);
  if (typeof callback !== 'function') return callback;
  job = { callback, error: undefined, badReturn: undefined, sent: [] };
  await Sentry.withIsolationScope(() => Sentry.withScope(async () => {
    Sentry.captureEvent(request.event, {});
    await client.flush();
  }));
  if (job.error !== undefined) {
    return failure('Transformation error', describeError(job.error), userStack(job.error));
  }
  if (job.badReturn !== undefined) {
    return failure('Transformation error', `beforeSend must return \`null\` or a valid event, not ${job.badReturn}`);
  }
  try {
    return { ok: true, event: sentEvent(job.sent) };
  } catch (error) {
    return failure('Transformation error', `the event is not JSON: ${describeError(error)}`);
  }
}

function write(reply) {
  let line;
  try {
    line = JSON.stringify(reply);
  } catch (error) {
    line = JSON.stringify({ id: reply.id, ...failure('Transformation error', `the event is not JSON: ${describeError(error)}`) });
  }
  fs.writeSync(REPLIES, `${line}\n`);
}

function cpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

async function serve() {
  // One warm-up capture, so the SDK's lazy paths are taken before the first job.
  await run({ code: '(event) => event', event: { message: 'warm-up' } });
  job = null;
  const pristine = globalScopeState();
  write({ ready: true, sdk: 'javascript', version: VERSION });
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    let reply;
    try {
      reply = await run(request);
    } catch (error) {
      reply = failure('Transformation error', describeError(error), userStack(error));
    }
    job = null;
    const out = { id: request.id, ...reply };
    if ((cpuBudget && cpuSeconds() > cpuBudget / 2) || globalScopeState() !== pristine) out.retire = true;
    write(out);
  }
  process.exit(0); // the daemon closed our input: retired, or stopping
}

serve();
