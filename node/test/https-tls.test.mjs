// https capture over real TLS: a local https server with a self-signed certificate made at test
// time (openssl), clients that trust it through `ca` (never `rejectUnauthorized: false`), and
// fetch in a child process that trusts it through NODE_EXTRA_CA_CERTS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { setupLambda, invoke, newTraceHeader, fakeContext, decorate, flatten } from './helpers/lambda.mjs';
import { makeCertificate, NO_OPENSSL } from './helpers/tls.mjs';
import { runNode } from './helpers/child.mjs';

const sink = await setupLambda();
const { Tracer } = await import('oxray');
const tracer = new Tracer();

const tls = makeCertificate();
const noOpenssl = tls === null && NO_OPENSSL;
after(() => tls?.remove());

/** @type {{ url: string, header: string | undefined, secure: boolean }[]} */
const seen = [];
/** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
function respond(req, res) {
  seen.push({ url: String(req.url), header: req.headers['x-amzn-trace-id'], secure: Boolean(/** @type {any} */ (req.socket).encrypted) });
  const status = Number(new URL(String(req.url), 'https://x').searchParams.get('status') ?? 200);
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': 6 });
  res.end('secure');
}

/** Starts an https server on 127.0.0.1 (port 0: any free port); null if that port cannot be had. */
async function listen(port) {
  if (!tls) return null;
  const server = https.createServer({ key: tls.key, cert: tls.cert }, respond);
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(undefined));
    });
  } catch {
    return null;
  }
  after(() => server.close());
  return server;
}

const server = await listen(0);
const port = server ? /** @type {import('node:net').AddressInfo} */ (server.address()).port : 0;

/** GET through https.request with the test CA; resolves the status or the error code. */
function get(url, options = {}) {
  return new Promise((resolve) => {
    const req = https.request(url, { ca: tls?.cert, ...options }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', (err) => resolve(/** @type {any} */ (err).code ?? 'failed'));
    req.end();
  });
}

/** The handler's remote subsegments, oldest first. */
function remotes(doc) {
  return flatten([doc]).filter((e) => e.namespace === 'remote').sort((a, b) => a.start_time - b.start_time);
}

test('https.request over TLS: remote subsegment with the https URL and port, flags, header seen by the server', { skip: noOpenssl }, async () => {
  seen.length = 0;
  class Api {
    async handler() {
      const base = `https://127.0.0.1:${port}`;
      return [
        await get(`${base}/orders/7?expand=1`),
        // The options form, and https.get, both go through the wrapper.
        await new Promise((resolve) => {
          https.get({ host: '127.0.0.1', port, path: '/missing?status=404', ca: tls?.cert }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode));
          });
        }),
        await get(new URL(`${base}/busy?status=429`)),
        await get(`${base}/down?status=503`, { method: 'POST' }),
        // Without the test CA the handshake fails: a fault with its cause, nothing reaches the server.
        await get(`${base}/untrusted`, { ca: undefined }),
      ];
    }
  }
  decorate(Api, 'handler', tracer.captureLambdaHandler());
  const { root, result } = await invoke(() => new Api().handler({}, fakeContext()));
  assert.deepEqual(result.slice(0, 4), [200, 404, 429, 503]);
  assert.match(String(result[4]), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);

  const [doc] = await sink.take(1);
  assert.equal(doc.trace_id, root);
  const subs = remotes(doc);
  assert.equal(subs.length, 5);
  const [ok, missing, busy, down, untrusted] = subs;
  for (const s of subs) assert.equal(s.name, '127.0.0.1');
  assert.deepEqual(ok.http, { request: { method: 'GET', url: `https://127.0.0.1:${port}/orders/7`, traced: true }, response: { status: 200, content_length: 6 } });
  assert.equal(ok.error ?? ok.fault ?? ok.throttle, undefined, 'a 200 carries no flag');
  assert.equal(missing.http.request.url, `https://127.0.0.1:${port}/missing`);
  assert.equal(missing.error, true);
  assert.equal(missing.fault, undefined);
  assert.equal(busy.throttle, true);
  assert.equal(busy.error, true);
  assert.deepEqual(down.http.request, { method: 'POST', url: `https://127.0.0.1:${port}/down`, traced: true });
  assert.equal(down.http.response.status, 503);
  assert.equal(down.fault, true);
  assert.equal(untrusted.http.response, undefined);
  assert.equal(untrusted.fault, true);
  assert.match(untrusted.cause.exceptions[0].message, /self[- ]signed|certificate/i);

  // The server saw four requests over TLS, each with the header naming its own subsegment.
  assert.deepEqual(seen.map((s) => s.url), ['/orders/7?expand=1', '/missing?status=404', '/busy?status=429', '/down?status=503']);
  for (const [i, s] of seen.entries()) {
    assert.equal(s.secure, true);
    assert.equal(s.header, `Root=${root};Parent=${subs[i].id};Sampled=1`);
  }
});

test('https on the default port 443: the URL carries no port', { skip: noOpenssl }, async (t) => {
  const standard = await listen(443);
  if (standard === null) {
    t.skip('127.0.0.1:443 is not available here');
    return;
  }
  seen.length = 0;
  class Api {
    async handler() {
      return get('https://127.0.0.1/standard?q=1');
    }
  }
  decorate(Api, 'handler', tracer.captureLambdaHandler());
  const { root, result } = await invoke(() => new Api().handler({}, fakeContext()));
  assert.equal(result, 200);
  const [doc] = await sink.take(1);
  const [sub] = remotes(doc);
  assert.equal(sub.http.request.url, 'https://127.0.0.1/standard');
  assert.equal(seen[0].header, `Root=${root};Parent=${sub.id};Sampled=1`);
  await new Promise((resolve) => standard.close(resolve));
});

// fetch (undici) cannot be given a CA per request in Node 20 without the undici package, so it
// runs in a child process that trusts the test certificate through NODE_EXTRA_CA_CERTS.
const fetchChild = `
const { Tracer } = await import(process.env.OXRAY_ENTRY);
const { decorate, fakeContext } = await import(process.env.HELPERS_ENTRY);
const tracer = new Tracer();
class Api {
  async handler() {
    const out = [];
    for (const path of ['/fetched?status=200', '/fetched-missing?status=404', '/fetched-down?status=500']) {
      const res = await fetch(process.env.BASE + path, { method: path.includes('down') ? 'PUT' : 'GET' });
      await res.text();
      out.push(res.status);
    }
    return out;
  }
}
decorate(Api, 'handler', tracer.captureLambdaHandler());
process.stdout.write(JSON.stringify(await new Api().handler({}, fakeContext())));
`;

test('fetch over TLS (child process trusting the certificate): subsegments, https URL with port, header', { skip: noOpenssl }, async () => {
  seen.length = 0;
  const t = newTraceHeader(1);
  const { code, stdout: out, stderr: err } = await runNode(['--input-type=module', '-e', fetchChild], {
    env: {
      ...process.env,
      _X_AMZN_TRACE_ID: t.header,
      NODE_EXTRA_CA_CERTS: tls?.certPath,
      OXRAY_ENTRY: import.meta.resolve('oxray'),
      HELPERS_ENTRY: new URL('./helpers/lambda.mjs', import.meta.url).href,
      BASE: `https://127.0.0.1:${port}`,
    },
  });
  assert.equal(code, 0, err);
  assert.deepEqual(JSON.parse(out), [200, 404, 500]);

  const [doc] = await sink.take(1);
  assert.equal(doc.trace_id, t.root);
  const subs = remotes(doc);
  assert.equal(subs.length, 3);
  const [ok, missing, down] = subs;
  for (const s of subs) assert.equal(s.name, '127.0.0.1');
  assert.deepEqual(ok.http, { request: { method: 'GET', url: `https://127.0.0.1:${port}/fetched`, traced: true }, response: { status: 200, content_length: 6 } });
  assert.equal(missing.error, true);
  assert.deepEqual(down.http.request, { method: 'PUT', url: `https://127.0.0.1:${port}/fetched-down`, traced: true });
  assert.equal(down.fault, true);
  assert.equal(seen.length, 3);
  for (const [i, s] of seen.entries()) {
    assert.equal(s.secure, true);
    assert.equal(s.header, `Root=${t.root};Parent=${subs[i].id};Sampled=1`);
  }
});
