// Server mode with a real http.createServer on 127.0.0.1: traceHttpServer from
// oxray/middleware, documents received by a UDP daemon stand-in and validated (schema + strict
// rules) as they arrive.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setupServerMode, listen, request, ALWAYS, NEVER } from './helpers/server.mjs';
import { newTraceHeader, decorate, flatten } from './helpers/lambda.mjs';
import { captureLogs } from './helpers/logs.mjs';

const sink = await setupServerMode();
const { Tracer } = await import('oxray');
const { traceHttpServer } = await import('oxray/middleware');

// Made before server mode: off (outside Lambda) until traceHttpServer turns it on.
const tracer = new Tracer({ serviceName: 'shop' });
assert.equal(tracer.isTracingEnabled(), false);

// A plain (untraced) downstream service that shows the header it was called with.
const seenDownstream = [];
const downstream = http.createServer((req, res) => {
  seenDownstream.push(req.headers['x-amzn-trace-id']);
  res.end('{"ok":true}');
});
const downstreamPort = await listen(downstream);

class Catalog {
  async lookup(id) {
    const body = await new Promise((resolve, reject) => {
      http.get(`http://127.0.0.1:${downstreamPort}/items/${id}`, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    return JSON.parse(body);
  }

  price(id) {
    tracer.putAnnotation('item', id);
    return id.length * 10;
  }
}
decorate(Catalog, 'lookup', tracer.captureMethod());
decorate(Catalog, 'price', tracer.captureMethod());
const catalog = new Catalog();

/** What the handler did last, by request path. */
const handled = new Map();

async function app(req, res) {
  const url = new URL(req.url, 'http://x');
  handled.set(url.pathname, true);
  switch (url.pathname) {
    case '/status': {
      res.statusCode = Number(url.searchParams.get('code'));
      res.end('status');
      return;
    }
    case '/throw':
      throw new Error('sync failure in the handler');
    case '/reject':
      await new Promise((resolve) => setImmediate(resolve));
      throw new TypeError('async failure in the handler');
    case '/partial': {
      // Headers and a first chunk, then nothing until the client goes away.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk');
      await new Promise((resolve) => res.once('close', resolve));
      return;
    }
    case '/work': {
      const id = url.searchParams.get('id');
      // Each request waits a different time, so concurrent requests interleave.
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('wait') ?? 0)));
      tracer.putAnnotation('request_id', id);
      const item = await catalog.lookup(id);
      const price = catalog.price(id);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id, price, item }));
      return;
    }
    case '/echo': {
      let body = '';
      for await (const chunk of req) body += chunk;
      res.end(body);
      return;
    }
    case '/chunked-broken-getheader': {
      // A chunked answer (Node keeps no length of its own), then a `getHeader` that throws,
      // as a framework replacing it might: oxray's read of Content-Length fails at the end.
      res.write('first');
      res.getHeader = () => {
        throw new Error('getHeader replaced and broken');
      };
      res.end('second');
      return;
    }
    case '/segment':
      // Kept to look at after the response.
      handled.set('segment', tracer.getSegment());
      res.end('kept');
      return;
    case '/busy-after-close':
      // A close listener of the application's (after oxray's, which was added before the
      // handler ran) that keeps the event loop busy: oxray ends the segment after it.
      res.on('close', () => {
        handled.set('closedAt', Date.now());
        const until = Date.now() + 300;
        while (Date.now() < until);
      });
      res.end('busy');
      return;
    case '/whoami':
      res.setHeader('x-root', String(tracer.getRootXrayTraceId()));
      res.setHeader('x-sampled', String(tracer.isTraceSampled()));
      res.end('me');
      return;
    default:
      res.end('hello');
  }
}

const server = http.createServer(traceHttpServer(tracer, app, { samplingRules: ALWAYS }));
const port = await listen(server);
after(() => {
  server.close();
  downstream.close();
});

test('traceHttpServer turns on the Tracers made earlier outside Lambda', () => {
  assert.equal(tracer.isTracingEnabled(), true);
  assert.equal(new Tracer().isTracingEnabled(), true, 'and those made later');
  assert.equal(new Tracer({ enabled: false }).isTracingEnabled(), false, 'not those turned off on purpose');
});

test('a request without a trace header starts a new trace: one segment with http request and response', async () => {
  const res = await request(port, { path: '/hello?x=1', headers: { 'user-agent': 'oxray-test/1.0' } });
  assert.equal(res.status, 200);
  assert.equal(res.body, 'hello');
  const [seg] = await sink.take(1);
  assert.equal(seg.name, 'shop');
  assert.equal(seg.type, undefined, 'a segment');
  assert.equal(seg.parent_id, undefined, 'a new trace has no parent');
  assert.deepEqual(seg.http.request, { method: 'GET', url: `http://127.0.0.1:${port}/hello`, client_ip: '127.0.0.1', user_agent: 'oxray-test/1.0' });
  assert.deepEqual(seg.http.response, { status: 200, content_length: 5 });
  assert.equal(seg.error ?? false, false);
  assert.equal(seg.fault ?? false, false);
  assert.equal(seg.aws.xray.sdk, 'oxray for Node.js');
  assert.ok(seg.end_time >= seg.start_time);
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id}`, 'no Sampled: the caller did not ask');
});

test('an incoming X-Amzn-Trace-Id is continued; X-Forwarded-For gives the client address', async () => {
  const t = newTraceHeader(1);
  // Header names in any case.
  const res = await request(port, { path: '/hello', headers: { 'x-amzn-TRACE-id': t.header, 'X-FORWARDED-FOR': '203.0.113.7, 10.0.0.1' } });
  const [seg] = await sink.take(1);
  assert.equal(seg.trace_id, t.root);
  assert.equal(seg.parent_id, t.parent);
  assert.equal(seg.http.request.client_ip, '203.0.113.7');
  assert.equal(seg.http.request.x_forwarded_for, true);
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${t.root}`);
});

test('Sampled=0 is honoured: the handler runs, nothing is sent', async () => {
  handled.clear();
  const t = newTraceHeader(0);
  const res = await request(port, { path: '/work?id=a1', headers: { 'X-Amzn-Trace-Id': t.header } });
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.body).price, 20);
  assert.ok(handled.get('/work'));
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${t.root}`);
  // The call made inside passes the decision on.
  assert.match(seenDownstream.at(-1), new RegExp(`^Root=${t.root};Parent=[0-9a-f]{16};Sampled=0$`));
  await sink.none();
});

test('a request is ended when its response closes, sampled or not (an unsampled one reads nothing of the response)', async () => {
  for (const sampled of [1, 0]) {
    handled.clear();
    const res = await request(port, { path: '/segment', headers: { 'X-Amzn-Trace-Id': newTraceHeader(sampled).header } });
    assert.equal(res.body, 'kept');
    const segment = handled.get('segment');
    // The close event may follow the client's read of the answer by a turn.
    for (let i = 0; i < 50 && !segment.isClosed(); i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(segment.isClosed(), true, `Sampled=${sampled}`);
    if (sampled === 1) {
      const [doc] = await sink.take(1);
      assert.equal(doc.http.response.status, 200);
      assert.equal(doc.http.response.content_length, 4);
    }
  }
  await sink.none();
});

test('the end time is when the response closed, though the segment is ended and sent a turn later', async () => {
  handled.clear();
  const res = await request(port, { path: '/busy-after-close' });
  assert.equal(res.body, 'busy');
  const [doc] = await sink.take(1);
  const closedAt = handled.get('closedAt');
  // Taken before the application's listener ran (Date.now() is in whole milliseconds), and
  // not after its 300 ms of work, which ran before the segment was ended.
  assert.ok(doc.end_time * 1000 <= closedAt + 1, `end_time ${doc.end_time * 1000} ms, closed at ${closedAt} ms`);
  assert.ok(doc.end_time * 1000 < closedAt + 150, 'the end time is not the time the segment was ended');
});

test('requests that end in one turn are each ended and sent', async () => {
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => request(port, { path: `/many-${i}` })));
  assert.ok(answers.every((r) => r.body === 'hello'));
  const docs = await sink.take(20);
  assert.deepEqual(docs.map((d) => d.http.request.url.replace(/^.*\//, '')).sort(), Array.from({ length: 20 }, (_, i) => `many-${i}`).sort());
  await sink.none();
});

test('a process that exits in the turn its last response ended still sends that segment', async () => {
  const child = spawn(process.execPath, [new URL('./helpers/last-turn-server.mjs', import.meta.url).pathname], {
    env: { ...process.env, OXRAY_LAST_TURN: 'exit' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.once('close', resolve));
  const { port: childPort } = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
    });
    exited.then((code) => reject(new Error(`last-turn-server exited (${code}): ${err}`)));
  });
  const res = await request(childPort, { path: '/last' });
  assert.equal(res.body, 'bye');
  assert.equal(await exited, 0, err);
  const [doc] = await sink.take(1);
  assert.equal(doc.name, 'exits');
  assert.equal(doc.http.request.url.endsWith('/last'), true);
  assert.equal(doc.http.response.status, 200);
});

test('a worker terminated in the turn its last response ended still sends that segment, ended', async () => {
  const worker = new Worker(new URL('./helpers/last-turn-server.mjs', import.meta.url));
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const { port: workerPort } = await new Promise((resolve) => worker.once('message', resolve));
  const closed = new Promise((resolve) => worker.once('message', resolve));
  const res = await request(workerPort, { path: '/blocked' });
  assert.equal(res.body, 'answered');
  assert.equal(await closed, 'closed');
  // The worker is blocked in the turn its response closed: its flush never runs.
  await worker.terminate();
  assert.equal(await exited, 1);
  const [doc] = await sink.take(1);
  assert.equal(doc.name, 'blocked-worker');
  assert.equal(doc.in_progress, undefined, 'ended, not in progress');
  assert.equal(doc.http.response.status, 200);
});

test('getRootXrayTraceId and isTraceSampled answer for the request being handled', async () => {
  const sampled = newTraceHeader(1);
  const a = await request(port, { path: '/whoami', headers: { 'X-Amzn-Trace-Id': sampled.header } });
  assert.equal(a.headers['x-root'], sampled.root);
  assert.equal(a.headers['x-sampled'], 'true');
  await sink.take(1);
  const unsampled = newTraceHeader(0);
  const b = await request(port, { path: '/whoami', headers: { 'X-Amzn-Trace-Id': unsampled.header } });
  assert.equal(b.headers['x-root'], unsampled.root);
  assert.equal(b.headers['x-sampled'], 'false');
  assert.equal(tracer.getRootXrayTraceId(), undefined, 'outside any request');
  assert.equal(tracer.isTraceSampled(), false);
  await sink.none();
});

test('Sampled=? is answered with the decision (rules: everything sampled)', async () => {
  const res = await request(port, { path: '/hello', headers: { 'X-Amzn-Trace-Id': 'Sampled=?' } });
  const [seg] = await sink.take(1);
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id};Sampled=1`);
});

test('4xx is an error, 429 a throttle, 5xx a fault', async () => {
  for (const code of [404, 429, 503]) await request(port, { path: `/status?code=${code}` });
  const docs = await sink.take(3);
  const byStatus = Object.fromEntries(docs.map((d) => [d.http.response.status, d]));
  assert.equal(byStatus[404].error, true);
  assert.equal(byStatus[404].fault ?? false, false);
  assert.equal(byStatus[429].throttle, true);
  assert.equal(byStatus[429].error, true);
  assert.equal(byStatus[503].fault, true);
  assert.equal(byStatus[503].error ?? false, false);
});

test('a throwing or rejecting handler: fault with its cause, the server still answers 500', async () => {
  const logs = captureLogs();
  try {
    const sync = await request(port, { path: '/throw' });
    const async = await request(port, { path: '/reject' });
    assert.equal(sync.status, 500);
    assert.equal(async.status, 500);
    const docs = await sink.take(2);
    const byPath = Object.fromEntries(docs.map((d) => [new URL(d.http.request.url).pathname, d]));
    for (const [p, type, message] of [['/throw', 'Error', 'sync failure in the handler'], ['/reject', 'TypeError', 'async failure in the handler']]) {
      const seg = byPath[p];
      assert.equal(seg.fault, true, p);
      assert.equal(seg.http.response.status, 500, p);
      const [ex] = seg.cause.exceptions;
      assert.equal(ex.type, type);
      assert.equal(ex.message, message);
      assert.ok(ex.stack.length > 0, 'stack frames recorded');
    }
    const lines = await logs.settle();
    assert.equal(lines.filter((l) => l.includes('request handler failed')).length, 2, lines.join('\n'));
  } finally {
    logs.restore();
  }
});

test('a client that goes away mid-response: the segment is recorded with the error flag', async () => {
  await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/partial', agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
  });
  const [seg] = await sink.take(1);
  assert.equal(seg.http.response.status, 200, 'the status that was sent');
  assert.equal(seg.error, true);
  assert.equal(seg.fault ?? false, false, 'the server did not fail');
  assert.equal(seg.cause.exceptions[0].type, 'ClientClosedRequest');
  assert.equal(seg.cause.exceptions[0].remote, true);
});

test('captureMethod and an outgoing http call inside a request are its children, the header injected', async () => {
  seenDownstream.length = 0;
  const res = await request(port, { path: '/work?id=abc' });
  assert.equal(JSON.parse(res.body).price, 30);
  const [seg] = await sink.take(1);
  assert.equal(seg.annotations.request_id, 'abc');
  const lookup = seg.subsegments.find((s) => s.name === '### lookup');
  const price = seg.subsegments.find((s) => s.name === '### price');
  assert.ok(lookup && price, JSON.stringify(seg.subsegments));
  assert.equal(price.annotations.item, 'abc');
  const [remote] = lookup.subsegments;
  assert.equal(remote.name, '127.0.0.1');
  assert.equal(remote.namespace, 'remote');
  assert.equal(remote.http.request.traced, true);
  assert.equal(remote.http.response.status, 200);
  assert.deepEqual(seenDownstream, [`Root=${seg.trace_id};Parent=${remote.id};Sampled=1`]);
});

test('concurrent requests keep their own segments and children', async () => {
  const ids = Array.from({ length: 12 }, (_, i) => `r${i}`);
  // Later requests wait less: they finish in the opposite order they began.
  const answers = await Promise.all(ids.map((id, i) => request(port, { path: `/work?id=${id}&wait=${(ids.length - i) * 3}` })));
  assert.deepEqual(answers.map((a) => JSON.parse(a.body).id), ids);
  const docs = await sink.take(ids.length);
  assert.equal(new Set(docs.map((d) => d.trace_id)).size, ids.length, 'one trace each');
  for (const seg of docs) {
    const id = seg.annotations.request_id;
    assert.equal(new URL(seg.http.request.url).pathname, '/work');
    assert.equal(seg.subsegments.find((s) => s.name === '### price').annotations.item, id, 'the child belongs to its own request');
    assert.equal(flatten([seg]).filter((e) => e.name === '127.0.0.1').length, 1);
  }
});

test('requests on one kept-alive connection are separate segments', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (const id of ['k1', 'k2', 'k3']) await request(port, { path: `/work?id=${id}`, agent });
  } finally {
    agent.destroy();
  }
  const docs = await sink.take(3);
  assert.deepEqual(docs.map((d) => d.annotations.request_id).sort(), ['k1', 'k2', 'k3']);
  for (const seg of docs) assert.equal(seg.subsegments.length, 2, 'no child of another request');
});

test('a rules file chooses by host, method and path; Sampled=? is answered by it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oxray-rules-'));
  const file = path.join(dir, 'rules.json');
  writeFileSync(file, JSON.stringify({
    version: 2,
    rules: [
      { description: 'health', host: '*', http_method: '*', url_path: '/health', fixed_target: 0, rate: 0 },
      { description: 'api posts', host: 'api.example.com', http_method: 'POST', url_path: '/orders/*', fixed_target: 0, rate: 1 },
    ],
    default: { fixed_target: 0, rate: 0 },
  }));
  tracer.loadSamplingRules(file);
  try {
    const ask = (method, host, p) => request(port, { method, path: p, headers: { host, 'X-Amzn-Trace-Id': 'Sampled=?' } });
    const answers = [
      await ask('POST', 'api.example.com:8080', '/orders/17'),
      await ask('GET', 'api.example.com', '/orders/17'),
      await ask('POST', 'www.example.com', '/orders/17'),
      await ask('POST', 'api.example.com', '/health'),
    ];
    assert.deepEqual(answers.map((a) => a.headers['x-amzn-trace-id'].split(';')[1]), ['Sampled=1', 'Sampled=0', 'Sampled=0', 'Sampled=0']);
    const [seg] = await sink.take(1);
    assert.equal(seg.http.request.method, 'POST');
    assert.equal(seg.http.request.url, 'http://api.example.com:8080/orders/17');
    assert.equal(seg.name, 'shop');
  } finally {
    tracer.loadSamplingRules(ALWAYS);
  }
});

test('bad rules are refused with the field and the reason; the rules in force stay', async () => {
  tracer.loadSamplingRules(NEVER);
  const refusals = [
    [{ version: 2, rules: [{ host: '*', http_method: '*', url_path: '*', fixed_target: 0, rate: 2 }], default: { fixed_target: 0, rate: 1 } }, /^rules\[0\]\.rate: /],
    [{ version: 2, default: { fixed_target: 1, rate: 0.1 }, rat: 1 }, /rat/],
    ['{"version": 2', /not valid JSON/],
    ['/no/such/rules.json', /no\/such\/rules\.json.*cannot be read/],
    [42, /must be an object, JSON text or a file path/],
    [[], /must be a JSON object/],
  ];
  for (const [bad, message] of refusals) assert.throws(() => tracer.loadSamplingRules(bad), { message }, JSON.stringify(bad));
  const res = await request(port, { path: '/hello', headers: { 'X-Amzn-Trace-Id': 'Sampled=?' } });
  assert.match(res.headers['x-amzn-trace-id'], /;Sampled=0$/, 'NEVER still decides');
  await sink.none();
  tracer.loadSamplingRules(ALWAYS);
  await request(port, { path: '/hello' });
  await sink.take(1);
});

test('an unusable incoming header is logged and counted (not flooding the log), and a new trace begins', async () => {
  const logs = captureLogs();
  try {
    const before = tracer.getCounters().warnings;
    const res = await request(port, { path: '/hello', headers: { 'X-Amzn-Trace-Id': 'Root=not-a-trace-id;Sampled=1' } });
    const [seg] = await sink.take(1);
    assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id}`);
    assert.notEqual(seg.trace_id, 'not-a-trace-id');
    // A client sending bad headers again and again: the first 10 are logged, then every 1000th.
    for (let i = 0; i < 24; i++) await request(port, { path: '/hello', headers: { 'X-Amzn-Trace-Id': `Parent=${i}` } });
    await sink.take(24);
    assert.equal(tracer.getCounters().warnings - before, 10);
    const lines = (await logs.settle()).filter((l) => l.includes('X-Amzn-Trace-Id ignored'));
    assert.equal(lines.length, 10, lines.join('\n'));
    assert.match(lines[9], /10 so far/);
  } finally {
    logs.restore();
  }
});

test('a connection closed before any answer still ends the segment', async () => {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  // /echo answers once the whole body arrived; this body never completes.
  handled.clear();
  socket.write('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\npartial');
  while (!handled.get('/echo')) await new Promise((resolve) => setImmediate(resolve));
  socket.destroy();
  const [seg] = await sink.take(1);
  assert.equal(seg.error, true);
  assert.equal(seg.http.response, undefined, 'nothing was answered');
  assert.equal(seg.cause.exceptions[0].type, 'ClientClosedRequest');
});

test('a response whose fields cannot be read at the end is still ended and sent, the problem logged', async () => {
  const logs = captureLogs();
  const warnings = tracer.getCounters().warnings;
  try {
    const res = await request(port, { path: '/chunked-broken-getheader' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'firstsecond', 'the client got the whole answer');
    const [seg] = await sink.take(1);
    assert.equal(seg.http.request.url, `http://127.0.0.1:${port}/chunked-broken-getheader`);
    assert.ok(seg.end_time >= seg.start_time, 'ended');
    assert.equal(seg.in_progress, undefined);
    // The status was read before the length failed; the length is unknown.
    assert.deepEqual(seg.http.response, { status: 200 });
    const lines = await logs.settle();
    assert.ok(lines.some((l) => l.includes('internal tracing error') && l.includes('getHeader replaced and broken')), lines.join('\n'));
    assert.ok(tracer.getCounters().warnings > warnings, 'and counted');
  } finally {
    logs.restore();
  }
});

/**
 * One request to a server traced by oxray whose responses are of class `Response` (Node's
 * `ServerResponse` option); checks that `problem` was logged and counted, and returns the
 * client's answer, the segment and the server's port.
 */
async function throughResponseClass(Response, path, problem) {
  const other = http.createServer({ ServerResponse: Response }, traceHttpServer(tracer, (req, res) => res.end('ok'), { samplingRules: ALWAYS }));
  const otherPort = await listen(other);
  const logs = captureLogs();
  const warnings = tracer.getCounters().warnings;
  try {
    const res = await request(otherPort, { path });
    const [seg] = await sink.take(1);
    const lines = await logs.settle();
    assert.ok(lines.some((l) => l.includes(problem)), lines.join('\n'));
    assert.ok(tracer.getCounters().warnings > warnings, 'and counted');
    return { res, seg, otherPort };
  } finally {
    logs.restore();
    other.close();
  }
}

test('a response class whose setHeader refuses the trace header: traced, answered without it, logged', async () => {
  class Refusing extends http.ServerResponse {
    setHeader(name, value) {
      if (String(name).toLowerCase() === 'x-amzn-trace-id') throw new Error('setHeader refused the trace header');
      return super.setHeader(name, value);
    }
  }
  const { res, seg } = await throughResponseClass(Refusing, '/refused', 'setHeader refused the trace header');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'ok');
  assert.equal(res.headers['x-amzn-trace-id'], undefined);
  assert.deepEqual(seg.http.response, { status: 200, content_length: 2 }, 'the request is still traced to its end');
});

test('a response whose end cannot be watched: the request runs untraced, its segment ended and sent, logged', async () => {
  class Unwatchable extends http.ServerResponse {
    on(event, listener) {
      if (event === 'close') throw new Error('close listeners refused');
      return super.on(event, listener);
    }
  }
  const { res, seg, otherPort } = await throughResponseClass(Unwatchable, '/unwatchable', 'close listeners refused');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'ok', 'the handler ran');
  assert.equal(seg.http.request.url, `http://127.0.0.1:${otherPort}/unwatchable`);
  assert.ok(seg.end_time >= seg.start_time, 'ended at once rather than left open');
  assert.equal(seg.http.response, undefined, 'nothing was known of the answer yet');
});
