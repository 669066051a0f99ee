// Server mode: what the response of a traced request carries and what its segment records of
// it, however the handler writes it — the X-Amzn-Trace-Id answer (on the wire as spelled, seen
// by getHeader/hasHeader, kept beside the handler's own headers, handed to a setHeader that a
// response class replaced), the content length (declared, computed by Node, chunked, empty),
// the client-closed case, and request details read from long or non-ASCII header values.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { setupServerMode, listen, ALWAYS } from './helpers/server.mjs';

const sink = await setupServerMode();
const { Tracer } = await import('oxray');
const { traceHttpServer } = await import('oxray/middleware');
const tracer = new Tracer({ serviceName: 'answers' });

/** What the handler saw of its own response, by path. */
const seen = new Map();

function app(req, res) {
  const path = req.url.split('?')[0];
  switch (path) {
    case '/seen':
      seen.set(path, { get: res.getHeader('x-amzn-trace-id'), has: res.hasHeader('X-Amzn-Trace-Id'), names: res.getHeaderNames() });
      res.setHeader('x-own', 'mine');
      res.end('seen');
      return;
    case '/declared':
      res.setHeader('Content-Length', '11');
      res.write('hello ');
      res.end('world');
      return;
    case '/writehead-object':
      res.writeHead(201, { 'content-type': 'text/plain', 'content-length': 4 });
      res.end('made');
      return;
    case '/writehead-array':
      res.writeHead(202, ['content-type', 'text/plain']);
      res.end('raw');
      return;
    case '/chunked':
      res.write('one ');
      res.end('two');
      return;
    case '/empty':
      res.statusCode = 204;
      res.end();
      return;
    case '/removed':
      res.removeHeader('x-amzn-trace-id');
      res.end('gone');
      return;
    case '/partial':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk');
      return;
    default:
      res.end('ok');
  }
}

const server = http.createServer(traceHttpServer(tracer, app, { samplingRules: ALWAYS }));
const port = await listen(server);

/** A response class whose setHeader records its calls. */
const calls = [];
class Watched extends http.ServerResponse {
  setHeader(name, value) {
    calls.push([name, value]);
    return super.setHeader(name, value);
  }
}
const watchedServer = http.createServer({ ServerResponse: Watched }, traceHttpServer(tracer, app));
const watchedPort = await listen(watchedServer);

after(() => {
  server.close();
  watchedServer.close();
});

/** One GET; resolves with the status, raw header pairs, headers and body. */
function get(p, path, headers = {}) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: p, path, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, raw: res.rawHeaders, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** The raw header names of a response that match `name` in any case. */
const rawNames = (raw, name) => raw.filter((v, i) => i % 2 === 0 && v.toLowerCase() === name);

test('the answer goes out as X-Amzn-Trace-Id, once, and the handler sees it in its response', async () => {
  const res = await get(port, '/seen');
  const [seg] = await sink.take(1);
  assert.deepEqual(rawNames(res.raw, 'x-amzn-trace-id'), ['X-Amzn-Trace-Id']);
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id}`);
  assert.equal(res.headers['x-own'], 'mine', "the handler's own header is kept");
  const inside = seen.get('/seen');
  assert.equal(inside.get, `Root=${seg.trace_id}`);
  assert.equal(inside.has, true);
  assert.ok(inside.names.includes('x-amzn-trace-id'));
});

test('the answer stays beside headers given to writeHead, as an object or as a raw array', async () => {
  const object = await get(port, '/writehead-object');
  const array = await get(port, '/writehead-array');
  const [a, b] = await sink.take(2);
  const byStatus = Object.fromEntries([a, b].map((s) => [s.http.response.status, s]));
  assert.equal(object.status, 201);
  assert.equal(object.headers['content-type'], 'text/plain');
  assert.equal(object.headers['x-amzn-trace-id'], `Root=${byStatus[201].trace_id}`);
  assert.equal(byStatus[201].http.response.content_length, 4);
  assert.equal(array.status, 202);
  assert.equal(array.headers['content-type'], 'text/plain');
  assert.equal(array.headers['x-amzn-trace-id'], `Root=${byStatus[202].trace_id}`);
});

test('a handler may remove the answer', async () => {
  const res = await get(port, '/removed');
  await sink.take(1);
  assert.equal(res.headers['x-amzn-trace-id'], undefined);
  assert.equal(res.body, 'gone');
});

test('a response class with its own setHeader gets the answer through it', async () => {
  calls.length = 0;
  const res = await get(watchedPort, '/');
  const [seg] = await sink.take(1);
  assert.deepEqual(calls, [['X-Amzn-Trace-Id', `Root=${seg.trace_id}`]]);
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id}`);
});

test('content length: declared, computed by Node, none for a chunked answer, 0 for an empty one', async () => {
  for (const [path, status, length] of [
    ['/declared', 200, 11],
    ['/', 200, 2],
    ['/chunked', 200, undefined],
    ['/empty', 204, 0],
  ]) {
    const res = await get(port, path);
    const [seg] = await sink.take(1);
    assert.equal(res.status, status, path);
    assert.equal(seg.http.response.status, status, path);
    assert.equal(seg.http.response.content_length, length, path);
  }
});

test('a client gone before the response is complete: recorded with the error flag, status and no length', async () => {
  await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /partial HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.once('data', () => socket.destroy());
    socket.on('close', resolve);
    socket.on('error', reject);
  });
  const [seg] = await sink.take(1);
  assert.equal(seg.error, true);
  assert.equal(seg.http.response.status, 200);
  assert.equal(seg.cause.exceptions[0].type, 'ClientClosedRequest');
});

test('header values longer than the addon reads on its stack, and non-ASCII ones, are read whole', async () => {
  // 400 characters: the user agent is kept to the core's 250, the first forwarded address found
  // after reading the whole list.
  const agent = `agent/${'x'.repeat(400)}`;
  const forwarded = ['198.51.100.9', ...Array.from({ length: 40 }, (_, i) => `10.0.0.${i}`)].join(', ');
  await get(port, '/', { 'user-agent': agent, 'x-forwarded-for': forwarded });
  const [long] = await sink.take(1);
  assert.equal(long.http.request.user_agent, agent.slice(0, 250));
  assert.equal(long.http.request.client_ip, '198.51.100.9');
  // Node reads header bytes as Latin-1: 0xE9 arrives as é, recorded as UTF-8 é.
  await get(port, '/', { 'user-agent': 'caf\u00e9/1.0' });
  const [accented] = await sink.take(1);
  assert.equal(accented.http.request.user_agent, 'café/1.0');
  assert.equal(accented.http.request.client_ip, '127.0.0.1');
});

test('every request on a kept-alive connection records the peer address', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ports = [];
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          ports.push(res.socket.localPort);
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  }
  agent.destroy();
  const docs = await sink.take(3);
  assert.equal(new Set(ports).size, 1, 'one connection');
  assert.deepEqual(docs.map((d) => d.http.request.client_ip), ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
});
