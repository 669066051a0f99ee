// The addon's hand-registered hot-path functions (bindings/node/src/fast.rs) and how the addon
// is found. These run on the addon directly, with a recorder that keeps documents in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { validateDocument } from './helpers/validate.mjs';

const require = createRequire(import.meta.url);
const native = require('oxray/native');
assert.equal(native.init(JSON.stringify({ emit_mode: 'memory' })), null);
const HEADER = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';

function documents() {
  return native.takeDocuments().map((text) => {
    const doc = JSON.parse(text);
    validateDocument(doc, text);
    return doc;
  });
}

test('names are interned once: the same text gives the same id', () => {
  const a = native.internName('### charge');
  assert.ok(a > 0);
  assert.equal(native.internName('### charge'), a);
  assert.notEqual(native.internName('### refund'), a);
});

test('begin, annotate, metadata and end with metadata through the fast path', () => {
  const facade = native.facade(HEADER);
  const name = native.internName('### charge');
  const namespace = native.internName('payment');
  const key = native.internName('charge response');
  const h = native.beginNamed(facade, name);
  assert.ok(h > 0);
  assert.equal(native.annotateFast(h, 'amount', 42), true);
  assert.equal(native.annotateFast(h, 'ratio', 0.5), true);
  assert.equal(native.annotateFast(h, 'card', 'visa'), true);
  assert.equal(native.annotateFast(h, 'ok', false), true);
  assert.equal(native.metadataFast(h, 'payment', 'card', '{"last4":"4242"}'), true);
  assert.equal(native.metadataFast(h, null, 'plain', '[1,2]'), true);
  assert.equal(native.endWithMetadata(h, namespace, key, '"done"'), true);
  assert.equal(native.endFast(h), false, 'a second end is refused');
  const [doc] = documents();
  assert.equal(doc.name, '### charge');
  assert.equal(doc.type, 'subsegment');
  assert.equal(doc.parent_id, '53995c3f42cd8ad8');
  assert.deepEqual(doc.annotations, { amount: 42, ratio: 0.5, card: 'visa', ok: false });
  assert.deepEqual(doc.metadata, { payment: { card: { last4: '4242' }, 'charge response': 'done' }, default: { plain: [1, 2] } });
  native.release(facade);
});

test('a long annotation key and a long JSON text cross intact', () => {
  const facade = native.facade(HEADER);
  const h = native.beginNamed(facade, native.internName('### long'));
  const key = `k${'x'.repeat(300)}`;
  assert.equal(native.annotateFast(h, key, 1), true);
  const big = JSON.stringify({ text: 'é'.repeat(5000) });
  assert.equal(native.metadataFast(h, 'ns', 'big', big), true);
  assert.equal(native.endFast(h), true);
  const [doc] = documents();
  assert.equal(doc.annotations[key], 1);
  assert.equal(doc.metadata.ns.big.text, 'é'.repeat(5000));
  native.release(facade);
});

test('strings around the stack buffer size cross intact, multi-byte characters included', () => {
  const facade = native.facade(HEADER);
  const h = native.beginNamed(facade, native.internName('### edges'));
  const keys = [];
  for (let n = 245; n <= 260; n++) {
    for (const tail of ['', 'é', '€', '😀']) keys.push('a'.repeat(n) + tail);
  }
  for (const key of keys) assert.equal(native.metadataFast(h, key.slice(0, 3) + '€'.repeat(84), key, JSON.stringify(key)), true);
  assert.equal(native.endFast(h), true);
  const [doc] = documents();
  for (const key of keys) assert.equal(doc.metadata['aaa' + '€'.repeat(84)][key], key);
  native.release(facade);
});

test('hot-path functions never throw on bad arguments', () => {
  const bad = [undefined, null, -1, 1.5, 'x', {}, [], 2 ** 40, Symbol('s'), () => 1];
  const before = native.counters().handles;
  for (const a of bad) {
    for (const b of bad) {
      assert.equal(native.beginNamed(a, b), 0);
      assert.equal(native.endFast(a), false);
      assert.equal(native.endWithMetadata(a, b, b, b), false);
      assert.equal(native.annotateFast(a, b, b), false);
      assert.equal(native.metadataFast(a, b, b, b), false);
    }
  }
  assert.equal(native.beginNamed(), 0);
  assert.equal(native.endFast(), false);
  // Unknown name ids begin nothing; a live entity refuses values JavaScript could not send.
  const facade = native.facade(HEADER);
  assert.equal(native.beginNamed(facade, 999999), 0);
  const h = native.beginNamed(facade, native.internName('### strict'));
  assert.equal(native.annotateFast(h, 'k', {}), false);
  assert.equal(native.annotateFast(h, 7, 'v'), false);
  assert.equal(native.metadataFast(h, 'ns', 'k', 42), false);
  assert.equal(native.endFast(h), true);
  const [doc] = documents();
  assert.equal(doc.annotations, undefined);
  assert.equal(doc.metadata, undefined);
  native.release(facade);
  assert.equal(native.counters().handles, before + 1, 'only the ended subsegment is still addressable');
});

test('the generated loader is used when NAPI_RS_NATIVE_LIBRARY_PATH names the addon', () => {
  const script = `
    const { Tracer } = require('oxray');
    const tracer = new Tracer();
    const loader = Object.keys(require.cache).some((p) => p.endsWith('binding.js'));
    console.log(JSON.stringify({ enabled: tracer.isTracingEnabled(), loader }));`;
  const addon = require.resolve('oxray/native').replace(/binding\.js$/, `oxray.${process.platform}-${process.arch}-gnu.node`);
  const env = { ...process.env, AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x', LAMBDA_TASK_ROOT: '/var/task' };
  const direct = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  assert.equal(direct.status, 0, direct.stderr);
  assert.deepEqual(JSON.parse(direct.stdout), { enabled: true, loader: process.platform !== 'linux' });
  const viaLoader = spawnSync(process.execPath, ['-e', script], { env: { ...env, NAPI_RS_NATIVE_LIBRARY_PATH: addon }, encoding: 'utf8' });
  assert.equal(viaLoader.status, 0, viaLoader.stderr);
  assert.deepEqual(JSON.parse(viaLoader.stdout), { enabled: true, loader: true });
});
