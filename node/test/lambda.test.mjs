// End-to-end: handlers run under a simulated Lambda (env, fake context, UDP daemon on
// 127.0.0.1); the datagrams are validated and reassembled into trace trees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupLambda, invoke, fakeContext, decorate, byName, flatten, newTraceHeader } from './helpers/lambda.mjs';
import { captureLogs } from './helpers/logs.mjs';
import { validateDocument } from './helpers/validate.mjs';

const sink = await setupLambda();
const logs = captureLogs();
const { Tracer } = await import('oxray');

const tracer = new Tracer();

class Payment {
  async handler(event) {
    const charged = await this.charge(event.amount);
    const receipt = this.receipt(charged);
    return { statusCode: 200, body: receipt };
  }

  async charge(amount) {
    tracer.putAnnotation('amount', amount);
    tracer.putMetadata('card', { last4: '4242' });
    return this.inner(amount);
  }

  inner(amount) {
    return { charged: amount };
  }

  receipt(charged) {
    return `receipt:${charged.charged}`;
  }
}
decorate(Payment, 'handler', tracer.captureLambdaHandler());
decorate(Payment, 'charge', tracer.captureMethod());
decorate(Payment, 'inner', tracer.captureMethod({ subSegmentName: '### customInnerName' }));
decorate(Payment, 'receipt', tracer.captureMethod());
const payment = new Payment();

test('decorated handler: names, annotations, response metadata, nesting, one datagram', async () => {
  const { root, parent, result } = await invoke(() => payment.handler({ amount: 42.5 }, fakeContext()));
  assert.deepEqual(result, { statusCode: 200, body: 'receipt:42.5' });
  const docs = await sink.take(1);
  const handler = docs[0];
  assert.equal(handler.name, '## index.handler');
  assert.equal(handler.type, 'subsegment');
  assert.equal(handler.trace_id, root);
  assert.equal(handler.parent_id, parent);
  assert.deepEqual(handler.annotations, { ColdStart: true, Service: 'payment' });
  assert.deepEqual(handler.metadata, { payment: { 'index.handler response': { statusCode: 200, body: 'receipt:42.5' } } });
  const charge = byName(docs, '### charge');
  assert.equal(charge.parent_id, handler.id);
  assert.deepEqual(charge.annotations, { amount: 42.5 });
  assert.deepEqual(charge.metadata.payment, { card: { last4: '4242' }, 'charge response': { charged: 42.5 } });
  const inner = byName(docs, '### customInnerName');
  assert.equal(inner.parent_id, charge.id);
  assert.deepEqual(inner.metadata, { payment: { 'inner response': { charged: 42.5 } } });
  assert.equal(byName(docs, '### receipt').parent_id, handler.id);
});

test('ColdStart is true only on the first invocation; each invocation has its own trace', async () => {
  const a = await invoke(() => payment.handler({ amount: 1 }, fakeContext()));
  const b = await invoke(() => payment.handler({ amount: 2 }, fakeContext()));
  const docs = await sink.take(2);
  assert.deepEqual(docs.map((d) => d.trace_id), [a.root, b.root]);
  assert.deepEqual(docs.map((d) => d.parent_id), [a.parent, b.parent]);
  for (const d of docs) assert.equal(d.annotations.ColdStart, false);
});

test('a decorated synchronous method stays synchronous, inside and outside a handler', async () => {
  const value = payment.receipt({ charged: 3 });
  assert.equal(value, 'receipt:3');
  const docs = await sink.take(1);
  assert.equal(docs[0].name, '### receipt');
  assert.equal(docs[0].type, 'subsegment');
});

test('an undecorated handler has sent its traced calls when it returns (nothing flushes after it)', async () => {
  // Lambda may freeze the process as soon as the handler returns: each top-level
  // subsegment (a child of the facade) is sent from the calling thread as it ends.
  const before = tracer.getCounters().sent;
  const { root } = await invoke(async () => {
    await payment.charge(5);
    payment.receipt({ charged: 5 });
  });
  assert.equal(tracer.getCounters().sent - before, 2);
  const docs = await sink.take(2);
  assert.deepEqual(docs.map((d) => d.name).sort(), ['### charge', '### receipt']);
  for (const d of docs) assert.equal(d.trace_id, root);
});

test('handler error: fault + cause with real stack frames (ESM paths and line numbers), rethrown unchanged', async () => {
  class Failing {
    async handler() {
      await this.chargeCard();
    }

    async chargeCard() {
      throw new RangeError('card declined');
    }
  }
  decorate(Failing, 'handler', tracer.captureLambdaHandler());
  decorate(Failing, 'chargeCard', tracer.captureMethod());
  const f = new Failing();
  await assert.rejects(invoke(() => f.handler({}, fakeContext())), (err) => err instanceof RangeError && err.message === 'card declined');
  const [doc] = await sink.take(1);
  assert.equal(doc.fault, true);
  const child = byName([doc], '### chargeCard');
  assert.equal(child.fault, true);
  const [ex] = child.cause.exceptions;
  assert.equal(ex.type, 'RangeError');
  assert.equal(ex.message, 'card declined');
  assert.equal(ex.remote, undefined);
  const thisFile = new URL(import.meta.url).pathname;
  const frame = ex.stack.find((f) => f.path === thisFile);
  assert.ok(frame, `a frame in ${thisFile}: ${JSON.stringify(ex.stack)}`);
  assert.ok(Number.isInteger(frame.line) && frame.line > 1);
  assert.match(frame.label, /chargeCard/);
  // The handler re-threw the same error: it refers to the child's exception instead of copying it.
  assert.equal(doc.cause, ex.id);
});

test('thrown non-Error values are recorded and rethrown unchanged', async () => {
  class Odd {
    async handler() {
      throw 'plain string';
    }
  }
  decorate(Odd, 'handler', tracer.captureLambdaHandler());
  await assert.rejects(invoke(() => new Odd().handler({}, fakeContext())), (e) => e === 'plain string');
  const [doc] = await sink.take(1);
  assert.equal(doc.cause.exceptions[0].message, 'plain string');
});

test('Promise.all of traced methods: correct siblings, each with its own annotation', async () => {
  class Parallel {
    async handler() {
      return Promise.all(['a', 'b', 'c'].map((tag, i) => this.slow(tag, 3 - i)));
    }

    async slow(tag, delay) {
      tracer.putAnnotation('tag', tag);
      await new Promise((r) => setTimeout(r, delay));
      tracer.putMetadata('after', tag);
      return tag;
    }
  }
  decorate(Parallel, 'handler', tracer.captureLambdaHandler());
  decorate(Parallel, 'slow', tracer.captureMethod());
  await invoke(() => new Parallel().handler({}, fakeContext()));
  const [doc] = await sink.take(1);
  const slows = doc.subsegments.filter((s) => s.name === '### slow');
  assert.equal(slows.length, 3);
  for (const s of slows) {
    assert.equal(s.metadata.payment.after, s.annotations.tag);
    assert.equal(s.metadata.payment['slow response'], s.annotations.tag);
  }
  assert.deepEqual(slows.map((s) => s.annotations.tag).sort(), ['a', 'b', 'c']);
});

test('a child still open when the handler returns: handler sent, child in progress, then complete', async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  let background;
  class Unawaited {
    async handler() {
      background = this.background();
      return 'done';
    }

    async background() {
      await gate;
      return 'late';
    }
  }
  decorate(Unawaited, 'handler', tracer.captureLambdaHandler());
  decorate(Unawaited, 'background', tracer.captureMethod());
  await invoke(() => new Unawaited().handler({}, fakeContext()));
  const first = await sink.take(2);
  const handler = first.find((d) => d.name === '## index.handler');
  const inProgress = first.find((d) => d.name === '### background');
  assert.ok(handler && 'end_time' in handler, 'handler document sent and complete');
  assert.equal(inProgress.in_progress, true);
  assert.equal(inProgress.parent_id, handler.id);
  release();
  await background;
  const [done] = await sink.take(1);
  assert.equal(done.id, inProgress.id);
  assert.ok('end_time' in done);
  assert.equal(done.parent_id, handler.id);
});

test('results of every primitive type are recorded as their JSON value', async () => {
  const long = 'y'.repeat(20000);
  const results = { num: 10, negZero: -0, big: 1e21, nan: NaN, inf: -Infinity, yes: true, text: 'a "quoted" \\ text', nil: null, long, lone: '\ud800' };
  class Results {
    async handler() {
      for (const name of Object.keys(results)) await this[name]();
    }
  }
  for (const [name, value] of Object.entries(results)) {
    Results.prototype[name] = async () => value;
    decorate(Results, name, tracer.captureMethod());
  }
  decorate(Results, 'handler', tracer.captureLambdaHandler());
  await invoke(() => new Results().handler({}, fakeContext()));
  const docs = await sink.take(1);
  const recorded = (name) => byName(docs, `### ${name}`).metadata.payment[`${name} response`];
  assert.equal(recorded('num'), 10);
  assert.equal(recorded('negZero'), 0);
  assert.equal(recorded('big'), 1e21);
  assert.equal(recorded('nan'), null);
  assert.equal(recorded('inf'), null);
  assert.equal(recorded('yes'), true);
  assert.equal(recorded('text'), results.text);
  assert.equal(recorded('nil'), null);
  assert.equal(recorded('long'), long);
  assert.equal(recorded('lone'), '\ud800');
});

test('unsampled invocation: nothing sent, handler result unchanged', async () => {
  const { result } = await invoke(() => payment.handler({ amount: 5 }, fakeContext()), 0);
  assert.equal(result.statusCode, 200);
  await sink.none();
});

test('missing trace header: nothing sent, nothing thrown', async () => {
  delete process.env._X_AMZN_TRACE_ID;
  const result = await payment.handler({ amount: 6 }, fakeContext());
  assert.equal(result.statusCode, 200);
  await sink.none();
});

test('malformed trace header: nothing sent, logged and counted, handler unaffected', async () => {
  process.env._X_AMZN_TRACE_ID = 'Root=not-a-trace;Parent=zz;Sampled=1';
  const before = tracer.getCounters().warnings;
  const result = await payment.handler({ amount: 7 }, fakeContext());
  assert.equal(result.statusCode, 200);
  await sink.none();
  assert.ok(tracer.getCounters().warnings > before);
  assert.ok((await logs.settle()).some((l) => l.includes('malformed')));
});

test('manual instrumentation: getSegment / addNewSubsegment / setSegment / provider', async () => {
  class Manual {
    async handler() {
      const parent = tracer.getSegment();
      const sub = parent.addNewSubsegment('### manualChild');
      tracer.setSegment(sub);
      tracer.putAnnotation('step', 'one');
      sub.addMetadata('k', [1, 2]);
      sub.close();
      tracer.setSegment(parent);
      const v = tracer.provider.captureFunc('### syncFunc', (s) => {
        s.addAnnotation('inFunc', true);
        return 7;
      });
      await tracer.provider.captureAsyncFunc('### asyncFunc', async (s) => {
        tracer.putAnnotation('inAsync', 1);
        s.close();
      });
      return v;
    }
  }
  decorate(Manual, 'handler', tracer.captureLambdaHandler());
  await invoke(() => new Manual().handler({}, fakeContext()));
  const docs = await sink.take(1);
  const handler = docs[0];
  const child = byName(docs, '### manualChild');
  assert.equal(child.parent_id, handler.id);
  assert.deepEqual(child.annotations, { step: 'one' });
  assert.deepEqual(child.metadata, { default: { k: [1, 2] } });
  assert.deepEqual(byName(docs, '### syncFunc').annotations, { inFunc: true });
  assert.deepEqual(byName(docs, '### asyncFunc').annotations, { inAsync: 1 });
  assert.equal(handler.metadata.payment['index.handler response'], 7);
});

test('segments read back while open: toJSON / format / annotations / metadata / namespace, sending nothing', async () => {
  const seen = {};
  class ReadBack {
    async handler() {
      const handlerSegment = tracer.getSegment();
      seen.handlerName = handlerSegment.name;
      const sub = handlerSegment.addNewSubsegment('### readBack');
      sub.addAnnotation('order', 'o-1');
      sub.addMetadata('cart', { items: 2 }, 'shop');
      const remote = sub.addNewSubsegment('api.example.com');
      remote.close();
      seen.doc = sub.toJSON();
      seen.text = sub.format();
      seen.annotations = sub.annotations;
      seen.metadata = sub.metadata;
      seen.namespace = sub.namespace;
      seen.sentWhileOpen = tracer.getCounters().sent;
      sub.close();
      seen.afterClose = sub.toJSON();
      seen.afterCloseAnnotations = sub.annotations;
      return 'ok';
    }
  }
  decorate(ReadBack, 'handler', tracer.captureLambdaHandler());
  const sentBefore = tracer.getCounters().sent;
  const { root } = await invoke(() => new ReadBack().handler({}, fakeContext()));
  assert.equal(seen.handlerName, '## index.handler', 'getSegment() inside a traced handler names it');
  assert.equal(seen.sentWhileOpen, sentBefore, 'reading sends nothing');
  // What is read back is a document as it would be sent: the schema and PROTOCOL.md's rules.
  validateDocument(seen.doc, seen.text);
  assert.equal(seen.doc.name, '### readBack');
  assert.equal(seen.doc.in_progress, true);
  assert.equal(seen.doc.end_time, undefined);
  assert.equal(seen.doc.trace_id, root);
  assert.deepEqual(seen.doc.subsegments.map((s) => s.name), ['api.example.com']);
  assert.deepEqual(JSON.parse(seen.text), seen.doc);
  assert.deepEqual(seen.annotations, { order: 'o-1' });
  assert.deepEqual(seen.metadata, { shop: { cart: { items: 2 } } });
  assert.equal(seen.namespace, undefined, 'local work has no namespace');
  // Closed: its document went into the handler's, and what is left is its identity.
  assert.deepEqual(Object.keys(seen.afterClose).sort(), ['id', 'name', 'parent_id', 'trace_id']);
  assert.equal(seen.afterClose.id, seen.doc.id);
  assert.deepEqual(seen.afterCloseAnnotations, {});
  const docs = await sink.take(1);
  assert.deepEqual(byName(docs, '### readBack').annotations, { order: 'o-1' });
});

test('the facade refuses annotations and metadata with the Powertools warnings', async () => {
  process.env._X_AMZN_TRACE_ID = newTraceHeader().header;
  tracer.putAnnotation('outside', 1);
  tracer.putMetadata('outside', 1);
  const seg = tracer.getSegment();
  assert.equal(seg.constructor.name, 'Segment');
  assert.equal(seg.id, process.env._X_AMZN_TRACE_ID.split('Parent=')[1].split(';')[0]);
  const lines = await logs.settle();
  assert.ok(lines.some((l) => l.includes('You cannot annotate the main segment')));
  assert.ok(lines.some((l) => l.includes('You cannot add metadata to the main segment')));
  await sink.none();
});

test('bad annotations and metadata are logged and counted, never thrown; the document survives', async () => {
  const circular = { name: 'loop' };
  circular.self = circular;
  class Bad {
    async handler() {
      tracer.putAnnotation('obj', { a: 1 });
      tracer.putAnnotation('nan', Number.NaN);
      tracer.putAnnotation('inf', Infinity);
      tracer.putAnnotation(42, 'x');
      tracer.putAnnotation('', 'empty key');
      tracer.putAnnotation('weird-key.with space', 'kept, sanitized');
      tracer.putAnnotation('big', 2 ** 60);
      tracer.putMetadata('bigint', 10n);
      tracer.putMetadata('circular', circular);
      tracer.putMetadata('fn', () => 1);
      tracer.putMetadata('sym', Symbol('s'));
      tracer.putMetadata('typed', new Uint8Array([1, 2, 3]));
      tracer.putMetadata('map', new Map([['a', 1]]));
      tracer.putMetadata('getter', {
        get boom() {
          throw new Error('getter exploded');
        },
        fine: 1,
      });
      tracer.putMetadata('tojson', { toJSON() { throw new Error('toJSON exploded'); } });
      tracer.putMetadata('proto', JSON.parse('{"__proto__": {"x": 1}}'));
      tracer.putMetadata('undef', undefined);
      tracer.putMetadata('nullish', null);
      tracer.putMetadata('k', 1, 'AWS.reserved');
      tracer.putMetadata('k', 1, 5);
      return circular;
    }
  }
  decorate(Bad, 'handler', tracer.captureLambdaHandler());
  const before = tracer.getCounters().warnings;
  const { result } = await invoke(() => new Bad().handler({}, fakeContext()));
  assert.equal(result, circular);
  const [doc] = await sink.take(1);
  assert.deepEqual(doc.annotations, {
    ColdStart: false,
    Service: 'payment',
    weird_key_with_space: 'kept, sanitized',
    big: 2 ** 60,
  });
  const m = doc.metadata.payment;
  assert.equal(m.bigint, '10');
  assert.deepEqual(m.circular, { name: 'loop', self: '[Circular]' });
  assert.deepEqual(m['index.handler response'], { name: 'loop', self: '[Circular]' });
  assert.equal(m.fn, '[Function: anonymous]');
  assert.equal(m.sym, 'Symbol(s)');
  assert.deepEqual(m.typed, { 0: 1, 1: 2, 2: 3 });
  assert.deepEqual(m.map, {});
  assert.deepEqual(m.getter, { boom: '[getter threw: Error: getter exploded]', fine: 1 });
  assert.equal(m.tojson, '[toJSON threw: Error: toJSON exploded]');
  assert.deepEqual(m.proto, JSON.parse('{"__proto__": {"x": 1}}'));
  assert.equal(m.undef, null);
  assert.equal(m.nullish, null);
  assert.equal(doc.metadata['AWS.reserved'], undefined);
  assert.ok(tracer.getCounters().warnings >= before + 8);
  const lines = await logs.settle();
  assert.ok(lines.some((l) => l.includes('failed to add annotation "obj"')), lines.join('\n'));
});

test('huge response: the document stays under 64,000 bytes with a visible truncation marker', async () => {
  class Huge {
    async handler() {
      return { blob: 'x'.repeat(200_000), items: Array.from({ length: 5000 }, (_, i) => ({ i, text: 'y'.repeat(20) })) };
    }
  }
  decorate(Huge, 'handler', tracer.captureLambdaHandler());
  const before = tracer.getCounters();
  const { result } = await invoke(() => new Huge().handler({}, fakeContext()));
  assert.equal(result.blob.length, 200_000);
  const [doc] = await sink.take(1);
  assert.equal(doc.name, '## index.handler');
  assert.ok(JSON.stringify(doc).includes('…truncated'));
  const after = tracer.getCounters();
  assert.equal(after.dropped, before.dropped);
});

test('many children: the parent document stays under the bound (children streamed)', async () => {
  class Many {
    async handler() {
      for (let i = 0; i < 300; i++) await this.step(i);
    }

    async step(i) {
      tracer.putMetadata('payload', 'z'.repeat(400));
      return i;
    }
  }
  decorate(Many, 'handler', tracer.captureLambdaHandler());
  decorate(Many, 'step', tracer.captureMethod());
  await invoke(() => new Many().handler({}, fakeContext()));
  const count = () => flatten(sink.docs).filter((e) => e.name === '### step').length;
  for (let n = 0; count() < 300 && n < 100; n++) await new Promise((r) => setTimeout(r, 50));
  const docs = sink.docs.splice(0);
  assert.deepEqual(sink.invalid, []);
  const steps = flatten(docs).filter((e) => e.name === '### step');
  assert.equal(steps.length, 300);
  const handler = byName(docs, '## index.handler');
  for (const s of steps) assert.equal(s.parent_id, handler.id);
});

test('two Tracer instances share one recorder: no doubled subsegments', async () => {
  const other = new Tracer({ serviceName: 'other' });
  class Two {
    async handler() {
      return this.work();
    }

    async work() {
      other.putAnnotation('by', 'other');
      return 1;
    }
  }
  decorate(Two, 'handler', tracer.captureLambdaHandler());
  decorate(Two, 'work', other.captureMethod());
  await invoke(() => new Two().handler({}, fakeContext()));
  const docs = await sink.take(1);
  assert.equal(flatten(docs).length, 2);
  assert.deepEqual(byName(docs, '### work').metadata, { other: { 'work response': 1 } });
});

test('captureResponse:false on a decorator, and error capture off by environment', async () => {
  process.env.POWERTOOLS_TRACER_CAPTURE_ERROR = 'false';
  const quiet = new Tracer();
  delete process.env.POWERTOOLS_TRACER_CAPTURE_ERROR;
  class Quiet {
    async handler() {
      return this.secret();
    }

    async secret() {
      throw new Error('hidden');
    }
  }
  decorate(Quiet, 'handler', quiet.captureLambdaHandler({ captureResponse: false }));
  decorate(Quiet, 'secret', quiet.captureMethod({ captureResponse: false }));
  await assert.rejects(invoke(() => new Quiet().handler({}, fakeContext())), /hidden/);
  const docs = await sink.take(1);
  for (const e of flatten(docs)) {
    assert.equal(e.error, true);
    assert.equal(e.fault, undefined);
    assert.equal(e.cause, undefined);
  }
});

test('response capture off by environment; no initialization type means ColdStart false', async () => {
  process.env.POWERTOOLS_TRACER_CAPTURE_RESPONSE = 'false';
  delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
  const t = new Tracer();
  delete process.env.POWERTOOLS_TRACER_CAPTURE_RESPONSE;
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
  class R {
    async handler() {
      return { ok: true };
    }
  }
  decorate(R, 'handler', t.captureLambdaHandler());
  await invoke(() => new R().handler({}, fakeContext()));
  const [doc] = await sink.take(1);
  assert.equal(doc.metadata, undefined);
  assert.equal(doc.annotations.ColdStart, false);
});

test('getRootXrayTraceId and isTraceSampled read the invocation header', () => {
  const t = newTraceHeader();
  process.env._X_AMZN_TRACE_ID = t.header;
  assert.equal(tracer.getRootXrayTraceId(), t.root);
  assert.equal(tracer.isTraceSampled(), true);
  process.env._X_AMZN_TRACE_ID = newTraceHeader(0).header;
  assert.equal(tracer.isTraceSampled(), false);
  process.env._X_AMZN_TRACE_ID = 'just-an-id';
  assert.equal(tracer.getRootXrayTraceId(), 'just-an-id');
  delete process.env._X_AMZN_TRACE_ID;
  assert.equal(tracer.getRootXrayTraceId(), undefined);
});

test('tracing problems never throw: misuse of the API is logged', async () => {
  process.env._X_AMZN_TRACE_ID = newTraceHeader().header;
  assert.doesNotThrow(() => tracer.setSegment({ not: 'a segment' }));
  assert.doesNotThrow(() => tracer.setSegment(null));
  const sub = tracer.getSegment().addNewSubsegment('### twice');
  sub.close();
  assert.doesNotThrow(() => sub.close());
  assert.doesNotThrow(() => sub.addAnnotation('late', 1));
  const lines = await logs.settle();
  assert.ok(lines.some((l) => l.includes('setSegment()')));
  assert.ok(lines.some((l) => l.includes('already')));
  await sink.take(1);
});
