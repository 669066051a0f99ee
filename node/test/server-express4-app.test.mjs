// Server mode with a real Express 4 app on 127.0.0.1 (the dev dependency `express4`, an npm
// alias of express@4), traced from its entry: traceExpressApp(tracer, app). The shared suite
// (with an app mounted in an untraced one) first, then a server made with its own
// IncomingMessage class (the request does not arrive with Node's prototype: read generically
// from the start).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { expressSuite } from './helpers/express-suite.mjs';
import { listen, request } from './helpers/server.mjs';

const { sink, tracer } = await expressSuite('app', 'express4');
const require = createRequire(import.meta.url);
const express = require('express4');
const { traceExpressApp } = require('oxray/middleware');

class TimedRequest extends http.IncomingMessage {
  constructor(socket) {
    super(socket);
    this.receivedAt = Date.now();
  }
}
const own = traceExpressApp(tracer, express(), { name: 'own-request-class' });
own.get('/items/:id', (req, res) => res.status(202).send(`${req.params.id} ${typeof req.receivedAt}`));
const ownServer = http.createServer({ IncomingMessage: TimedRequest }, own);
const ownPort = await listen(ownServer);

after(() => ownServer.close());

test('app, Express 4: a server with its own IncomingMessage class: the request is traced in full', async () => {
  const res = await request(ownPort, { path: '/items/9?full=1', headers: { 'User-Agent': 'probe/1', 'X-Forwarded-For': '203.0.113.9' } });
  assert.equal(res.status, 202);
  assert.equal(res.body, '9 number');
  const [seg] = await sink.take(1);
  assert.equal(seg.name, 'own-request-class');
  assert.equal(seg.http.request.method, 'GET');
  assert.equal(seg.http.request.url, `http://127.0.0.1:${ownPort}/items/9`);
  assert.equal(seg.http.request.user_agent, 'probe/1');
  assert.equal(seg.http.request.client_ip, '203.0.113.9');
  assert.equal(seg.http.request.x_forwarded_for, true);
  assert.equal(seg.http.response.status, 202);
  assert.equal(seg.http.response.content_length, Buffer.byteLength(res.body));
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id}`);
});
