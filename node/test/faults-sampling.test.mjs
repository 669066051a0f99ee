// Faults of the daemon's sampling proxy (centralized sampling, server mode): a proxy that
// accepts and never answers, answers 500, answers garbage, answers an endless body, or closes
// the connection at once. Each case runs in a worker thread whose recorder points at its own
// stub proxy (a recorder reads the daemon address when its thread loads oxray). What must
// hold: enableCentralizedSampling() returns at once; requests are answered as without
// tracing, sampled by the local rules (the fallback); every segment is sent; the failed
// calls are counted and the last one described in getSamplingStatus(). The time
// enableCentralizedSampling() and each request took is printed as test diagnostics.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import { setupServerMode, listen } from './helpers/server.mjs';

const sink = await setupServerMode();
const udp = process.env.AWS_XRAY_DAEMON_ADDRESS;
const REQUESTS = 20;
/** The poller's own timeout is 5 s: a hanging proxy is noticed after it. */
const WAIT_MS = 30_000;

/** Stub sampling proxies, one per fault. */
const PROXIES = {
  'never answers': () => {},
  'answers 500': (req, res) => {
    res.statusCode = 500;
    res.end('{"message":"internal failure"}');
  },
  'answers garbage': (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(Buffer.from([0x7b, 0xff, 0x00, 0x22, 0x53, 0x61, 0x6d, 0x70, 0x6c]));
  },
  'answers JSON of the wrong shape': (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ SamplingRuleRecords: 'none', SamplingTargetDocuments: 42 }));
  },
  'answers an endless body': (req, res) => {
    res.setHeader('content-type', 'application/json');
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const more = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', more);
    };
    res.write('{"SamplingRuleRecords":[');
    more();
  },
  'closes the connection': (req) => req.socket.destroy(),
};

const servers = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/**
 * Starts helpers/sampling-worker.mjs against a proxy made of `handler`; resolves once its
 * recorder read the address, with the promise of its report.
 */
async function startAgainstProxy(handler) {
  const proxy = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  });
  servers.push(proxy);
  const proxyPort = await listen(proxy);
  process.env.AWS_XRAY_DAEMON_ADDRESS = `tcp:127.0.0.1:${proxyPort} udp:${udp}`;
  try {
    const worker = new Worker(new URL('./helpers/sampling-worker.mjs', import.meta.url), { workerData: { requests: REQUESTS, waitMs: WAIT_MS } });
    const messages = [];
    const next = () =>
      new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    messages.push(next());
    assert.deepEqual(await messages[0], { ready: true });
    const report = next().finally(() => worker.terminate());
    return { report };
  } finally {
    process.env.AWS_XRAY_DAEMON_ADDRESS = udp;
  }
}

// One worker at a time reads its proxy's address; then they all wait for their proxy's fault
// together. Each test checks one.
const runs = new Map();
for (const [name, handler] of Object.entries(PROXIES)) {
  const { report } = await startAgainstProxy(handler);
  runs.set(name, report.then((value) => ({ value }), (error) => ({ error })));
}

for (const name of Object.keys(PROXIES)) {
  test(`a sampling proxy that ${name}: requests answered and sampled by the local rules, the failure counted`, async (t) => {
    const { value, error } = await runs.get(name);
    if (error) throw error;
    const { enabled, enableMicros, requestMicros, answers, status, counters } = value;
    assert.equal(enabled, true);
    assert.deepEqual(
      answers,
      Array.from({ length: REQUESTS }, (_, i) => ({ status: 200, body: `answer /item/${i}`, sampled: true })),
    );
    assert.equal(counters.sent + counters.dropped, REQUESTS, JSON.stringify(counters));
    assert.ok(status.errors >= 1, `failed calls counted: ${JSON.stringify(status)}`);
    assert.equal(typeof status.lastError, 'string');
    assert.equal(status.usingServiceRules, false);
    assert.equal(status.centralized, true);
    t.diagnostic(`enableCentralizedSampling() ${enableMicros.toFixed(0)} µs; ${requestMicros.toFixed(0)} µs per request; last error: ${status.lastError}`);
  });
}

test('every segment of every worker arrived, valid', async () => {
  await Promise.all(runs.values());
  await sink.waitFor(REQUESTS * Object.keys(PROXIES).length);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(sink.invalid.splice(0), []);
  const docs = sink.docs.splice(0);
  assert.equal(docs.length, REQUESTS * Object.keys(PROXIES).length);
  for (const d of docs) assert.equal(d.name, 'faults');
});
