// After a server-mode request has ended, what is left of it in async contexts that outlive it
// (a timer the handler started, a kept-alive connection) must not keep its response alive:
// the request's store stays reachable from those contexts, so the store has to let go of the
// request (request.js clears `store.request` at the end). Checked with the garbage collector
// and WeakRefs, for traceHttpServer and for traceExpress, on real servers on 127.0.0.1.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { setupServerMode, listen, request, ALWAYS } from './helpers/server.mjs';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const sink = await setupServerMode();
const require = createRequire(import.meta.url);
const express = require('express');
const { Tracer } = require('oxray');
const { traceHttpServer, traceExpress } = require('oxray/middleware');

const tracer = new Tracer({ serviceName: 'retention' });
const timers = [];
after(() => {
  for (const timer of timers) clearInterval(timer);
});

/**
 * Serves `count` requests on one kept-alive connection through `makeListener(handle)`; the
 * handler keeps a timer (made in the request's context) and a WeakRef to the response.
 */
async function serve(makeListener, count) {
  const responses = [];
  const handle = (req, res) => {
    responses.push(new WeakRef(res));
    // A timer made while the request's store is current: its context keeps that store.
    timers.push(setInterval(() => {}, 1e9));
    res.end('ok');
  };
  const server = http.createServer(makeListener(handle));
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < count; i++) assert.equal((await request(port, { path: `/r/${i}`, agent })).status, 200);
  // The connection stays open (kept alive) while the collector runs.
  return { responses, close: () => (agent.destroy(), server.close()) };
}

/** Collects garbage until `responses` are all gone, or gives up after a while. */
async function collected(responses) {
  for (let round = 0; round < 20; round++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
    if (responses.every((ref) => ref.deref() === undefined)) return true;
  }
  return responses.filter((ref) => ref.deref() !== undefined).length;
}

/**
 * Five requests through `makeListener`: each traced (its segment received), and every response
 * but the last collected once the requests have ended (the last may still be the kept-alive
 * connection's current one).
 */
async function tracedThenCollected(makeListener) {
  const { responses, close } = await serve(makeListener, 5);
  try {
    const docs = await sink.take(5);
    assert.deepEqual(docs.map((d) => d.http.request.url.replace(/^http:\/\/[^/]+/, '')).sort(), ['/r/0', '/r/1', '/r/2', '/r/3', '/r/4']);
    assert.equal(await collected(responses.slice(0, -1)), true);
  } finally {
    close();
  }
}

test('traceHttpServer: an ended request keeps no response alive', async () => {
  tracer.loadSamplingRules(ALWAYS);
  await tracedThenCollected((handle) => traceHttpServer(tracer, handle));
});

test('traceExpress: an ended request keeps no response alive', async () => {
  await tracedThenCollected((handle) => {
    const app = express();
    app.use(traceExpress(tracer));
    app.get('/r/:id', handle);
    return app;
  });
});
