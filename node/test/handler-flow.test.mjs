// How a decorated Lambda handler settles, whatever the handler returns: the invocation ends
// (and its document is sent) before the returned promise settles, with the outcome recorded,
// for async and sync handlers, sync throws, thenables and un-awaited children that are already
// done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupLambda, invoke, fakeContext, decorate, byName } from './helpers/lambda.mjs';

const sink = await setupLambda();
const { Tracer } = await import('oxray');

const tracer = new Tracer();

test('a synchronous handler: the call returns a promise of its value, recorded as the response', async () => {
  class Sync {
    handler() {
      tracer.putAnnotation('mode', 'sync');
      return { ok: true };
    }
  }
  decorate(Sync, 'handler', tracer.captureLambdaHandler());
  const { result } = await invoke(() => {
    const returned = new Sync().handler({}, fakeContext());
    assert.ok(returned instanceof Promise, 'a promise, as Powertools returns');
    return returned;
  });
  assert.deepEqual(result, { ok: true });
  const [doc] = await sink.take(1);
  assert.equal(doc.name, '## index.handler');
  assert.ok('end_time' in doc);
  assert.deepEqual(doc.metadata, { payment: { 'index.handler response': { ok: true } } });
});

test('a synchronous handler that throws: a rejected promise (not a throw), fault and cause recorded', async () => {
  const boom = new TypeError('sync boom');
  class Throws {
    handler() {
      throw boom;
    }
  }
  decorate(Throws, 'handler', tracer.captureLambdaHandler());
  let returned;
  await assert.rejects(
    invoke(() => {
      returned = new Throws().handler({}, fakeContext());
      return returned;
    }),
    (err) => err === boom,
  );
  assert.ok(returned instanceof Promise);
  const [doc] = await sink.take(1);
  assert.equal(doc.fault, true);
  assert.equal(doc.cause.exceptions[0].type, 'TypeError');
  assert.equal(doc.cause.exceptions[0].message, 'sync boom');
});

test('a handler returning a thenable that is not a Promise: awaited, its value recorded', async () => {
  class Thenable {
    handler() {
      return { then: (resolve) => setImmediate(() => resolve('from thenable')) };
    }
  }
  decorate(Thenable, 'handler', tracer.captureLambdaHandler());
  const { result } = await invoke(() => new Thenable().handler({}, fakeContext()));
  assert.equal(result, 'from thenable');
  const [doc] = await sink.take(1);
  assert.deepEqual(doc.metadata, { payment: { 'index.handler response': 'from thenable' } });
});

test('a handler rejecting through a thenable: rejected with the same reason, fault recorded', async () => {
  const reason = new Error('thenable said no');
  class Rejects {
    handler() {
      return { then: (_resolve, reject) => setImmediate(() => reject(reason)) };
    }
  }
  decorate(Rejects, 'handler', tracer.captureLambdaHandler());
  await assert.rejects(
    invoke(() => new Rejects().handler({}, fakeContext())),
    (err) => err === reason,
  );
  const [doc] = await sink.take(1);
  assert.equal(doc.fault, true);
  assert.equal(doc.cause.exceptions[0].message, 'thenable said no');
});

test('an un-awaited traced child that is already done when a sync handler returns is sent complete inside the handler', async () => {
  class Eager {
    handler() {
      // Not awaited: its promise is settled by the time the handler returns.
      this.child();
      return 'returned';
    }

    async child() {
      tracer.putAnnotation('child', true);
      return 'child done';
    }
  }
  decorate(Eager, 'handler', tracer.captureLambdaHandler());
  decorate(Eager, 'child', tracer.captureMethod());
  await invoke(() => new Eager().handler({}, fakeContext()));
  const docs = await sink.take(1);
  const child = byName(docs, '### child');
  assert.ok('end_time' in child, 'complete, not in progress');
  assert.equal(child.in_progress, undefined);
  assert.deepEqual(child.annotations, { child: true });
});

test('setSegment() to another subsegment inside the handler: the invocation still ends the handler subsegment', async () => {
  class Switches {
    async handler() {
      const sub = tracer.getSegment().addNewSubsegment('manual');
      tracer.setSegment(sub);
      tracer.putAnnotation('onManual', 1);
      sub.close();
      return 'switched';
    }
  }
  decorate(Switches, 'handler', tracer.captureLambdaHandler());
  const { result } = await invoke(() => new Switches().handler({}, fakeContext()));
  assert.equal(result, 'switched');
  const docs = await sink.take(1);
  const handler = byName(docs, '## index.handler');
  assert.ok('end_time' in handler);
  assert.deepEqual(handler.metadata, { payment: { 'index.handler response': 'switched' } });
  const manual = byName(docs, 'manual');
  assert.equal(manual.parent_id, handler.id);
  assert.deepEqual(manual.annotations, { onManual: 1 });
});
