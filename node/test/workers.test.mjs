// Worker threads: each has its own Tracer, recorder and context; documents from every thread
// reach the daemon with the right parentage; a worker terminated mid-trace does not crash the
// process; diagnostics go to the thread they concern, and outlive the workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import dgram from 'node:dgram';
import { setupLambda, invoke, fakeContext, decorate, flatten, newTraceHeader } from './helpers/lambda.mjs';
import { captureLogs } from './helpers/logs.mjs';

const sink = await setupLambda();
const logs = captureLogs();
const { Tracer } = await import('oxray');
const tracer = new Tracer();

/** Starts helpers/worker-tracer.mjs; its first message and its exit are promised at once. */
function startWorker(data) {
  const worker = new Worker(new URL('./helpers/worker-tracer.mjs', import.meta.url), { workerData: data });
  const errors = [];
  worker.on('error', (err) => errors.push(err));
  return {
    worker,
    errors,
    message: new Promise((resolve) => worker.once('message', resolve)),
    exited: new Promise((resolve) => worker.once('exit', resolve)),
  };
}

/** Waits until the sink holds every handler document of `roots` (a generous guard). */
async function waitForRoots(roots) {
  const deadline = Date.now() + 20_000;
  const missing = () => roots.filter((r) => !sink.docs.some((d) => d.trace_id === r && d.name === '## index.handler' && !d.in_progress));
  while (missing().length > 0) {
    if (Date.now() > deadline) assert.fail(`documents missing for ${missing().length} of ${roots.length} invocations`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
}

class App {
  async handler(event) {
    tracer.putAnnotation('thread', 'main');
    const total = await this.outer(event.n);
    return { tag: 'main', total };
  }

  async outer(n) {
    tracer.putAnnotation('thread', 'main');
    await new Promise((resolve) => setImmediate(resolve));
    return this.inner(n) + 1;
  }

  inner(n) {
    tracer.putMetadata('n', n);
    return n * 2;
  }
}
decorate(App, 'handler', tracer.captureLambdaHandler());
decorate(App, 'outer', tracer.captureMethod());
decorate(App, 'inner', tracer.captureMethod());

test('three workers and the main thread trace at once: every document arrives, each under its own invocation', async () => {
  const perThread = 15;
  const workers = ['w1', 'w2', 'w3'].map((tag) => startWorker({ mode: 'invocations', tag, invocations: perThread }));
  const mainMade = [];
  for (let i = 0; i < perThread; i++) {
    const { root, parent, result } = await invoke(() => new App().handler({ n: i }, fakeContext()));
    mainMade.push({ root, parent, result, tag: 'main' });
  }
  const made = [...mainMade];
  for (const [k, w] of workers.entries()) {
    const { made: theirs, counters } = await w.message;
    assert.equal(theirs.length, perThread);
    assert.equal(counters.dropped, 0);
    made.push(...theirs.map((m) => ({ ...m, tag: `w${k + 1}` })));
    assert.equal(await w.exited, 0);
    assert.deepEqual(w.errors, []);
  }
  await waitForRoots(made.map((m) => m.root));
  assert.deepEqual(sink.invalid.splice(0), []);
  const docs = sink.docs.splice(0);
  const entities = flatten(docs);
  for (const [i, m] of made.entries()) {
    const n = i % perThread;
    assert.deepEqual(m.result, { tag: m.tag, total: n * 2 + 1 });
    const mine = entities.filter((e) => e.trace_id === m.root);
    const handler = mine.filter((e) => e.name === '## index.handler');
    assert.equal(handler.length, 1, `${m.tag} #${n}: one handler`);
    assert.equal(handler[0].parent_id, m.parent);
    assert.equal(handler[0].annotations.thread, m.tag);
    const outer = mine.filter((e) => e.name === '### outer');
    assert.equal(outer.length, 1);
    assert.equal(outer[0].parent_id, handler[0].id);
    assert.equal(outer[0].annotations.thread, m.tag);
    const inner = mine.filter((e) => e.name === '### inner');
    assert.equal(inner.length, 1);
    assert.equal(inner[0].parent_id, outer[0].id);
    assert.equal(inner[0].metadata.payment.n, n);
    assert.equal(mine.length, 3, `${m.tag} #${n}: nothing else in its trace`);
  }
  assert.equal(docs.length, made.length, 'one document per invocation');
});

test('workers terminated mid-trace (an open invocation, a tight loop of traced calls): the process goes on', async () => {
  // The spinners send to a port nobody reads: their flood would fill this sink's buffer. A
  // recorder reads the address when its thread loads oxray, before it spins.
  const daemon = process.env.AWS_XRAY_DAEMON_ADDRESS;
  const nowhere = dgram.createSocket('udp4');
  await new Promise((resolve) => nowhere.bind(0, '127.0.0.1', resolve));
  process.env.AWS_XRAY_DAEMON_ADDRESS = `127.0.0.1:${nowhere.address().port}`;
  nowhere.close();
  const spinners = [startWorker({ mode: 'spin', tag: 's1' }), startWorker({ mode: 'spin', tag: 's2' })];
  try {
    for (const s of spinners) await s.message;
  } finally {
    process.env.AWS_XRAY_DAEMON_ADDRESS = daemon;
  }
  const hanging = startWorker({ mode: 'hang', tag: 'hang' });
  const { root } = await hanging.message;
  await Promise.all([hanging, ...spinners].map((w) => w.worker.terminate()));
  for (const w of [hanging, ...spinners]) {
    assert.equal(await w.exited, 1, 'terminated');
    assert.deepEqual(w.errors, []);
  }
  // The main thread still traces normally.
  const after = await invoke(() => new App().handler({ n: 5 }, fakeContext()));
  await waitForRoots([after.root]);
  // The terminated worker's sender thread sends what its thread released as it ended.
  const hungCount = () => flatten(sink.docs).filter((e) => e.trace_id === root).length;
  for (let waited = 0; hungCount() < 4 && waited < 20_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(sink.invalid.splice(0), [], 'whatever the terminated workers sent is valid');
  const docs = sink.docs.splice(0);
  assert.equal(flatten(docs).filter((e) => e.trace_id === after.root).length, 3);
  // The terminated invocation's open handler was released with its thread: sent as
  // in-progress, with the child that completed before the end.
  const hung = flatten(docs).filter((e) => e.trace_id === root);
  assert.deepEqual(hung.map((e) => [e.name, e.in_progress === true]).sort(), [
    ['## index.handler', true],
    ['### forever', true],
    ['### inner', false],
    ['### outer', false],
  ]);
});

test('diagnostics go to the thread they concern, and still reach the main thread after workers end', async () => {
  await logs.settle();
  const alive = startWorker({ mode: 'hang', tag: 'alive' });
  await alive.message;
  const warner = startWorker({ mode: 'warn', tag: 'warner' });
  const { logged, counters } = await warner.message;
  assert.equal(await warner.exited, 0);
  assert.ok(logged.some((l) => l.includes('You cannot annotate the main segment')), `the worker logged its own warning: ${logged}`);
  assert.ok(counters.warnings >= 1);
  // While a worker is alive, and after workers ended, the main thread's warnings are logged here.
  process.env._X_AMZN_TRACE_ID = newTraceHeader().header;
  tracer.putAnnotation('outside', 1);
  let lines = await logs.settle();
  assert.equal(lines.filter((l) => l.includes('You cannot annotate the main segment')).length, 1, lines.join('\n'));
  await alive.worker.terminate();
  await alive.exited;
  tracer.putMetadata('outside', 1);
  lines = await logs.settle();
  assert.equal(lines.filter((l) => l.includes('You cannot add metadata to the main segment')).length, 1, lines.join('\n'));
  sink.docs.splice(0);
});

test('a worker without a trace header traces nothing, whatever the main thread set', async () => {
  process.env._X_AMZN_TRACE_ID = newTraceHeader().header;
  const w = startWorker({ mode: 'noHeader', tag: 'bare' });
  const { result } = await w.message;
  assert.deepEqual(result, { tag: 'bare', total: 3 });
  assert.equal(await w.exited, 0);
  await sink.none();
});
