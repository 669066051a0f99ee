// The Express server-mode suite, run for both ways of tracing an Express app (a real Express
// app on 127.0.0.1, documents received by a UDP daemon stand-in and validated on arrival):
//   'middleware': app.use(traceExpress(tracer)) as the first middleware;
//   'app':        traceExpressApp(tracer, app), the app's entry wrapped.
// traceExpressErrors records route errors in both. Express 5 is the package `express`,
// Express 4 the dev dependency `express4` (an npm alias of express@4). Call it from a test
// file, once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { setupServerMode, listen, request, ALWAYS } from './server.mjs';
import { newTraceHeader, decorate } from './lambda.mjs';

/**
 * @param {'middleware' | 'app'} mode
 * @param {'express' | 'express4'} [expressPackage]
 * @returns {Promise<{ sink: any, tracer: any, port: number }>}
 */
export async function expressSuite(mode, expressPackage = 'express') {
  const sink = await setupServerMode({ POWERTOOLS_SERVICE_NAME: 'orders' });
  const require = createRequire(import.meta.url);
  // CommonJS entry points, as most Express apps load them.
  const express = require(expressPackage);
  const major = Number(require(`${expressPackage}/package.json`).version.split('.')[0]);
  const label = `${mode}, Express ${major}`;
  // Express 4 does not catch a route's rejected promise (the request would hang): such apps
  // pass it to next() themselves. Express 5 is given the async function as it is.
  const asyncRoute = major >= 5 ? (fn) => fn : (fn) => (req, res, next) => fn(req, res, next).catch(next);
  const { Tracer } = require('oxray');
  const { traceExpress, traceExpressApp, traceExpressErrors } = require('oxray/middleware');

  const tracer = new Tracer();
  const seenDownstream = [];
  const downstream = http.createServer((req, res) => {
    seenDownstream.push(req.headers['x-amzn-trace-id']);
    res.end('stock: 3');
  });
  const downstreamPort = await listen(downstream);

  class Store {
    async reserve(order) {
      const res = await fetch(`http://127.0.0.1:${downstreamPort}/stock/${order.sku}`);
      return { sku: order.sku, stock: await res.text() };
    }
  }
  decorate(Store, 'reserve', tracer.captureMethod());
  const store = new Store();

  /** A new app, traced the way under test. */
  const tracedApp = (options) => {
    const made = express();
    if (mode === 'app') return traceExpressApp(tracer, made, options);
    made.use(traceExpress(tracer, options));
    return made;
  };

  const app = tracedApp({ samplingRules: ALWAYS });
  app.use(express.json());
  const api = express.Router();
  api.get('/items/:id', (req, res) => {
    tracer.putAnnotation('item', req.params.id);
    res.json({ id: req.params.id });
  });
  // Runs after express.json() read the body: in the connection's async context, not the handler's.
  api.post('/orders', asyncRoute(async (req, res) => {
    tracer.putAnnotation('sku', req.body.sku);
    const reserved = await store.reserve(req.body);
    res.status(201).json(reserved);
  }));
  api.get('/boom', () => {
    throw new Error('route failed');
  });
  api.get(
    '/async-boom',
    asyncRoute(async () => {
      await new Promise((resolve) => setImmediate(resolve));
      const err = new Error('upstream says no');
      err.status = 503;
      throw err;
    }),
  );
  api.get('/teapot', (req, res, next) => {
    const err = new Error('I am a teapot');
    err.status = 418;
    next(err);
  });
  app.use('/api', api);
  // A sub-application traced on its own: mounted here, its requests stay one segment.
  const inner = tracedApp();
  inner.get('/ping', (req, res) => res.send('pong'));
  app.use('/inner', inner);
  app.use(traceExpressErrors(tracer));
  // The app's own error handler still runs, after oxray's.
  app.use((err, req, res, next) => {
    res.status(err.status ?? 500).json({ error: err.message });
  });

  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = server.address().port;
  after(() => {
    server.close();
    downstream.close();
  });

  test(`${label}: a route under a mount path: segment named after POWERTOOLS_SERVICE_NAME, full URL recorded`, async () => {
    const res = await request(port, { path: '/api/items/42?expand=1' });
    assert.equal(res.status, 200);
    const [seg] = await sink.take(1);
    assert.equal(seg.name, 'orders');
    assert.equal(seg.http.request.url, `http://127.0.0.1:${port}/api/items/42`);
    assert.equal(seg.http.request.method, 'GET');
    assert.equal(seg.http.response.status, 200);
    assert.equal(seg.http.response.content_length, Buffer.byteLength(res.body));
    assert.equal(seg.annotations.item, '42');
    assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id}`);
  });

  test(`${label}: after a body parser the route still sees its segment: annotations, captureMethod, fetch`, async () => {
    seenDownstream.length = 0;
    const t = newTraceHeader(1);
    const res = await request(port, {
      method: 'POST',
      path: '/api/orders',
      headers: { 'content-type': 'application/json', 'X-Amzn-Trace-Id': t.header },
      body: JSON.stringify({ sku: 'sku-7' }),
    });
    assert.equal(res.status, 201);
    const [seg] = await sink.take(1);
    assert.equal(seg.trace_id, t.root);
    assert.equal(seg.parent_id, t.parent);
    assert.equal(seg.annotations.sku, 'sku-7');
    const reserve = seg.subsegments.find((s) => s.name === '### reserve');
    assert.ok(reserve, JSON.stringify(seg));
    const [remote] = reserve.subsegments;
    assert.equal(remote.name, '127.0.0.1');
    assert.equal(remote.http.response.status, 200);
    assert.deepEqual(seenDownstream, [`Root=${t.root};Parent=${remote.id};Sampled=1`]);
  });

  test(`${label}: a throwing route: fault with its cause, answered 500 by the app`, async () => {
    const res = await request(port, { path: '/api/boom' });
    assert.equal(res.status, 500);
    assert.deepEqual(JSON.parse(res.body), { error: 'route failed' });
    const [seg] = await sink.take(1);
    assert.equal(seg.fault, true);
    assert.equal(seg.http.response.status, 500);
    assert.equal(seg.cause.exceptions[0].message, 'route failed');
    assert.ok(seg.cause.exceptions[0].stack.length > 0);
  });

  test(`${label}: an async route rejecting with status 503 is a fault; next(err) with 418 is an error`, async () => {
    assert.equal((await request(port, { path: '/api/async-boom' })).status, 503);
    assert.equal((await request(port, { path: '/api/teapot' })).status, 418);
    const docs = await sink.take(2);
    const byStatus = Object.fromEntries(docs.map((d) => [d.http.response.status, d]));
    assert.equal(byStatus[503].fault, true);
    assert.equal(byStatus[503].cause.exceptions[0].message, 'upstream says no');
    assert.equal(byStatus[418].error, true);
    assert.equal(byStatus[418].fault ?? false, false);
    assert.equal(byStatus[418].cause.exceptions[0].message, 'I am a teapot');
  });

  test(`${label}: an unknown route is a 404: error flag, no cause`, async () => {
    assert.equal((await request(port, { path: '/nowhere' })).status, 404);
    const [seg] = await sink.take(1);
    assert.equal(seg.error, true);
    assert.equal(seg.cause, undefined);
  });

  test(`${label}: Sampled=0 sends nothing; Sampled=? is answered`, async () => {
    const t = newTraceHeader(0);
    const res = await request(port, { path: '/api/items/1', headers: { 'X-Amzn-Trace-Id': t.header } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-amzn-trace-id'], `Root=${t.root}`);
    await sink.none();
    const asked = await request(port, { path: '/api/items/2', headers: { 'X-Amzn-Trace-Id': 'Sampled=?' } });
    const [seg] = await sink.take(1);
    assert.equal(asked.headers['x-amzn-trace-id'], `Root=${seg.trace_id};Sampled=1`);
  });

  test(`${label}: concurrent requests through the body parser keep their own segments`, async () => {
    const skus = Array.from({ length: 10 }, (_, i) => `s${i}`);
    const answers = await Promise.all(
      skus.map((sku) => request(port, { method: 'POST', path: '/api/orders', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku }) })),
    );
    assert.deepEqual(answers.map((a) => JSON.parse(a.body).sku), skus);
    const docs = await sink.take(skus.length);
    for (const seg of docs) {
      const reserve = seg.subsegments.find((s) => s.name === '### reserve');
      assert.equal(seg.subsegments.length, 1);
      assert.equal(reserve.subsegments.length, 1);
    }
    assert.deepEqual(docs.map((d) => d.annotations.sku).sort(), [...skus].sort());
  });

  test(`${label}: an app traced on its own and mounted in a traced app: still one segment per request`, async () => {
    assert.equal((await request(port, { path: '/inner/ping' })).body, 'pong');
    const [seg] = await sink.take(1);
    assert.equal(seg.http.request.url, `http://127.0.0.1:${port}/inner/ping`);
  });

  if (mode === 'app') await mountedInUntraced(express, tracer, sink, label);
  return { sink, tracer, port };
}

/**
 * traceExpressApp only: a traced app mounted in an untraced one. Its requests reach it with
 * Express's prototypes and the mount path cut from req.url; the untraced app's own routes
 * stay untraced.
 */
async function mountedInUntraced(express, tracer, sink, label) {
  const { traceExpressApp } = createRequire(import.meta.url)('oxray/middleware');
  const outer = express();
  const mounted = traceExpressApp(tracer, express(), { name: 'mounted' });
  mounted.get('/ping', (req, res) => res.send(`pong ${tracer.getRootXrayTraceId()}`));
  outer.use('/v1', mounted);
  outer.get('/untraced', (req, res) => res.send('no segment'));
  const outerServer = http.createServer(outer);
  const outerPort = await listen(outerServer);
  after(() => outerServer.close());

  test(`${label}: an app mounted in an untraced app is traced with its full URL`, async () => {
    const t = newTraceHeader(1);
    const res = await request(outerPort, { path: '/v1/ping?x=1', headers: { 'X-Amzn-Trace-Id': t.header } });
    assert.equal(res.body, `pong ${t.root}`);
    const [seg] = await sink.take(1);
    assert.equal(seg.name, 'mounted');
    assert.equal(seg.trace_id, t.root);
    assert.equal(seg.parent_id, t.parent);
    assert.equal(seg.http.request.url, `http://127.0.0.1:${outerPort}/v1/ping`);
    assert.equal(seg.http.response.status, 200);
    assert.equal(res.headers['x-amzn-trace-id'], `Root=${t.root}`);
    assert.equal((await request(outerPort, { path: '/untraced' })).body, 'no segment');
    await sink.none();
  });
}
