// Bytes allocated on the JavaScript heap by one nested-10 invocation (the bench's handler with
// 10 nested captureMethod calls, each doing putAnnotation + putMetadata), in steady state.
// Young-generation garbage collections decide the bench's p99, and their number follows the
// bytes allocated per invocation; this counts them without a profiler:
//   node --expose-gc --min-semi-space-size=64 --max-semi-space-size=64 alloc-nested.mjs
// (a 64 MB young generation: no collection during a measured batch, so the growth of the used
// heap over the batch is what the batch allocated). TRACER_MODULE picks the tracer (default:
// this repository's oxray); PLAIN=1 runs the same chain undecorated and without tracer calls.
// Prints the bytes per invocation of two batches of 1,000, after 4,000 invocations of warm-up.
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import v8 from 'node:v8';

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc (see the header)');
const require = createRequire(import.meta.url);
const sink = dgram.createSocket('udp4');
await new Promise((resolve) => sink.bind(0, '127.0.0.1', resolve));
Object.assign(process.env, {
  LAMBDA_TASK_ROOT: '/var/task',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  _HANDLER: 'index.handler',
  POWERTOOLS_SERVICE_NAME: 'bench',
  AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${sink.address().port}`,
});
const { Tracer } = require(process.env.TRACER_MODULE ?? new URL('../../node/lib/index.js', import.meta.url).pathname);
const tracer = new Tracer();

/** Applies a legacy method decorator as TypeScript's __decorate does. */
function decorate(cls, name, decorator) {
  const d = Object.getOwnPropertyDescriptor(cls.prototype, name);
  Object.defineProperty(cls.prototype, name, decorator(cls.prototype, name, d) || d);
}

const plain = process.env.PLAIN === '1';
class Chain {
  async handler() {
    return this.m1();
  }
}
for (let i = 1; i <= 10; i++) {
  Chain.prototype[`m${i}`] = async function step() {
    if (!plain) {
      tracer.putAnnotation(`k${i}`, i);
      tracer.putMetadata(`m${i}`, { i, s: 'value' });
    }
    return i < 10 ? this[`m${i + 1}`]() : i;
  };
  if (!plain) decorate(Chain, `m${i}`, tracer.captureMethod());
}
if (!plain) decorate(Chain, 'handler', tracer.captureLambdaHandler());
const chain = new Chain();

const WARM_UP = 4000;
const BATCH = 1000;
// Headers are made up front: their strings are not counted.
const headers = Array.from({ length: WARM_UP + 2 * BATCH }, () => `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=1`);
let k = 0;
const invoke = async (n) => {
  for (const end = k + n; k < end; k++) {
    process.env._X_AMZN_TRACE_ID = headers[k];
    await chain.handler({}, {});
  }
};
const used = () => v8.getHeapStatistics().used_heap_size;
await invoke(WARM_UP);
const perInvocation = [];
for (let b = 0; b < 2; b++) {
  globalThis.gc();
  const before = used();
  await invoke(BATCH);
  perInvocation.push(Math.round((used() - before) / BATCH));
}
sink.close();
process.stdout.write(`${JSON.stringify({ plain, bytesPerInvocation: perInvocation })}\n`);
