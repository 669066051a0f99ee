// The shared test vectors (tests/vectors/) run through the Node API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { vectorsDir } from './helpers/paths.mjs';
import { setupLambda, invoke, fakeContext, decorate } from './helpers/lambda.mjs';

const sink = await setupLambda();
const oxray = await import('oxray');
const { Tracer, parseTraceHeader, parseDaemonAddress } = oxray;
const read = (name) => JSON.parse(readFileSync(path.join(vectorsDir, name), 'utf8'));
const tracer = new Tracer();

test('trace_headers.json through parseTraceHeader', () => {
  const vectors = read('trace_headers.json');
  assert.ok(vectors.length > 10);
  for (const v of vectors) {
    const got = parseTraceHeader(v.input);
    assert.equal(got.valid, v.valid, v.input);
    if (!v.valid) {
      assert.equal(got.error, v.error, v.input);
      continue;
    }
    assert.equal(got.root ?? undefined, v.root, v.input);
    assert.equal(got.parent ?? undefined, v.parent, v.input);
    assert.equal(got.sampled ?? undefined, v.sampled, v.input);
    assert.equal(got.lineage ?? undefined, v.lineage, v.input);
    assert.deepEqual(got.extras, v.extras ?? [], v.input);
    assert.equal(got.formatted, v.formatted, v.input);
  }
});

test('daemon_addresses.json through parseDaemonAddress', () => {
  for (const v of read('daemon_addresses.json')) {
    const got = parseDaemonAddress(v.input);
    assert.equal(got.valid, v.valid, JSON.stringify(v.input));
    if (v.valid) {
      assert.equal(got.udp, v.udp, v.input);
      assert.equal(got.tcp, v.tcp, v.input);
    } else {
      assert.ok(got.message.length > 0);
    }
  }
});

test('names.json and annotation_keys.json through captureMethod and putAnnotation', async () => {
  const names = read('names.json');
  const keys = read('annotation_keys.json');
  class V {
    async handler() {
      for (const n of names) await this.named(n.input);
      for (const k of keys) tracer.putAnnotation(k.input, 'v');
    }

    async named(name) {
      return tracer.provider.captureAsyncFunc(name, async (sub) => sub.close());
    }
  }
  decorate(V, 'handler', tracer.captureLambdaHandler({ captureResponse: false }));
  await invoke(() => new V().handler({}, fakeContext()));
  const [doc] = await sink.take(1);
  assert.deepEqual(doc.subsegments.map((s) => s.name), names.map((n) => n.output));
  const expected = ['ColdStart', 'Service', ...keys.filter((k) => k.output !== null).map((k) => k.output)];
  assert.deepEqual(Object.keys(doc.annotations).sort(), [...new Set(expected)].sort());
});

