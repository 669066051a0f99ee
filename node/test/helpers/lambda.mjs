// Simulated Lambda: environment, a UDP "daemon" on 127.0.0.1, fake contexts, and the trace
// tree reassembled from the datagrams. Import this (and await setupLambda) BEFORE oxray.
import dgram from 'node:dgram';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { validateDocument } from './validate.mjs';

const FRAME = '{"format":"json","version":1}\n';

export class UdpSink {
  constructor() {
    this.socket = dgram.createSocket('udp4');
    /** @type {object[]} */
    this.docs = [];
    /** @type {(() => void)[]} */
    this.waiters = [];
    /** @type {string[]} validation failures, reported by take()/none() */
    this.invalid = [];
    this.socket.on('message', (msg) => {
      try {
        const text = msg.toString('utf8');
        assert.ok(text.startsWith(FRAME), `datagram frame: ${text.slice(0, 40)}`);
        const raw = text.slice(FRAME.length);
        const doc = JSON.parse(raw);
        validateDocument(doc, raw);
        this.docs.push(doc);
      } catch (err) {
        this.invalid.push(String(err?.message ?? err));
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  async start() {
    await new Promise((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.socket.unref();
    try {
      this.socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // Capped by the system: bursts may then be dropped by the kernel.
    }
    return `127.0.0.1:${this.socket.address().port}`;
  }

  /** Waits until at least `n` documents arrived (fails after a generous guard). */
  async waitFor(n, guardMs = 5000) {
    const deadline = Date.now() + guardMs;
    while (this.docs.length < n) {
      if (Date.now() > deadline) assert.fail(`expected ${n} documents, got ${this.docs.length}: ${JSON.stringify(this.docs).slice(0, 1500)}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** Takes exactly `n` documents (waiting for them), then checks no more arrive soon. */
  async take(n) {
    await this.waitFor(n);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const docs = this.docs.splice(0);
    assert.deepEqual(this.invalid.splice(0), [], 'every datagram is a valid document');
    assert.equal(docs.length, n, `documents: ${JSON.stringify(docs).slice(0, 3000)}`);
    return docs;
  }

  /** Asserts nothing arrives (a round trip through the socket proves the sink is live). */
  async none() {
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(this.invalid.splice(0), [], 'every datagram is a valid document');
    assert.deepEqual(this.docs.splice(0), []);
  }
}

/** Sets the Lambda environment and starts the sink. */
export async function setupLambda(extra = {}) {
  const sink = new UdpSink();
  const address = await sink.start();
  Object.assign(process.env, {
    LAMBDA_TASK_ROOT: '/var/task',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    AWS_LAMBDA_FUNCTION_NAME: 'payment-fn',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    _HANDLER: 'index.handler',
    POWERTOOLS_SERVICE_NAME: 'payment',
    AWS_XRAY_DAEMON_ADDRESS: address,
    ...extra,
  });
  return sink;
}

export function newTraceHeader(sampled = 1) {
  const root = `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  const parent = randomBytes(8).toString('hex');
  return { root, parent, header: `Root=${root};Parent=${parent};Sampled=${sampled}` };
}

export function fakeContext(requestId = randomBytes(8).toString('hex')) {
  return {
    awsRequestId: requestId,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    getRemainingTimeInMillis: () => 30000,
  };
}

/** Sets `_X_AMZN_TRACE_ID` as the runtime does, then calls `fn` (the invocation). */
export async function invoke(fn, sampled = 1) {
  const t = newTraceHeader(sampled);
  process.env._X_AMZN_TRACE_ID = t.header;
  return { ...t, result: await fn(t) };
}

/** Applies a legacy (experimentalDecorators) method decorator as TypeScript's __decorate does. */
export function decorate(cls, method, decorator) {
  const proto = cls.prototype;
  const desc = Object.getOwnPropertyDescriptor(proto, method);
  const out = decorator(proto, method, desc) || desc;
  Object.defineProperty(proto, method, out);
}

/** Every entity of the documents, flattened, with its document's trace id. */
export function flatten(docs) {
  const out = [];
  const walk = (e, traceId, parentId) => {
    out.push({ ...e, trace_id: e.trace_id ?? traceId, parent_id: e.parent_id ?? parentId });
    for (const c of e.subsegments ?? []) walk(c, e.trace_id ?? traceId, e.id);
  };
  for (const d of docs) walk(d, d.trace_id, d.parent_id);
  return out;
}

/** The entity named `name` (exactly one). */
export function byName(docs, name) {
  const found = flatten(docs).filter((e) => e.name === name);
  assert.equal(found.length, 1, `one entity named ${name}, got ${found.length}`);
  return found[0];
}
