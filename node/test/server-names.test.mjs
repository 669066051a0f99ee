// Segment names in server mode (traceHttpServer, traceExpressApp, traceExpress), and
// centralized sampling rules matched on the segment's name (ServiceName) and the recorder's
// origin (ServiceType) through real requests.
//
// The name rule (node/lib/request.js `segmentName`, bindings/node/src/server.rs
// `begin_request_answered`, core/src/recorder.rs `begin_segment`): AWS_XRAY_TRACING_NAME,
// else the middleware's `name` option, else the Tracer's service name (serviceName option,
// POWERTOOLS_SERVICE_NAME), else the Host header without its port
// (core/src/request_headers.rs `host_name`), else `unnamed`; the name is then cleaned to the
// schema's character set. The Tracer reads POWERTOOLS_SERVICE_NAME when it is made; the
// recorder reads AWS_XRAY_TRACING_NAME once, when it starts (the first Tracer turned on), so
// that setting runs in child processes (helpers/names-server.mjs). This process runs with
// neither, and a daemon address whose TCP side is a stub of the sampling proxy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { setupServerMode, listen, request, ALWAYS } from './helpers/server.mjs';
import { captureLogs } from './helpers/logs.mjs';

// The sampling proxy stub: its rules are set by the centralized test below.
/** @type {object[]} */
let serviceRules = [];
const proxy = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/GetSamplingRules') res.end(JSON.stringify({ SamplingRuleRecords: serviceRules }));
    else res.end(JSON.stringify({ SamplingTargetDocuments: [], LastRuleModification: 0, UnprocessedStatistics: [] }));
  });
});
const proxyPort = await listen(proxy);
const sink = await setupServerMode();
const udpAddress = process.env.AWS_XRAY_DAEMON_ADDRESS;
process.env.AWS_XRAY_DAEMON_ADDRESS = `tcp:127.0.0.1:${proxyPort} udp:${udpAddress}`;

const require = createRequire(import.meta.url);
const { Tracer } = await import('oxray');
const { traceHttpServer, traceExpressApp, traceExpress } = await import('oxray/middleware');
const express = require('express');

// Neither a service name nor AWS_XRAY_TRACING_NAME.
const anonymous = new Tracer();
assert.equal(anonymous.serviceName, 'service_undefined');

/** One Tracer served three ways; returns their ports by kind. */
async function serveThreeWays(tracer, options = {}) {
  const opts = { samplingRules: ALWAYS, ...options };
  const answer = (req, res) => res.end('ok');
  const app = traceExpressApp(tracer, express(), opts);
  app.use(answer);
  const viaMiddleware = express();
  viaMiddleware.use(traceExpress(tracer, opts));
  viaMiddleware.use(answer);
  const servers = { plain: http.createServer(traceHttpServer(tracer, answer, opts)), app: http.createServer(app), middleware: http.createServer(viaMiddleware) };
  const ports = {};
  for (const [kind, server] of Object.entries(servers)) {
    ports[kind] = await listen(server);
    after(() => server.close());
  }
  return ports;
}

const hostNamed = await serveThreeWays(anonymous);
after(() => proxy.close());

/** One request with `host` as its Host header; the segment it produced. */
async function segmentFor(port, host, path = '/hello') {
  await request(port, { path, headers: { host } });
  const [seg] = await sink.take(1);
  return seg;
}

/**
 * Raw request text on a fresh connection (for what Node's client will not send: no Host);
 * resolves with the status line once the server closed the connection.
 */
function rawRequest(port, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer.split('\r\n')[0]));
  });
}

test('no AWS_XRAY_TRACING_NAME, no service name: the segment is named after the Host, without its port', async () => {
  for (const [kind, port] of Object.entries(hostNamed)) {
    const cases = [
      ['api.example.com:8080', 'api.example.com', 'http://api.example.com:8080/hello'],
      ['api.example.com', 'api.example.com', 'http://api.example.com/hello'],
      [`127.0.0.1:${port}`, '127.0.0.1', `http://127.0.0.1:${port}/hello`],
      ['[::1]:3000', '::1', 'http://[::1]:3000/hello'],
      ['Shop.Example.COM:443', 'Shop.Example.COM', 'http://Shop.Example.COM:443/hello'],
    ];
    for (const [host, name, url] of cases) {
      const seg = await segmentFor(port, host);
      assert.equal(seg.name, name, `${kind}: Host ${host}`);
      // The recorded URL keeps the Host as sent, port included.
      assert.equal(seg.http.request.url, url, `${kind}: Host ${host}`);
    }
  }
});

test('a Host whose "port" is not a number is kept whole; characters a name may not hold are dropped (logged)', async () => {
  for (const [kind, port] of Object.entries(hostNamed)) {
    assert.equal((await segmentFor(port, 'weird:port')).name, 'weird:port', kind);
    const logs = captureLogs();
    try {
      assert.equal((await segmentFor(port, 'bad<host>!:80')).name, 'badhost', `${kind}: the port goes first, then < > !`);
      assert.equal((await segmentFor(port, '<>!:80')).name, 'unnamed', `${kind}: nothing left`);
      const lines = await logs.settle();
      assert.ok(lines.some((l) => l.includes('entity name "bad<host>!" was changed to "badhost"')), lines.join('\n'));
      assert.ok(lines.some((l) => l.includes('entity name "<>!" was changed to "unnamed"')), lines.join('\n'));
    } finally {
      logs.restore();
    }
  }
});

test('no Host at all (HTTP/1.0), or an empty one: the segment is named "unnamed", no URL recorded', async () => {
  for (const [kind, port] of Object.entries(hostNamed)) {
    assert.equal(await rawRequest(port, 'GET /no-host HTTP/1.0\r\nUser-Agent: raw\r\n\r\n'), 'HTTP/1.1 200 OK');
    const [seg] = await sink.take(1);
    assert.equal(seg.name, 'unnamed', kind);
    assert.equal(seg.http.request.method, 'GET');
    assert.equal(seg.http.request.url, undefined, `${kind}: no Host, no URL`);
    assert.equal(seg.http.request.user_agent, 'raw');
    assert.equal(await rawRequest(port, 'GET /empty-host HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n'), 'HTTP/1.1 200 OK');
    const [empty] = await sink.take(1);
    assert.equal(empty.name, 'unnamed', `${kind}: empty Host`);
  }
});

test('a service name wins over the Host: serviceName, POWERTOOLS_SERVICE_NAME; the name option over both', async () => {
  const byOption = await serveThreeWays(new Tracer({ serviceName: 'shop' }));
  process.env.POWERTOOLS_SERVICE_NAME = 'from-powertools';
  let fromEnv;
  try {
    // Read when the Tracer is made.
    fromEnv = new Tracer();
  } finally {
    delete process.env.POWERTOOLS_SERVICE_NAME;
  }
  assert.equal(fromEnv.serviceName, 'from-powertools');
  const byEnv = await serveThreeWays(fromEnv);
  const byName = await serveThreeWays(new Tracer({ serviceName: 'shop' }), { name: 'storefront' });
  const hostless = await serveThreeWays(anonymous, { name: 'named-anyway' });
  for (const kind of ['plain', 'app', 'middleware']) {
    assert.equal((await segmentFor(byOption[kind], 'api.example.com:8080')).name, 'shop', kind);
    assert.equal((await segmentFor(byEnv[kind], 'api.example.com:8080')).name, 'from-powertools', kind);
    assert.equal((await segmentFor(byName[kind], 'api.example.com:8080')).name, 'storefront', kind);
    assert.equal((await segmentFor(hostless[kind], 'api.example.com:8080')).name, 'named-anyway', kind);
  }
});

/**
 * Starts helpers/names-server.mjs with `env` added (documents to this process's sink) and
 * returns its ports and a function that ends it.
 */
async function startChild(env, options = {}) {
  const child = spawn(process.execPath, [new URL('./helpers/names-server.mjs', import.meta.url).pathname], {
    env: { ...process.env, AWS_XRAY_DAEMON_ADDRESS: udpAddress, OXRAY_NAMES_OPTIONS: JSON.stringify(options), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.once('close', resolve));
  const ports = await new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
    });
    exited.then((code) => reject(new Error(`names-server exited (${code}): ${err}`)));
  });
  return {
    ports,
    async stop() {
      child.stdin.end();
      assert.equal(await exited, 0, err);
    },
  };
}

test('AWS_XRAY_TRACING_NAME wins over the name option, serviceName, POWERTOOLS_SERVICE_NAME and the Host', async () => {
  const cases = [
    [{}, {}],
    [{ POWERTOOLS_SERVICE_NAME: 'from-powertools' }, {}],
    [{}, { serviceName: 'shop' }],
    [{ POWERTOOLS_SERVICE_NAME: 'from-powertools' }, { serviceName: 'shop', name: 'storefront' }],
  ];
  for (const [env, options] of cases) {
    const child = await startChild({ AWS_XRAY_TRACING_NAME: 'from-env', ...env }, options);
    try {
      for (const [kind, port] of Object.entries(child.ports)) {
        const seg = await segmentFor(port, 'api.example.com:8080');
        assert.equal(seg.name, 'from-env', `${kind} ${JSON.stringify({ env, options })}`);
        assert.equal(seg.http.request.url, 'http://api.example.com:8080/hello');
      }
    } finally {
      await child.stop();
    }
  }
});

test('AWS_XRAY_TRACING_NAME is read once, when the recorder starts: changing it later renames nothing', async () => {
  const child = await startChild({ AWS_XRAY_TRACING_NAME: 'from-env' }, { serviceName: 'shop' });
  try {
    const { plain, app } = child.ports;
    await request(plain, { path: '/set-env?to=changed' });
    await request(app, { path: '/set-env' });
    assert.equal((await sink.take(2)).every((d) => d.name === 'from-env'), true);
    assert.equal((await segmentFor(plain, 'api.example.com')).name, 'from-env');
  } finally {
    await child.stop();
  }
});

test('an empty AWS_XRAY_TRACING_NAME counts as unset: the service name, else the Host', async () => {
  const named = await startChild({ AWS_XRAY_TRACING_NAME: '' }, { serviceName: 'shop' });
  try {
    for (const [kind, port] of Object.entries(named.ports)) assert.equal((await segmentFor(port, 'api.example.com:8080')).name, 'shop', kind);
  } finally {
    await named.stop();
  }
  const anon = await startChild({ AWS_XRAY_TRACING_NAME: '' });
  try {
    for (const [kind, port] of Object.entries(anon.ports)) assert.equal((await segmentFor(port, 'api.example.com:8080')).name, 'api.example.com', kind);
  } finally {
    await anon.stop();
  }
});

// Centralized rules. The recorder's origin (ServiceType) is unset in Node: nothing in
// node/lib or bindings/node passes the core's `origin` setting (core/src/config.rs), so
// segments carry no `origin` and a request's ServiceType is absent, which matches any rule's
// ServiceType (PROTOCOL.md §4.2; `GetSamplingRules` refuses an empty one). ServiceName is the
// segment's name as chosen above (core/src/recorder.rs `begin_segment`).
const serviceRule = (name, priority, serviceName, serviceType, fixedRate) => ({
  SamplingRule: { RuleName: name, ResourceARN: '*', Priority: priority, FixedRate: fixedRate, ReservoirSize: 0, ServiceName: serviceName, ServiceType: serviceType, Host: '*', HTTPMethod: '*', URLPath: '*', Version: 1, Attributes: {} },
});

test('centralized rules match the segment name (ServiceName) and the origin (ServiceType); others fall to Default', async () => {
  serviceRules = [
    serviceRule('Default', 10000, '*', '*', 0),
    serviceRule('checkout-rule', 1, 'checkout', '*', 1),
    serviceRule('host-rule', 2, 'orders.example.com', '*', 1),
    serviceRule('typed-rule', 3, 'typed', 'AWS::EC2::Instance', 1),
  ];
  const checkout = await serveThreeWays(new Tracer({ serviceName: 'checkout' }));
  const billing = await serveThreeWays(new Tracer({ serviceName: 'billing' }));
  const typed = await serveThreeWays(anonymous, { name: 'typed' });
  assert.equal(anonymous.enableCentralizedSampling(), true);
  for (let i = 0; i < 2000 && !anonymous.getSamplingStatus().usingServiceRules; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(anonymous.getSamplingStatus().usingServiceRules, true, 'rules fetched from the stub');
  assert.equal(anonymous.getSamplingStatus().rulesCached, 4);

  /** The decision answered to `Sampled=?`, and the segment when one was sent. */
  const ask = async (port, host) => {
    const res = await request(port, { path: '/orders/1', headers: { host, 'X-Amzn-Trace-Id': 'Sampled=?' } });
    const sampled = res.headers['x-amzn-trace-id'].split(';')[1];
    if (sampled === 'Sampled=0') {
      await sink.none();
      return { sampled };
    }
    const [seg] = await sink.take(1);
    assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id};Sampled=1`);
    return { sampled, seg };
  };

  for (const kind of ['plain', 'app', 'middleware']) {
    // Named "checkout": its rule, whatever the Host.
    const a = await ask(checkout[kind], 'api.example.com');
    assert.equal(a.sampled, 'Sampled=1', kind);
    assert.equal(a.seg.name, 'checkout');
    assert.equal(a.seg.aws.xray.sampling_rule_name, 'checkout-rule', kind);
    // Named "billing": no rule names it; the Host matching host-rule's ServiceName does not count.
    assert.equal((await ask(billing[kind], 'orders.example.com')).sampled, 'Sampled=0', `${kind}: Default, rate 0`);
    // Named after the Host (port dropped): host-rule's ServiceName is that name.
    const b = await ask(hostNamed[kind], 'orders.example.com:8080');
    assert.equal(b.sampled, 'Sampled=1', kind);
    assert.equal(b.seg.name, 'orders.example.com');
    assert.equal(b.seg.aws.xray.sampling_rule_name, 'host-rule', kind);
    assert.equal((await ask(hostNamed[kind], 'www.example.com')).sampled, 'Sampled=0', `${kind}: another Host, another name: Default`);
    // No origin: the request's ServiceType is absent and matches the rule's AWS::EC2::Instance.
    const c = await ask(typed[kind], 'api.example.com');
    assert.equal(c.sampled, 'Sampled=1', kind);
    assert.equal(c.seg.aws.xray.sampling_rule_name, 'typed-rule', kind);
    assert.equal(c.seg.origin, undefined, 'the recorder reports no origin');
  }
});
