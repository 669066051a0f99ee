// Faults of the daemon side, against the installed package under a simulated Lambda: a
// daemon that stops reading (a full receive buffer), a daemon that is down (closed port), and
// garbage or unusable AWS_XRAY_DAEMON_ADDRESS values. What must hold: the traced program gets
// the same results as untraced, no exception, no hang; every document is accounted for in the
// counters (sent + dropped = documents made); what arrives is valid. The time each invocation
// took, traced and untraced, is printed as test diagnostics (no bound is asserted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { setupLambda, invoke, fakeContext, decorate } from './helpers/lambda.mjs';
import { runNode } from './helpers/child.mjs';
import { validateDocument } from './helpers/validate.mjs';
import { captureLogs } from './helpers/logs.mjs';

const FRAME = '{"format":"json","version":1}\n';

// The daemon: a receiver in a worker thread that reads nothing until told to.
const gate = new Int32Array(new SharedArrayBuffer(4));
const receiver = new Worker(new URL('./helpers/stalled-receiver.mjs', import.meta.url), { workerData: { gate: gate.buffer } });
const nextMessage = () => new Promise((resolve) => receiver.once('message', resolve));
const { port, receiveBuffer } = await nextMessage();
await setupLambda({ AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}` });
const logs = captureLogs();
const { Tracer } = await import('oxray');
const tracer = new Tracer();
const untraced = new Tracer({ enabled: false });

/** A handler with nested methods; every tenth invocation also streams children. */
function makeApp(t) {
  class App {
    async handler(event) {
      let sum = await this.outer(event.n);
      if (event.n % 10 === 0) for (let i = 0; i < 150; i++) sum += this.leaf(i);
      return { n: event.n, sum };
    }

    async outer(n) {
      t.putAnnotation('n', n);
      t.putMetadata('payload', { n, text: 'x'.repeat(200) });
      return this.leaf(n) + 1;
    }

    leaf(i) {
      return i * 2;
    }
  }
  decorate(App, 'handler', t.captureLambdaHandler());
  decorate(App, 'outer', t.captureMethod());
  decorate(App, 'leaf', t.captureMethod());
  return new App();
}
const tracedApp = makeApp(tracer);
const plainApp = makeApp(untraced);
const INVOCATIONS = 300;
/** Children streamed by every tenth invocation: its handler has 151 (outer and 150 leaves),
 * a document embeds 100. */
const STREAMED = (INVOCATIONS / 10) * 51;
/** Documents made by INVOCATIONS invocations: one each, plus the streamed children. */
const DOCUMENTS = INVOCATIONS + STREAMED;

/** Lets the receiver read again (also when a test failed before it could). */
function wakeReceiver() {
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
}

/** Runs INVOCATIONS invocations of `app`; returns their results and the mean µs per invocation. */
async function run(app) {
  const results = [];
  const start = process.hrtime.bigint();
  for (let n = 0; n < INVOCATIONS; n++) results.push((await invoke(() => app.handler({ n }, fakeContext()))).result);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / INVOCATIONS;
  return { results, micros };
}

/** Deltas of the counters around `fn`. */
async function counted(fn) {
  const before = tracer.getCounters();
  const out = await fn();
  const after = tracer.getCounters();
  const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
  return { out, delta };
}

test('a daemon that stops reading (receive buffer full): same results, every document counted, what the kernel kept is valid', async (t) => {
  const keptMessage = nextMessage();
  let traced, delta, plain;
  try {
    ({ out: traced, delta } = await counted(() => run(tracedApp)));
    plain = await run(plainApp);
  } finally {
    // The receiver reads what its kernel buffer kept.
    wakeReceiver();
  }
  const { kept } = await keptMessage;
  assert.deepEqual(traced.results, plain.results);
  assert.equal(delta.sent + delta.dropped, DOCUMENTS, JSON.stringify(delta));
  assert.equal(delta.streamed, STREAMED);
  assert.ok(kept.length > 0 && kept.length <= delta.sent, `${kept.length} kept of ${delta.sent} sent`);
  for (const datagram of kept) {
    assert.ok(datagram.startsWith(FRAME));
    const raw = datagram.slice(FRAME.length);
    validateDocument(JSON.parse(raw), raw);
  }
  t.diagnostic(`receive buffer ${receiveBuffer} bytes: ${kept.length} of ${delta.sent} documents kept by the kernel; counters ${JSON.stringify(delta)}`);
  t.diagnostic(`per invocation: traced ${traced.micros.toFixed(0)} µs, untraced ${plain.micros.toFixed(0)} µs`);
  assert.deepEqual((await logs.settle()).filter((l) => l.includes('internal tracing error')), []);
});

test('the daemon is down (closed port): same results, every document counted, nothing thrown', async (t) => {
  wakeReceiver();
  // For comparison: the same invocations while the receiver reads (a healthy daemon).
  const healthy = await run(tracedApp);
  t.diagnostic(`per invocation with a reading daemon: traced ${healthy.micros.toFixed(0)} µs`);
  const closed = nextMessage();
  receiver.postMessage('close');
  assert.deepEqual(await closed, { closed: true });
  const { out: traced, delta } = await counted(() => run(tracedApp));
  const plain = await run(plainApp);
  assert.deepEqual(traced.results, plain.results);
  assert.equal(delta.sent + delta.dropped, DOCUMENTS, JSON.stringify(delta));
  t.diagnostic(`counters ${JSON.stringify(delta)}`);
  t.diagnostic(`per invocation: traced ${traced.micros.toFixed(0)} µs, untraced ${plain.micros.toFixed(0)} µs`);
  assert.deepEqual((await logs.settle()).filter((l) => l.includes('internal tracing error')), []);
  await receiver.terminate();
});

/**
 * Runs three traced invocations in a child process with AWS_XRAY_DAEMON_ADDRESS=`address`;
 * returns its exit code, results, counters and what it logged.
 */
async function childWithAddress(address) {
  const script = `
    const { Tracer } = require('oxray');
    const tracer = new Tracer();
    class App { async handler(e) { return this.work(e.n); } work(n) { return n * 3; } }
    const decorate = (name, d) => Object.defineProperty(App.prototype, name, d(App.prototype, name, Object.getOwnPropertyDescriptor(App.prototype, name)));
    decorate('handler', tracer.captureLambdaHandler());
    decorate('work', tracer.captureMethod());
    (async () => {
      const results = [];
      for (let n = 0; n < 3; n++) {
        process.env._X_AMZN_TRACE_ID = 'Root=1-5759e988-bd862e3fe1be46a99427279' + n + ';Parent=53995c3f42cd8ad8;Sampled=1';
        results.push(await new App().handler({ n }, {}));
      }
      console.log(JSON.stringify({ results, counters: tracer.getCounters() }));
    })();`;
  const env = { ...process.env, AWS_XRAY_DAEMON_ADDRESS: address };
  const { code, stdout, stderr } = await runNode(['-e', script], { env });
  return { code, stdout, stderr };
}

/**
 * Three traced invocations (one document each) in a worker thread whose recorder starts with
 * AWS_XRAY_DAEMON_ADDRESS=`address` (a recorder reads the process environment when its thread
 * loads oxray): its results, counters and what it logged.
 */
async function workerWithAddress(address) {
  const saved = process.env.AWS_XRAY_DAEMON_ADDRESS;
  process.env.AWS_XRAY_DAEMON_ADDRESS = address;
  try {
    const worker = new Worker(new URL('./helpers/worker-tracer.mjs', import.meta.url), { workerData: { mode: 'threeInvocations', tag: 'address' } });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const report = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.equal(await exited, 0);
    return report;
  } finally {
    process.env.AWS_XRAY_DAEMON_ADDRESS = saved;
  }
}

const REFUSED = ['garbage', '', '   ', '127.0.0.1', '127.0.0.1:99999', '127.0.0.1:0', '127.0.0.1:-5', ':2000', 'tcp:127.0.0.1:2000', 'udp:127.0.0.1:2000 udp:127.0.0.1:2001', 'a:1 b:2 c:3', 'bad_host:2000', '[zz::1]:2000', '\u{1F642}:2000', `${'h'.repeat(10_000)}:2000`];
const REFUSAL = /invalid daemon address .*using the default 127\.0\.0\.1:2000/;

test('garbage AWS_XRAY_DAEMON_ADDRESS values: logged, the default used, results unchanged', async () => {
  for (const address of REFUSED) {
    const label = JSON.stringify(address.slice(0, 40));
    const { results, counters, logged } = await workerWithAddress(address);
    assert.deepEqual(results, [0, 1, 2].map((n) => ({ tag: 'address', total: n * 2 + 1 })), label);
    assert.equal(counters.sent + counters.dropped, 3, `${label}: every document counted: ${JSON.stringify(counters)}`);
    assert.ok(logged.some((l) => REFUSAL.test(l)), `${label}: ${logged}`);
  }
});

test('an address no socket can send to (broadcast): every document dropped and counted', async () => {
  const { results, counters, logged } = await workerWithAddress('255.255.255.255:2000');
  assert.equal(results.length, 3);
  assert.equal(counters.dropped, 3, JSON.stringify(counters));
  assert.ok(logged.some((l) => l.includes('cannot open a UDP socket to the daemon')), String(logged));
});

test('a garbage address in a short script: the refusal is logged before the process exits', async () => {
  const { code, stdout, stderr } = await childWithAddress('garbage');
  assert.equal(code, 0, stderr);
  const { results, counters } = JSON.parse(stdout);
  assert.deepEqual(results, [0, 3, 6]);
  assert.equal(counters.sent + counters.dropped, 3);
  assert.match(stderr, REFUSAL);
});
