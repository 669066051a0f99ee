// Bytes allocated on the JavaScript heap by one nested-10 invocation (the bench's handler with
// 10 nested captureMethod calls, each doing putAnnotation + putMetadata), in steady state.
// Young-generation garbage collections decide the bench's p99, and their number follows the
// bytes allocated per invocation; this counts them without a profiler:
//   node --expose-gc --min-semi-space-size=64 --max-semi-space-size=64 alloc-nested.mjs
// (a 64 MB young generation: no collection during a measured batch, so the growth of the used
// heap over the batch is what the batch allocated). TRACER_MODULE picks the tracer (default:
// this repository's oxray); PLAIN=1 runs the same chain undecorated and without tracer calls.
// Prints the bytes per invocation of two batches of 1,000, after 4,000 invocations of warm-up.
import v8 from 'node:v8';
import { nestedChain, traceHeader } from './nested-chain.mjs';

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc (see the header)');
const { sink, chain, plain } = await nestedChain();

const WARM_UP = 4000;
const BATCH = 1000;
// Headers are made up front: their strings are not counted.
const headers = Array.from({ length: WARM_UP + 2 * BATCH }, () => traceHeader());
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
