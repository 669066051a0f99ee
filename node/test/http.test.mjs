// http, https-module wrapping and fetch against a real local http server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { setupLambda, invoke, fakeContext, decorate, byName, flatten } from './helpers/lambda.mjs';

const sink = await setupLambda();
const { Tracer } = await import('oxray');
const tracer = new Tracer();
const second = new Tracer({ serviceName: 'second' });
// Imported after the Tracer exists: ESM named imports see the wrapped functions.
const { request: namedRequest } = await import('node:http');

/** @type {{ url: string, header: string | undefined }[]} */
const seen = [];
const server = http.createServer((req, res) => {
  seen.push({ url: req.url, header: req.headers['x-amzn-trace-id'] });
  const status = Number(new URL(req.url, 'http://x').searchParams.get('status') ?? 200);
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': 5 });
  res.end('hello');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
after(() => server.close());

/** A port nothing listens on. */
async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}
const deadPort = await closedPort();

function get(path) {
  return new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${port}${path}`, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

function post(path) {
  return new Promise((resolve, reject) => {
    const req = namedRequest({ host: '127.0.0.1', port, path, method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end('body');
  });
}

function refused() {
  return new Promise((resolve) => {
    http.get(`http://127.0.0.1:${deadPort}/nothing`).on('error', (e) => resolve(e.code));
  });
}

class Api {
  async handler() {
    const statuses = [await get('/ok?x=1'), await get('/missing?status=404'), await post('/fail?status=500'), await refused()];
    return statuses;
  }
}
decorate(Api, 'handler', tracer.captureLambdaHandler());

test('http: remote subsegments named after the host, status flags, header injected', async () => {
  seen.length = 0;
  const { result } = await invoke(() => new Api().handler({}, fakeContext()));
  assert.deepEqual(result, [200, 404, 500, 'ECONNREFUSED']);
  const docs = await sink.take(1);
  const handler = docs[0];
  const remotes = handler.subsegments;
  assert.equal(remotes.length, 4);
  for (const r of remotes) {
    assert.equal(r.name, '127.0.0.1');
    assert.equal(r.namespace, 'remote');
  }
  const [ok, missing, failed, down] = remotes.sort((x, y) => x.start_time - y.start_time);
  assert.deepEqual(ok.http.request, { method: 'GET', url: `http://127.0.0.1:${port}/ok`, traced: true });
  assert.deepEqual(ok.http.response, { status: 200, content_length: 5 });
  assert.equal(ok.error, undefined);
  assert.equal(missing.error, true);
  assert.equal(failed.http.request.method, 'POST');
  assert.equal(failed.fault, true);
  assert.equal(down.fault, true);
  assert.equal(down.http.response, undefined);
  assert.equal(down.cause.exceptions[0].message.includes('ECONNREFUSED'), true);
  assert.equal(seen.length, 3);
  for (const [i, s] of seen.entries()) {
    const sub = [ok, missing, failed][i];
    assert.equal(s.header, `Root=${handler.trace_id};Parent=${sub.id};Sampled=1`);
  }
});

class Fetcher {
  async handler() {
    const out = [];
    for (const status of [200, 404, 500, 429]) {
      const res = await fetch(`http://127.0.0.1:${port}/f?status=${status}`);
      await res.text();
      out.push(res.status);
    }
    out.push(await fetch(`http://127.0.0.1:${deadPort}/`).then(() => 'up', (e) => e.cause?.code ?? 'failed'));
    out.push(await this.callDownstream());
    return out;
  }

  async callDownstream() {
    const res = await fetch(`http://127.0.0.1:${port}/nested`, { headers: { accept: 'text/plain' } });
    return res.text();
  }
}
decorate(Fetcher, 'handler', tracer.captureLambdaHandler());
decorate(Fetcher, 'callDownstream', tracer.captureMethod());

test('fetch: subsegments via undici channels, flags, header injected once with two Tracers', async () => {
  seen.length = 0;
  const { result } = await invoke(() => new Fetcher().handler({}, fakeContext()));
  assert.deepEqual(result, [200, 404, 500, 429, 'ECONNREFUSED', 'hello']);
  const docs = await sink.take(1);
  const handler = docs[0];
  const direct = handler.subsegments.filter((s) => s.name === '127.0.0.1').sort((x, y) => x.start_time - y.start_time);
  assert.equal(direct.length, 5);
  const [ok, notFound, fault, throttled, down] = direct;
  assert.equal(ok.http.response.status, 200);
  assert.equal(ok.http.response.content_length, 5);
  assert.equal(ok.http.request.url, `http://127.0.0.1:${port}/f`);
  assert.equal(notFound.error, true);
  assert.equal(fault.fault, true);
  assert.equal(throttled.throttle, true);
  assert.equal(throttled.error, true);
  assert.equal(down.fault, true);
  assert.equal(down.error ?? false, false, 'a network failure is a fault, not error + fault (README: deliberate differences)');
  assert.equal(down.cause.exceptions[0].remote, true);
  const nested = byName(docs, '### callDownstream');
  assert.equal(nested.subsegments.length, 1);
  assert.equal(nested.subsegments[0].name, '127.0.0.1');
  // Two Tracer instances exist; each request still carries exactly one trace header.
  assert.ok(second.isTracingEnabled());
  assert.equal(seen.length, 5);
  for (const s of seen) assert.match(s.header, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1$/);
  assert.equal(flatten(docs).filter((e) => e.name === '127.0.0.1').length, 6);
});

test('requests outside traced code, or already carrying a trace header, are left alone', async () => {
  seen.length = 0;
  delete process.env._X_AMZN_TRACE_ID;
  await (await fetch(`http://127.0.0.1:${port}/untraced`)).text();
  assert.equal(await get('/untraced'), 200);
  class Preset {
    async handler() {
      const res = await fetch(`http://127.0.0.1:${port}/preset`, { headers: { 'X-Amzn-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793' } });
      return res.text();
    }
  }
  decorate(Preset, 'handler', tracer.captureLambdaHandler());
  await invoke(() => new Preset().handler({}, fakeContext()));
  const [doc] = await sink.take(1);
  assert.equal(doc.subsegments, undefined);
  assert.deepEqual(seen.map((s) => s.header), [undefined, undefined, 'Root=1-5759e988-bd862e3fe1be46a994272793']);
});

test('unsampled invocation: nothing sent, downstream still told Sampled=0', async () => {
  seen.length = 0;
  await invoke(() => new Fetcher().handler({}, fakeContext()), 0);
  await sink.none();
  assert.ok(seen.length > 0);
  for (const s of seen) assert.match(s.header, /;Sampled=0$/);
});

test('node:https loaded after the Tracer is wrapped at the next traced invocation', async () => {
  const https = (await import('node:https')).default;
  const before = https.request;
  class Noop {
    async handler() {
      return 1;
    }
  }
  decorate(Noop, 'handler', tracer.captureLambdaHandler());
  await invoke(() => new Noop().handler({}, fakeContext()));
  await sink.take(1);
  assert.notEqual(https.request, before, 'https.request wrapped');
  assert.equal(typeof https.get, 'function');
});

test('a header with only Root: nothing sent, downstream gets that Root with Sampled=0', async () => {
  seen.length = 0;
  const root = '1-5759e988-bd862e3fe1be46a994272793';
  process.env._X_AMZN_TRACE_ID = `Root=${root}`;
  let reported;
  class RootOnly {
    async handler() {
      reported = tracer.getRootXrayTraceId();
      await (await fetch(`http://127.0.0.1:${port}/root-only-fetch`)).text();
      return get('/root-only-http');
    }
  }
  decorate(RootOnly, 'handler', tracer.captureLambdaHandler());
  assert.equal(await new RootOnly().handler({}, fakeContext()), 200);
  await sink.none();
  assert.equal(reported, root);
  assert.deepEqual(seen.map((s) => s.url), ['/root-only-fetch', '/root-only-http']);
  for (const s of seen) assert.match(s.header, new RegExp(`^Root=${root};Parent=[0-9a-f]{16};Sampled=0$`));
});
