// When the addon's table of interned names is full, traced methods still record their names
// and results (passed as strings instead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setupLambda, invoke, fakeContext, decorate, byName } from './helpers/lambda.mjs';

const sink = await setupLambda();
const { Tracer } = await import('oxray');
const native = createRequire(import.meta.url)('oxray/native');
const tracer = new Tracer();

class Late {
  async handler() {
    return this.work(2);
  }

  async work(n) {
    return n * 21;
  }
}

test('names beyond the table: same documents', async () => {
  // Fill the table (65,536 names per JavaScript thread).
  let last = 1;
  for (let i = 0; last !== 0 && i < 70000; i++) last = native.internName(`filler ${i}`);
  assert.equal(last, 0, 'the table is full');
  decorate(Late, 'handler', tracer.captureLambdaHandler());
  decorate(Late, 'work', tracer.captureMethod());
  const { result } = await invoke(() => new Late().handler({}, fakeContext()));
  assert.equal(result, 42);
  const docs = await sink.take(1);
  const work = byName(docs, '### work');
  assert.deepEqual(work.metadata, { payment: { 'work response': 42 } });
  assert.equal(work.parent_id, docs[0].id);
});
