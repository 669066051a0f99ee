// CommonJS entry points: require('oxray') and require('oxray/middleware') give the same
// objects as the ESM entry points.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');

test('require() and import() share one module instance', async () => {
  const cjs = require('oxray');
  const esm = await import('oxray');
  assert.equal(typeof cjs.Tracer, 'function');
  assert.equal(esm.Tracer, cjs.Tracer);
  const mwCjs = require('oxray/middleware');
  const mwEsm = await import('oxray/middleware');
  assert.equal(mwEsm.captureLambdaHandler, mwCjs.captureLambdaHandler);
  assert.equal(cjs.VERSION, require('oxray/package.json').version);
});

test("'oxray/types' (types only, as Powertools' '/types') loads as an empty module both ways", async () => {
  assert.deepEqual(Object.keys(require('oxray/types')), []);
  assert.deepEqual(Object.keys(await import('oxray/types')), []);
});

test('middleware object has middy steps and does nothing when disabled', async () => {
  delete process.env.AWS_EXECUTION_ENV;
  const { Tracer } = require('oxray');
  const { captureLambdaHandler } = require('oxray/middleware');
  const mw = captureLambdaHandler(new Tracer());
  assert.deepEqual(Object.keys(mw).sort(), ['after', 'before', 'onError']);
  const request = { event: {}, context: {}, response: 1, internal: {} };
  mw.before(request);
  mw.after(request);
  assert.deepEqual(request.internal, {});
});
