// Drive the real @sentry/node SDK against a DSN; print what happened as one JSON line.
//
//     SENTRY_NODE_DIR=<dir with node_modules/@sentry/node> node node_sdk.mjs DSN SCENARIO [SCENARIO ...]
//
// Scenarios: message, exception, spans, attachments, checkin, logs, metrics, feedback, large,
// exception_twice (one Error thrown twice from one place), message_params (two messages from one
// ``Sentry.parameterize`` template)
// (``attachments`` sends ``$SDK_ATTACHMENTS/note.txt`` and ``$SDK_ATTACHMENTS/data.bin``;
// ``feedback`` names the ``message`` event of the same run, if any, as its associated event).
// The SDK is resolved from $SENTRY_NODE_DIR (ESM ignores NODE_PATH, so it is loaded through
// createRequire rooted there).
//
// Output: {"ids": {scenario: id}, "requests": [{"status", "types", "error"?}...], "flushed": bool}.
// The transport is the SDK's own makeNodeTransport, wrapped (recording_transport.mjs) only to record
// each answer's status and the item types of the envelope it carried. The SDK is flushed and closed
// before the line is printed, so everything it sent was answered by then.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { recordingTransport } from './recording_transport.mjs';

const require = createRequire(join(process.env.SENTRY_NODE_DIR, 'package.json'));
const Sentry = require('@sentry/node');

const [dsn, ...scenarios] = process.argv.slice(2);
const requests = [];
const ids = {};

function record(types, response, error) {
  requests.push(response === null ? { status: null, types, error: String(error) }
    : { status: response.statusCode ?? null, types });
}

function lookup(mapping, key) {
  if (!(key in mapping)) {
    throw new Error(`missing key ${key}`);
  }
  return mapping[key];
}

function middle(mapping) {
  return lookup(mapping, 'missing-key');
}

function outer() {
  return middle({ present: 1 });
}

function run(name) {
  switch (name) {
    case 'message':
      Sentry.setTag('scenario', 'message');
      Sentry.setUser({ id: '42', email: 'dev@example.com' });
      return Sentry.captureMessage('hello from node sdk', 'warning');
    case 'exception':
      try {
        outer();
      } catch (error) {
        return Sentry.captureException(error);
      }
      throw new Error('no Error thrown');
    case 'exception_twice': {
      const caught = [];
      for (const key of ['a', 'b']) {
        try {
          lookup({}, key);
        } catch (error) {
          caught.push(Sentry.captureException(error));
        }
      }
      return caught;
    }
    case 'message_params':
      return [7, 8].map((order) => Sentry.captureMessage(
        Sentry.parameterize`order ${order} failed for user${order}@example.com`, 'error'));
    case 'spans':
      return Sentry.startSpan({ name: 'node-acceptance-txn', op: 'task' }, (root) => {
        Sentry.startSpan({ name: 'SELECT 1', op: 'db.query', attributes: { 'db.system': 'sqlite' } }, () => {});
        Sentry.startSpan({ name: 'GET /thing', op: 'http.client' }, () => {});
        const { traceId, spanId } = root.spanContext();
        return { trace_id: traceId, span_id: spanId };
      });
    case 'attachments': {
      const folder = process.env.SDK_ATTACHMENTS;
      return Sentry.withScope((scope) => {
        scope.addAttachment({
          filename: 'note.txt', data: readFileSync(join(folder, 'note.txt'), 'utf8'), contentType: 'text/plain',
        });
        scope.addAttachment({ filename: 'data.bin', data: new Uint8Array(readFileSync(join(folder, 'data.bin'))) });
        return Sentry.captureMessage('event with attachments');
      });
    }
    case 'checkin': {
      const checkInId = Sentry.captureCheckIn(
        { monitorSlug: 'my-cron', status: 'in_progress' },
        { schedule: { type: 'crontab', value: '*/5 * * * *' }, checkinMargin: 1, maxRuntime: 10, timezone: 'UTC' },
      );
      Sentry.captureCheckIn({ checkInId, monitorSlug: 'my-cron', status: 'ok', duration: 0.01 });
      return checkInId;
    }
    case 'logs':
      Sentry.logger.info(Sentry.logger.fmt`user ${42} logged in`);
      Sentry.logger.warn('disk at 91.5%', { percent: 91.5 });
      Sentry.logger.error('payment failed for order A-1', { order: 'A-1' });
      return null;
    case 'metrics':
      if (!Sentry.metrics) return 'unsupported';
      Sentry.metrics.count('button_click', 1, { attributes: { browser: 'firefox' } });
      Sentry.metrics.gauge('queue_depth', 7, { unit: 'item' });
      Sentry.metrics.distribution('page_load', 123.5, { unit: 'millisecond' });
      return null;
    case 'feedback':
      return Sentry.captureFeedback({
        message: 'the button does nothing', name: 'Jane Doe', email: 'jane@example.com',
        associatedEventId: ids.message, // set when ``message`` ran first in this process
      });
    case 'large':
      // ~40 KB of JSON in small strings (no single value long enough to be trimmed): over the
      // transport's 32 KiB threshold, so the body goes out gzipped.
      return Sentry.withScope((scope) => {
        const blob = {};
        for (let i = 0; i < 400; i++) blob[`k${i}`] = `${i}:`.padEnd(96, 'x');
        scope.setContext('blob', blob);
        return Sentry.captureMessage('large node event');
      });
    default:
      throw new Error(`unknown scenario ${name}`);
  }
}

Sentry.init({
  dsn,
  release: 'myapp@1.0.0',
  environment: 'acceptance',
  tracesSampleRate: 1.0,
  enableLogs: true,
  normalizeDepth: 5,
  transport: recordingTransport(Sentry, record),
});

for (const name of scenarios) {
  ids[name] = run(name);
}
const flushed = await Sentry.flush(10000);
await Sentry.close(10000);
process.stdout.write(`${JSON.stringify({ ids, requests, flushed })}\n`);
