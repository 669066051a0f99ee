// The context storage (AsyncLocalStorage) is enabled only while traced work is active, so that
// plain code pays no await tax between invocations; context must stay right across that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupLambda, invoke, fakeContext, decorate, byName, newTraceHeader } from './helpers/lambda.mjs';

const sink = await setupLambda();
const { Tracer } = await import('oxray');
const tracer = new Tracer();
const storage = tracer.provider.getNamespace();
const nextTurn = () => new Promise((r) => setImmediate(r));

class Shop {
  async handler() {
    const inside = storage.getStore() !== undefined;
    await nextTurn();
    const order = await this.order();
    return { inside, order };
  }

  async order() {
    await nextTurn();
    return this.pay();
  }

  async pay() {
    return 'paid';
  }
}
decorate(Shop, 'handler', tracer.captureLambdaHandler());
decorate(Shop, 'order', tracer.captureMethod());
decorate(Shop, 'pay', tracer.captureMethod());

/** Node 20's AsyncLocalStorage says whether it is enabled (its promise hooks installed). */
function enabled() {
  return /** @type {any} */ (storage).enabled;
}

test('the storage is given back after the last invocation and taken again by the next', async () => {
  for (let round = 0; round < 3; round++) {
    const { result } = await invoke(() => new Shop().handler({}, fakeContext()));
    assert.deepEqual(result, { inside: true, order: 'paid' });
    const [doc] = await sink.take(1);
    const order = byName([doc], '### order');
    assert.equal(order.parent_id, doc.id);
    assert.equal(byName([doc], '### pay').parent_id, order.id);
    // Outside the invocation, once the event loop turned: no store, and (on Node versions that
    // say so) the storage is disabled.
    await nextTurn();
    assert.equal(storage.getStore(), undefined);
    if (typeof enabled() === 'boolean') assert.equal(enabled(), false);
  }
});

test('a traced method outside any invocation keeps its context across event-loop turns', async () => {
  process.env._X_AMZN_TRACE_ID = newTraceHeader().header;
  const result = await new Shop().order();
  assert.equal(result, 'paid');
  const [order] = await sink.take(1);
  assert.equal(order.name, '### order');
  assert.equal(order.type, 'subsegment');
  assert.equal(byName([order], '### pay').parent_id, order.id);
  await nextTurn();
  if (typeof enabled() === 'boolean') assert.equal(enabled(), false);
});

test('a synchronous traced method outside any invocation gives the storage back', async () => {
  class Sync {
    total(a, b) {
      return a + b;
    }
  }
  decorate(Sync, 'total', tracer.captureMethod());
  process.env._X_AMZN_TRACE_ID = newTraceHeader().header;
  assert.equal(new Sync().total(2, 3), 5);
  const [doc] = await sink.take(1);
  assert.equal(doc.name, '### total');
  assert.deepEqual(doc.metadata, { payment: { 'total response': 5 } });
  await nextTurn();
  if (typeof enabled() === 'boolean') assert.equal(enabled(), false);
});
