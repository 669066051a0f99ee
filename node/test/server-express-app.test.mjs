// Server mode with a real Express 5 app on 127.0.0.1, traced from its entry:
// traceExpressApp(tracer, app). The shared suite (helpers/express-suite.mjs, which adds an app
// mounted in an untraced one for this way) first, then: wrapping twice, a client that goes away
// (the response read at its end, after Express changed its prototype), an entry that throws,
// a wrong argument.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { expressSuite } from './helpers/express-suite.mjs';
import { listen, request } from './helpers/server.mjs';

const { sink, tracer } = await expressSuite('app');
const require = createRequire(import.meta.url);
const express = require('express');
const { traceExpressApp } = require('oxray/middleware');

// Wrapped twice; served through http.createServer(app) rather than app.listen.
const twice = express();
traceExpressApp(tracer, twice, { name: 'twice' });
const handleOnce = twice.handle;
assert.equal(traceExpressApp(tracer, twice, { name: 'twice' }), twice);
twice.get('/slow', (req, res) => {
  res.write('part');
  setTimeout(() => res.end('rest'), 200);
});
twice.get('/t', (req, res) => res.send('t'));
const twiceServer = http.createServer(twice);
const twicePort = await listen(twiceServer);

after(() => twiceServer.close());

test('app: wrapping an app twice keeps one wrapper: one segment, one response header', async () => {
  assert.equal(twice.handle, handleOnce);
  const res = await request(twicePort, { path: '/t' });
  assert.equal(res.status, 200);
  const [seg] = await sink.take(1);
  assert.equal(seg.name, 'twice');
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id}`);
  await sink.none();
});

test('app: a client that goes away mid-response is recorded with the status sent and the error flag', async () => {
  await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: twicePort, path: '/slow', agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
  });
  const [seg] = await sink.take(1);
  assert.equal(seg.http.response.status, 200);
  assert.equal(seg.error, true);
  assert.equal(seg.fault ?? false, false);
  assert.equal(seg.cause.exceptions[0].type, 'ClientClosedRequest');
});

test('app: anything but an Express app is refused with a clear error', () => {
  assert.throws(() => traceExpressApp(tracer, {}), { name: 'TypeError', message: /app must be an Express application/ });
  assert.throws(() => traceExpressApp(tracer, () => {}), { name: 'TypeError', message: /app must be an Express application/ });
});

test('app: an entry that throws is recorded as the fault and the error thrown on unchanged', async () => {
  const failure = new Error('entry failed');
  const app = function fakeApp(req, res, next) {
    app.handle(req, res, next);
  };
  app.handle = () => {
    throw failure;
  };
  traceExpressApp(tracer, app, { name: 'thrower' });
  /** @type {unknown[]} */ const caught = [];
  const server = http.createServer((req, res) => {
    try {
      app(req, res);
    } catch (err) {
      caught.push(err);
      res.statusCode = 500;
      res.end('caught');
    }
  });
  const port = await listen(server);
  try {
    const res = await request(port, { path: '/x' });
    assert.equal(res.status, 500);
    assert.deepEqual(caught, [failure], 'the same error reaches the caller');
    const [seg] = await sink.take(1);
    assert.equal(seg.name, 'thrower');
    assert.equal(seg.fault, true);
    assert.equal(seg.cause.exceptions[0].message, 'entry failed');
    assert.equal(seg.http.response.status, 500);
  } finally {
    server.close();
  }
});
