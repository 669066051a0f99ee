// Overlapping invocations (Lambda managed instances, AWS_LAMBDA_MAX_CONCURRENCY): each keeps
// its own trace id, parents and annotations, with the real @aws/lambda-invoke-store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupLambda, fakeContext, decorate, byName, newTraceHeader } from './helpers/lambda.mjs';

const sink = await setupLambda({ AWS_LAMBDA_MAX_CONCURRENCY: '4' });
const { InvokeStore } = await import('@aws/lambda-invoke-store');
const store = await InvokeStore.getInstanceAsync(true);
const { Tracer } = await import('oxray');
const middy = (await import('@middy/core')).default;
const { captureLambdaHandler } = await import('oxray/middleware');

const tracer = new Tracer();
const X_RAY = InvokeStore.PROTECTED_KEYS?.X_RAY_TRACE_ID ?? Symbol.for('_AWS_LAMBDA_X_RAY_TRACE_ID');

class Worker {
  async handler(event) {
    tracer.putAnnotation('who', event.who);
    await event.gate;
    return this.work(event.who);
  }

  async work(who) {
    tracer.putAnnotation('worker', who);
    await new Promise((r) => setTimeout(r, 5));
    return who;
  }
}
decorate(Worker, 'handler', tracer.captureLambdaHandler());
decorate(Worker, 'work', tracer.captureMethod());

/** Runs `fn` as the runtime does for one invocation of a managed instance. */
function runInvocation(header, fn) {
  return store.run({ [X_RAY]: header }, fn);
}

test('overlapping decorated invocations keep their own trace ids and parents', async () => {
  const a = newTraceHeader();
  const b = newTraceHeader();
  let openA;
  const gateA = new Promise((r) => (openA = r));
  const w = new Worker();
  const pa = runInvocation(a.header, () => w.handler({ who: 'A', gate: gateA }, fakeContext()));
  const pb = runInvocation(b.header, () => w.handler({ who: 'B', gate: Promise.resolve() }, fakeContext()));
  await pb;
  openA();
  await pa;
  const docs = await sink.take(2);
  for (const [t, who] of [[a, 'A'], [b, 'B']]) {
    const doc = docs.find((d) => d.annotations.who === who);
    assert.equal(doc.trace_id, t.root);
    assert.equal(doc.parent_id, t.parent);
    const work = byName([doc], '### work');
    assert.equal(work.annotations.worker, who);
  }
});

test('overlapping middy invocations keep their own trace ids', async () => {
  const handler = middy(async (event) => {
    await event.gate;
    tracer.putAnnotation('who', event.who);
    return event.who;
  }).use(captureLambdaHandler(tracer));
  const c = newTraceHeader();
  const d = newTraceHeader();
  let openC;
  const gateC = new Promise((r) => (openC = r));
  const pc = runInvocation(c.header, () => handler({ who: 'C', gate: gateC }, fakeContext()));
  const pd = runInvocation(d.header, () => handler({ who: 'D', gate: Promise.resolve() }, fakeContext()));
  await pd;
  openC();
  await pc;
  const docs = await sink.take(2);
  for (const [t, who] of [[c, 'C'], [d, 'D']]) {
    const doc = docs.find((x) => x.annotations.who === who);
    assert.equal(doc.trace_id, t.root);
    assert.equal(doc.parent_id, t.parent);
  }
});

test('one invocation ends and the event loop turns while another still runs: its context survives', async () => {
  const a = newTraceHeader();
  const b = newTraceHeader();
  let openA;
  const gateA = new Promise((r) => (openA = r));
  const w = new Worker();
  const pa = runInvocation(a.header, () => w.handler({ who: 'A', gate: gateA }, fakeContext()));
  await runInvocation(b.header, () => w.handler({ who: 'B', gate: Promise.resolve() }, fakeContext()));
  // B is over; turn the event loop a few times before A goes on.
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  openA();
  await pa;
  const docs = await sink.take(2);
  const docA = docs.find((d) => d.annotations.who === 'A');
  assert.equal(docA.trace_id, a.root);
  const work = byName([docA], '### work');
  assert.equal(work.parent_id, docA.id);
  assert.equal(work.annotations.worker, 'A');
});
