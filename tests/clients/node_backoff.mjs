// Drive the real @sentry/node SDK into a rate limit and out of it; print what happened as one line.
//
//     SENTRY_NODE_DIR=<dir with node_modules/@sentry/node> node node_backoff.mjs DSN BACKOFF_SECONDS
//
// Sends "first" and flushes (the daemon's fault answers 429 for it); captures "second" and "third"
// while the SDK holds off (its transport drops them, recording "ratelimit_backoff") and flushes twice
// (the first flush runs before the two are dropped; the second sends the client report); waits
// BACKOFF_SECONDS, then captures "fourth" and closes.
//
// Output: {"ids": {name: event id}, "requests": [{"status", "types", "rate_limits"}...]}: one entry
// per envelope the SDK's own transport sent, with the answer's status and X-Sentry-Rate-Limits.

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { recordingTransport } from './recording_transport.mjs';

const require = createRequire(join(process.env.SENTRY_NODE_DIR, 'package.json'));
const Sentry = require('@sentry/node');

const [dsn, backoff] = process.argv.slice(2);
const requests = [];

function record(types, response) {
  if (response && types.length > 0 && response.statusCode !== undefined) {
    const limits = response.headers?.['x-sentry-rate-limits'] ?? null;
    requests.push({ status: response.statusCode, types, rate_limits: limits });
  }
}

Sentry.init({ dsn, release: 'myapp@1.0.0', transport: recordingTransport(Sentry, record) });

const ids = { first: Sentry.captureMessage('first') };
await Sentry.flush(10000);
ids.second = Sentry.captureMessage('second');
ids.third = Sentry.captureMessage('third');
await Sentry.flush(10000);
await Sentry.flush(10000);
await sleep(Number(backoff) * 1000);
ids.fourth = Sentry.captureMessage('fourth');
await Sentry.close(10000);
process.stdout.write(`${JSON.stringify({ ids, requests })}\n`);
