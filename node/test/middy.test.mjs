// The middy middleware from oxray/middleware, with the real @middy/core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupLambda, invoke, fakeContext, decorate, byName } from './helpers/lambda.mjs';

const sink = await setupLambda();
const { Tracer } = await import('oxray');
const { captureLambdaHandler } = await import('oxray/middleware');
const middy = (await import('@middy/core')).default;

const tracer = new Tracer();

class Service {
  async process(order) {
    tracer.putAnnotation('step', 'process');
    return { order };
  }
}
decorate(Service, 'process', tracer.captureMethod());
const service = new Service();

const handler = middy(async (event) => {
  tracer.putAnnotation('orderId', event.orderId);
  return service.process(event.orderId);
}).use(captureLambdaHandler(tracer));

test('middy handler: same shape as the decorator, child method nested', async () => {
  const { root, parent } = await invoke(() => handler({ orderId: 'o-9' }, fakeContext()));
  const docs = await sink.take(1);
  const doc = docs[0];
  assert.equal(doc.name, '## index.handler');
  assert.equal(doc.trace_id, root);
  assert.equal(doc.parent_id, parent);
  assert.deepEqual(doc.annotations, { ColdStart: true, Service: 'payment', orderId: 'o-9' });
  assert.deepEqual(doc.metadata, { payment: { 'index.handler response': { order: 'o-9' } } });
  assert.equal(byName(docs, '### process').parent_id, doc.id);
});

test('middy error: fault + cause, error reaches the caller unchanged', async () => {
  const failing = middy(async () => {
    throw new RangeError('bad order');
  }).use(captureLambdaHandler(tracer));
  await assert.rejects(invoke(() => failing({}, fakeContext())), RangeError);
  const [doc] = await sink.take(1);
  assert.equal(doc.fault, true);
  assert.equal(doc.cause.exceptions[0].type, 'RangeError');
  assert.equal(doc.annotations.ColdStart, false);
});

test('middy captureResponse:false, and work after the invocation is not attached to it', async () => {
  const quiet = middy(async () => ({ secret: true })).use(captureLambdaHandler(tracer, { captureResponse: false }));
  await invoke(() => quiet({}, fakeContext()));
  const [doc] = await sink.take(1);
  assert.equal(doc.metadata, undefined);
  // The retired store must not be used: this lands on the facade (refused), not on the ended handler.
  tracer.putAnnotation('late', true);
  await sink.none();
});

test('the decorator and middy produce the same document shape', async () => {
  class Decorated {
    async handler(event) {
      tracer.putAnnotation('orderId', event.orderId);
      return service.process(event.orderId);
    }
  }
  decorate(Decorated, 'handler', tracer.captureLambdaHandler());
  await invoke(() => new Decorated().handler({ orderId: 'o-1' }, fakeContext()));
  await invoke(() => handler({ orderId: 'o-1' }, fakeContext()));
  const [a, b] = await sink.take(2);
  const shape = (d) => JSON.stringify(d, (k, v) => (['id', 'trace_id', 'parent_id', 'start_time', 'end_time'].includes(k) ? undefined : v));
  assert.equal(shape(a), shape(b));
});
