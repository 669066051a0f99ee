// User objects that fight back, against the installed package under a simulated Lambda:
// throwing toJSON and getters, cycles, BigInt, Symbols, typed arrays, Proxies (throwing and
// revoked), huge and deep values, hostile errors and names. What must hold every time: the
// user's code sees its own values and exceptions, never one from tracing; the values are not
// mutated nor consumed; every document that arrives is valid and within 64,000 bytes; what was
// refused is logged and counted; no internal tracing error is logged.
//
// Side effects allowed (the same reads as a JSON.stringify traversal, at most twice): each
// getter and toJSON runs once when JSON.stringify succeeds; when it fails (a throw, a cycle, a
// BigInt) or its text is over 64,000 characters, the safe copy reads them once more. Proxy
// traps seen are only get, ownKeys, getOwnPropertyDescriptor and getPrototypeOf; nothing is
// ever written, defined, deleted or re-prototyped, and iterables (generators, streams,
// Response bodies) are not iterated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setupLambda, invoke, fakeContext, decorate, byName, flatten } from './helpers/lambda.mjs';
import { captureLogs } from './helpers/logs.mjs';

const sink = await setupLambda();
const logs = captureLogs();
const { Tracer } = await import('oxray');
const tracer = new Tracer();
const TRUNCATED = '…truncated';

/**
 * Runs `body` as a traced Lambda handler; returns its result and every document of the
 * invocation (streamed children included).
 */
async function traced(body) {
  class Handler {
    async handler() {
      return body();
    }
  }
  decorate(Handler, 'handler', tracer.captureLambdaHandler());
  const { result, root } = await invoke(() => new Handler().handler({}, fakeContext()));
  await sink.waitFor(1);
  // Everything was sent before the handler returned: let the sink read the rest.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(sink.invalid.splice(0), [], 'every datagram is a valid document');
  const docs = sink.docs.splice(0);
  for (const d of docs) assert.equal(d.trace_id, root);
  return { result, docs, handler: byName(docs, '## index.handler') };
}

/** Fails on any internal tracing error logged since the last call; returns the other lines. */
async function cleanLogs() {
  const lines = await logs.settle();
  assert.deepEqual(lines.filter((l) => l.includes('internal tracing error')), [], 'no internal tracing error');
  return lines;
}

function revoked(target = {}) {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

const everyTrap = (what) => ({
  get() {
    throw new Error(`${what}: get`);
  },
  ownKeys() {
    throw new Error(`${what}: ownKeys`);
  },
  getOwnPropertyDescriptor() {
    throw new Error(`${what}: getOwnPropertyDescriptor`);
  },
  getPrototypeOf() {
    throw new Error(`${what}: getPrototypeOf`);
  },
  has() {
    throw new Error(`${what}: has`);
  },
});

function deep(levels) {
  let v = [];
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

/**
 * A value near 64 kB is cut by the serializer, and the document holding it may be cut again
 * by the core (the value, or its whole namespace, becomes a marker): either way a visible
 * "…truncated" marker, checked on the document by the caller of `cut`.
 * @param {unknown} r
 */
function cut(r) {
  assert.ok(r === undefined || JSON.stringify(r).includes(TRUNCATED), JSON.stringify(r)?.slice(0, 200));
}

const unserializable = (v) => typeof v === 'string' && v.startsWith('[unserializable: ');

/** A value no async function can return: resolving it reads `then`, which throws. */
const SYNC_ONLY = true;

/**
 * name → [make the value, check what was recorded, SYNC_ONLY?]. Each value is recorded three
 * ways in one invocation: putMetadata, a traced sync method's result, a traced async
 * method's result.
 */
const CASES = {
  toJsonThrows: [() => ({ toJSON() { throw new Error('no toJSON'); } }), (r) => assert.equal(r, '[toJSON threw: Error: no toJSON]')],
  nestedToJsonThrows: [() => ({ a: 1, inner: { toJSON() { throw new TypeError('inner'); } } }), (r) => assert.deepEqual(r, { a: 1, inner: '[toJSON threw: TypeError: inner]' })],
  getterThrows: [() => ({ ok: 1, get bad() { throw new Error('bad getter'); } }), (r) => assert.deepEqual(r, { ok: 1, bad: '[getter threw: Error: bad getter]' })],
  selfCycle: [() => { const o = { name: 'o' }; o.self = o; return o; }, (r) => assert.deepEqual(r, { name: 'o', self: '[Circular]' })],
  arrayCycle: [() => { const a = [1]; a.push(a); return a; }, (r) => assert.deepEqual(r, [1, '[Circular]'])],
  mutualCycle: [() => { const a = {}; const b = { a }; a.b = b; return a; }, (r) => assert.deepEqual(r, { b: { a: '[Circular]' } })],
  sharedNotCyclic: [() => { const s = { x: 1 }; return { p: s, q: [s, s] }; }, (r) => assert.deepEqual(r, { p: { x: 1 }, q: [{ x: 1 }, { x: 1 }] })],
  bigint: [() => 10n ** 30n, (r) => assert.equal(r, '1000000000000000000000000000000')],
  nestedBigint: [() => ({ n: 2n ** 70n, k: 'v' }), (r) => assert.deepEqual(r, { n: '1180591620717411303424', k: 'v' })],
  bigInt64Array: [() => new BigInt64Array([1n, -2n]), (r) => assert.deepEqual(r, ['1', '-2'])],
  symbol: [() => Symbol('s'), (r) => assert.equal(r, 'Symbol(s)')],
  symbolKeysAndValues: [() => ({ [Symbol('key')]: 1, s: Symbol('v'), k: 2 }), (r) => assert.deepEqual(r, { k: 2 })],
  uint8Array: [() => new Uint8Array([1, 2, 3]), (r) => assert.deepEqual(r, { 0: 1, 1: 2, 2: 3 })],
  float64Array: [() => new Float64Array([Number.NaN, 1.5]), (r) => assert.deepEqual(r, { 0: null, 1: 1.5 })],
  arrayBuffer: [() => new ArrayBuffer(16), (r) => assert.deepEqual(r, {})],
  sharedArrayBuffer: [() => new SharedArrayBuffer(16), (r) => assert.deepEqual(r, {})],
  dataView: [() => new DataView(new ArrayBuffer(8)), (r) => assert.deepEqual(r, {})],
  largeTypedArray: [() => new Uint8Array(1 << 17).fill(7), cut],
  megabyteTypedArray: [
    () => new Uint8Array(1 << 20).fill(7),
    (r) => {
      assert.ok(Array.isArray(r), 'a large typed array becomes its first elements');
      assert.equal(r.at(-1), TRUNCATED);
      assert.ok(r.length > 1000 && r.slice(0, -1).every((x) => x === 7));
    },
  ],
  proxyEveryTrapThrows: [() => new Proxy({ a: 1 }, everyTrap('proxy')), (r) => assert.ok(unserializable(r), String(r)), SYNC_ONLY],
  revokedProxy: [() => revoked(), (r) => assert.ok(unserializable(r), String(r)), SYNC_ONLY],
  nestedRevokedProxy: [() => ({ a: 1, p: revoked([]) }), (r) => assert.ok(r.a === 1 && unserializable(r.p), JSON.stringify(r))],
  hugeString: [() => 'x'.repeat(2_000_000), cut],
  manyKeys: [() => Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`key${i}`, i])), cut],
  deepNesting: [() => deep(100_000), (r) => assert.ok(JSON.stringify(r).includes('[Object: too deep]'))],
  functionValue: [() => function namedFn() {}, (r) => assert.equal(r, '[Function: namedFn]')],
  invalidDate: [() => new Date(Number.NaN), (r) => assert.equal(r, null)],
  nullPrototype: [() => Object.assign(Object.create(null), { a: 1 }), (r) => assert.deepEqual(r, { a: 1 })],
};

test('hostile values as metadata and as sync and async results: recorded, returned untouched, never thrown', async () => {
  const before = tracer.getCounters();
  // One invocation per value: a document holding them all would be cut to fit as a whole.
  for (const [name, [make, check, syncOnly]] of Object.entries(CASES)) {
    const value = make();
    class Methods {
      sync() {
        return value;
      }
    }
    Methods.prototype.async = syncOnly ? () => value : async () => value;
    decorate(Methods, 'sync', tracer.captureMethod());
    decorate(Methods, 'async', tracer.captureMethod());
    const methods = new Methods();
    const { result, docs, handler } = await traced(async () => {
      tracer.putMetadata(name, value);
      const later = methods.async();
      return [methods.sync(), syncOnly ? later : await later, value];
    });
    assert.ok(Object.is(result[0], value) && Object.is(result[1], value) && Object.is(result[2], value), `${name}: the caller gets its own value`);
    const recorded = (entity, key) => entity.metadata?.payment?.[key];
    check(recorded(handler, name));
    check(recorded(byName(docs, '### sync'), 'sync response'));
    check(recorded(byName(docs, '### async'), 'async response'));
    if (check === cut) assert.ok(JSON.stringify(docs).includes(TRUNCATED), `${name}: a visible marker`);
    else assert.ok(Array.isArray(recorded(handler, 'index.handler response')), `${name}: response recorded`);
  }
  assert.equal(tracer.getCounters().dropped, before.dropped);
  await cleanLogs();
});

test('side effects: getters and toJSON read at most twice, Proxy traps read-only, nothing written', async () => {
  const reads = { plainGetter: 0, plainToJson: 0, failingGetter: 0, failingToJson: 0 };
  const clean = {
    get counted() {
      reads.plainGetter++;
      return 1;
    },
    inner: { toJSON: () => (reads.plainToJson++, { x: 1 }) },
  };
  const failing = {
    get counted() {
      reads.failingGetter++;
      return 2;
    },
    inner: { toJSON: () => (reads.failingToJson++, 'ok') },
    big: 1n,
  };
  const traps = [];
  const recordingHandler = {};
  for (const trap of ['get', 'set', 'has', 'deleteProperty', 'ownKeys', 'getOwnPropertyDescriptor', 'defineProperty', 'getPrototypeOf', 'setPrototypeOf', 'isExtensible', 'preventExtensions', 'apply', 'construct']) {
    recordingHandler[trap] = (...args) => {
      traps.push(trap);
      return Reflect[trap](...args);
    };
  }
  // Both paths for the Proxy: one JSON.stringify can do, one it cannot (a cycle).
  const target = { a: 1, nested: { b: [1, 2] } };
  const cyclicTarget = { a: 1 };
  cyclicTarget.self = cyclicTarget;
  const proxies = [new Proxy(target, recordingHandler), new Proxy(cyclicTarget, recordingHandler)];
  const frozen = Object.freeze({ list: Object.freeze([1, Object.freeze({ k: 'v' })]), big: 3n });
  const { handler } = await traced(() => {
    tracer.putMetadata('clean', clean);
    tracer.putMetadata('failing', failing);
    tracer.putMetadata('proxy', proxies[0]);
    tracer.putMetadata('cyclicProxy', proxies[1]);
    tracer.putMetadata('frozen', frozen);
    return proxies[1];
  });
  const m = handler.metadata.payment;
  assert.deepEqual(m.clean, { counted: 1, inner: { x: 1 } });
  assert.deepEqual(m.failing, { counted: 2, inner: 'ok', big: '1' });
  assert.deepEqual(m.proxy, target);
  assert.deepEqual(m.cyclicProxy, { a: 1, self: { a: 1, self: '[Circular]' } });
  assert.deepEqual(m.frozen, { list: [1, { k: 'v' }], big: '3' });
  assert.equal(reads.plainGetter, 1, 'JSON.stringify succeeded: one read');
  assert.equal(reads.plainToJson, 1);
  assert.ok(reads.failingGetter >= 1 && reads.failingGetter <= 2, `failing path: ${reads.failingGetter} reads`);
  assert.ok(reads.failingToJson >= 1 && reads.failingToJson <= 2, `failing path: ${reads.failingToJson} toJSON calls`);
  const allowed = new Set(['get', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf']);
  assert.deepEqual([...new Set(traps)].filter((t) => !allowed.has(t)), [], `traps: ${[...new Set(traps)]}`);
  assert.deepEqual(target, { a: 1, nested: { b: [1, 2] } });
  assert.deepEqual(Object.keys(cyclicTarget), ['a', 'self']);
  await cleanLogs();
});

test('iterables and streams are not consumed: generators, Readable streams, fetch Response bodies', async () => {
  function* numbers() {
    yield 1;
    yield 2;
  }
  const gen = numbers();
  const stream = Readable.from(['a', 'b', 'c']);
  const response = new Response('body text', { status: 201 });
  const mapIterator = new Map([['k', 1]]).entries();
  class Producers {
    generator() {
      return gen;
    }

    async stream() {
      return stream;
    }

    response() {
      return response;
    }
  }
  for (const name of ['generator', 'stream', 'response']) decorate(Producers, name, tracer.captureMethod());
  const p = new Producers();
  const { result } = await traced(async () => {
    tracer.putMetadata('mapIterator', mapIterator);
    return [p.generator(), await p.stream(), p.response()];
  });
  assert.equal(result[0], gen);
  assert.deepEqual([...gen], [1, 2]);
  assert.equal(result[1], stream);
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.deepEqual(chunks, ['a', 'b', 'c']);
  assert.equal(response.bodyUsed, false);
  assert.equal(await response.text(), 'body text');
  assert.deepEqual([...mapIterator], [['k', 1]]);
  await cleanLogs();
});

/** An Error whose name, message and stack getters count their reads (and may throw). */
function countedError(reads, { throwing = false } = {}) {
  const err = new Error('plain');
  // `stack` first: redefining it after a throwing `name` would make V8 format it (and throw).
  for (const key of ['stack', 'name', 'message']) {
    Object.defineProperty(err, key, {
      get() {
        reads[key] = (reads[key] ?? 0) + 1;
        if (throwing) throw new Error(`${key} getter`);
        return key === 'stack' ? 'Error: counted\n    at counted (/app/counted.js:7:3)' : `counted ${key}`;
      },
    });
  }
  return err;
}

test('hostile errors thrown through traced methods and the handler: the same value reaches the caller', async () => {
  const reads = {};
  const throwingReads = {};
  const hugeStack = `Error: huge\n${'    at frame (/app/x.js:1:1)\n'.repeat(200_000)}`;
  const quadraticTrap = `Error: trap\n    at ${'a ('.repeat(50_000)}\n`;
  const thrown = {
    counted: countedError(reads),
    throwingGetters: countedError(throwingReads, { throwing: true }),
    nonStringName: Object.assign(new Error('n'), { name: 42, constructor: { name: { not: 'a string' } } }),
    nonStringMessage: Object.defineProperty(new Error('m'), 'message', { value: { toString() { throw new Error('toString'); } } }),
    hugeMessage: new Error('m'.repeat(1_000_000)),
    hugeStack: Object.defineProperty(new Error('s'), 'stack', { value: hugeStack }),
    quadraticStack: Object.defineProperty(new Error('q'), 'stack', { value: quadraticTrap }),
    selfCause: (() => {
      const e = new Error('cause loop');
      e.cause = e;
      return e;
    })(),
    aggregate: (() => {
      const a = new AggregateError([], 'agg');
      a.errors.push(a);
      return a;
    })(),
    revokedProxy: revoked(new Error('r')),
    proxyError: new Proxy(new Error('p'), everyTrap('error')),
    symbol: Symbol('thrown'),
    bigint: 12n,
    nothing: undefined,
    nullValue: null,
    fn: function thrownFunction() {},
  };
  class Throwers {}
  for (const name of Object.keys(thrown)) {
    Throwers.prototype[name] = async () => {
      throw thrown[name];
    };
    decorate(Throwers, name, tracer.captureMethod());
  }
  const t = new Throwers();
  const before = tracer.getCounters();
  const { result, docs } = await traced(async () => {
    const caught = {};
    for (const name of Object.keys(thrown)) {
      try {
        await t[name]();
        caught[name] = 'did not throw';
      } catch (e) {
        caught[name] = e;
      }
    }
    return Object.keys(caught).filter((name) => !Object.is(caught[name], thrown[name]));
  });
  assert.deepEqual(result, [], 'every caller caught exactly the value its method threw');
  for (const name of Object.keys(thrown)) {
    const sub = byName(docs, `### ${name}`);
    assert.equal(sub.fault, true, `${name}: fault`);
    assert.ok('end_time' in sub, `${name}: ended`);
    assert.equal(sub.cause?.exceptions?.length, 1, `${name}: one exception: ${JSON.stringify(sub).slice(0, 500)}`);
  }
  const ex = (name) => byName(docs, `### ${name}`).cause.exceptions[0];
  assert.deepEqual({ type: ex('counted').type, message: ex('counted').message }, { type: 'counted name', message: 'counted message' });
  assert.deepEqual(ex('counted').stack, [{ label: 'counted', path: '/app/counted.js', line: 7 }]);
  assert.deepEqual(reads, { name: 1, message: 1, stack: 1 }, 'each getter read once');
  assert.deepEqual(throwingReads, { name: 1, message: 1, stack: 1 });
  assert.equal(ex('nonStringName').type, undefined, 'a non-string name is not a type');
  assert.equal(ex('nonStringName').message, 'n');
  assert.equal(ex('hugeStack').stack.length, 100);
  // A 1 MB message is cut, with a visible marker; the exception keeps its type and stack.
  assert.ok(ex('hugeMessage').message.endsWith(TRUNCATED) && ex('hugeMessage').message.length < 10_000);
  assert.equal(ex('hugeMessage').type, 'Error');
  assert.ok(ex('hugeMessage').stack.length > 0);
  assert.equal(ex('symbol').message, 'Symbol(thrown)');
  assert.equal(ex('bigint').message, '12');
  assert.ok(tracer.getCounters().sent > before.sent);
  await cleanLogs();
});

test('hostile errors given to addErrorAsMetadata, addError and close: recorded or refused, never thrown', async () => {
  const odd = Object.assign(new Error('odd'), { name: 7, constructor: { name: 8 } });
  const { docs } = await traced(() => {
    const sub = tracer.getSegment().addNewSubsegment('### manual');
    tracer.setSegment(sub);
    tracer.addErrorAsMetadata(odd);
    tracer.addErrorAsMetadata(revoked());
    sub.addError(new Proxy({}, everyTrap('addError')));
    sub.close(odd);
    return 'done';
  });
  const manual = byName(docs, '### manual');
  assert.ok('end_time' in manual);
  // odd (recorded once, though given twice), the revoked Proxy, the Proxy with throwing traps.
  assert.equal(manual.cause?.exceptions?.length, 3, JSON.stringify(manual));
  assert.equal(manual.cause.exceptions[0].message, 'odd');
  assert.equal(manual.cause.exceptions[0].type, undefined, 'non-string names are not types');
  // setSegment() left the manual subsegment current: the handler subsegment still ends.
  const handler = byName(docs, '## index.handler');
  assert.ok('end_time' in handler && !handler.in_progress);
  await cleanLogs();
});

test('hostile names, segments and annotations: logged and counted, the invocation goes on', async () => {
  const before = tracer.getCounters().warnings;
  class Named {
    numberName() {
      return 1;
    }
  }
  decorate(Named, 'numberName', tracer.captureMethod({ subSegmentName: 42 }));
  const { result, docs } = await traced(async () => {
    const out = [];
    out.push(tracer.provider.captureFunc(revoked(), () => 'captureFunc ran'));
    out.push(await tracer.provider.captureAsyncFunc({ toString() { throw new Error('toString'); } }, async (s) => (s.close(), 'captureAsyncFunc ran')));
    const sub = tracer.getSegment().addNewSubsegment(Symbol('sym'));
    sub.close();
    tracer.setSegment(revoked());
    tracer.setSegment(new Proxy({}, everyTrap('segment')));
    tracer.putAnnotation('big', 1n);
    tracer.putAnnotation('sym', Symbol('v'));
    tracer.putAnnotation('proxy', revoked());
    tracer.putAnnotation(Symbol('key'), 1);
    tracer.putAnnotation(revoked(), 1);
    tracer.putAnnotation('k'.repeat(100_000), 'long key');
    tracer.putMetadata(revoked(), 1);
    tracer.putMetadata('k', 1, revoked());
    out.push(new Named().numberName());
    return out;
  });
  assert.deepEqual(result, ['captureFunc ran', 'captureAsyncFunc ran', 1]);
  const names = flatten(docs).map((e) => e.name);
  assert.equal(names.filter((n) => n === 'unnamed').length, 2, names.join(', '));
  assert.ok(names.includes('Symbolsym'), names.join(', '));
  assert.ok(names.includes('42'), names.join(', '));
  assert.ok(tracer.getCounters().warnings >= before + 9);
  const lines = await cleanLogs();
  assert.ok(lines.some((l) => l.includes('setSegment()')));
});

test('a custom logger that throws does not break tracing nor the caller', async () => {
  tracer.provider.setLogger({
    debug() {},
    info() {},
    warn() {
      throw new Error('logger down');
    },
    error() {
      throw new Error('logger down');
    },
  });
  try {
    const before = tracer.getCounters().warnings;
    const { result } = await traced(() => {
      tracer.putAnnotation('bad', {});
      return 'still here';
    });
    assert.equal(result, 'still here');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(tracer.getCounters().warnings > before);
  } finally {
    tracer.provider.setLogger(console);
  }
});
