// Unsampled traces: traced calls under an unsampled invocation (or an unsampled header outside
// one) run the method as it is, record nothing and send nothing; a sampled trace afterwards is
// recorded in full, so nothing of the unsampled one lingers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupLambda, invoke, fakeContext, decorate, byName, newTraceHeader } from './helpers/lambda.mjs';

const sink = await setupLambda();
const { Tracer } = await import('oxray');

const tracer = new Tracer();

class Orders {
  async handler(event) {
    const totals = await Promise.all(event.items.map((n) => this.price(n)));
    return { total: this.sum(totals), segment: tracer.getSegment().id };
  }

  async price(n) {
    tracer.putAnnotation('item', n);
    tracer.putMetadata('item', { n });
    await new Promise((resolve) => setTimeout(resolve, 1));
    return this.tax(n * 10);
  }

  tax(amount) {
    return amount + 1;
  }

  sum(values) {
    return values.reduce((a, b) => a + b, 0);
  }

  async fail() {
    throw new TypeError('declined');
  }

  failSync() {
    throw new RangeError('sync declined');
  }
}
decorate(Orders, 'handler', tracer.captureLambdaHandler());
for (const name of ['price', 'tax', 'sum', 'fail', 'failSync']) decorate(Orders, name, tracer.captureMethod());
const orders = new Orders();

test('unsampled invocation: results, sync methods and errors unchanged, nothing sent', async () => {
  const { result } = await invoke(async () => {
    assert.equal(orders.sum([1, 2]), 3, 'a sync method stays sync (outside the handler)');
    return orders.handler({ items: [1, 2, 3] }, fakeContext());
  }, 0);
  assert.equal(result.total, 63);
  await assert.rejects(
    invoke(() => orders.fail(), 0),
    (err) => err instanceof TypeError && err.message === 'declined',
  );
  assert.throws(
    () => {
      process.env._X_AMZN_TRACE_ID = newTraceHeader(0).header;
      orders.failSync();
    },
    (err) => err instanceof RangeError && err.message === 'sync declined',
  );
  await sink.none();
  assert.equal(tracer.isTraceSampled(), false);
});

test('a sampled invocation after unsampled ones is recorded in full', async () => {
  await invoke(() => orders.handler({ items: [4] }, fakeContext()), 0);
  const { root, result } = await invoke(() => orders.handler({ items: [5, 6] }, fakeContext()), 1);
  assert.equal(result.total, 112);
  const [doc] = await sink.take(1);
  assert.equal(doc.trace_id, root);
  assert.equal(doc.name, '## index.handler');
  const prices = doc.subsegments.filter((s) => s.name === '### price');
  assert.deepEqual(prices.map((s) => s.annotations.item).sort(), [5, 6]);
  for (const p of prices) {
    assert.deepEqual(p.metadata.payment.item, { n: p.annotations.item });
    assert.equal(p.subsegments[0].name, '### tax');
  }
  assert.equal(byName([doc], '### sum').parent_id, doc.id);
});

test('outside any invocation the header in effect decides, call by call', async () => {
  process.env._X_AMZN_TRACE_ID = newTraceHeader(0).header;
  assert.equal(await orders.price(2), 21);
  await sink.none();
  const { root } = newTraceHeader(1);
  process.env._X_AMZN_TRACE_ID = `Root=${root};Parent=53995c3f42cd8ad8;Sampled=1`;
  assert.equal(await orders.price(3), 31);
  const [doc] = await sink.take(1);
  assert.equal(doc.name, '### price');
  assert.equal(doc.trace_id, root);
  assert.equal(doc.parent_id, '53995c3f42cd8ad8');
  assert.deepEqual(doc.annotations, { item: 3 });
  assert.equal(doc.subsegments[0].name, '### tax');
});

test('provider subsegments of an unsampled trace: the callback gets a working subsegment, nothing sent', async () => {
  const { result } = await invoke(
    () =>
      tracer.provider.captureAsyncFunc('## manual', async (sub) => {
        assert.equal(sub.notTraced, true);
        sub.addAnnotation('manual', true);
        tracer.putAnnotation('inside', 1);
        const price = await orders.price(7);
        sub.close();
        return price;
      }),
    0,
  );
  assert.equal(result, 71);
  await sink.none();
  const { root } = await invoke(() => tracer.provider.captureAsyncFunc('## manual', async (sub) => {
    const price = await orders.price(8);
    sub.close();
    return price;
  }));
  const [doc] = await sink.take(1);
  assert.equal(doc.trace_id, root);
  assert.equal(doc.name, '## manual');
  assert.equal(doc.subsegments[0].name, '### price');
});
