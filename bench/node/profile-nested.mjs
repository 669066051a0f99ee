// One process running the bench's nested-10 invocation (a handler, 10 nested captureMethod
// calls each doing putAnnotation + putMetadata) INVOCATIONS times under a simulated Lambda
// environment, documents going to a UDP sink in this process. For profilers that count
// instructions (the per-invocation cost is the difference of two runs with different counts):
//   valgrind --tool=callgrind --separate-threads=yes node profile-nested.mjs 1200   (and 2200)
// (the `-01` output file is the JavaScript thread; the difference of the two runs / 1000 is the
// steady-state cost of one invocation, start-up and warm-up cancelled out). Two runs of the same
// code differ by up to ±10k instructions per invocation (when background compilation lands);
// `node --predictable` (compilation on the main thread, in a fixed order) makes them agree
// within a few instructions, which resolves changes of 1k: use it for before/after comparisons.
// Under --predictable, TurboFan still compiles functions (the tracer's, Node's promise hooks,
// this harness's) between the 1,200th and 2,200th invocation, on the main thread, and that
// compilation lands in the difference: the same traced build measured 350.7k instructions per
// invocation from 1200/2200 and 297.3k from 3200/6200 (the untraced chain: 86.5k and 64.1k),
// and a change that shifts when those compiles happen moves the 1200/2200 figure by several
// thousand. For the steady state take 3200 and 6200 (the difference / 3000): only two small
// compiles remain in that window.
//   valgrind --tool=callgrind --separate-threads=yes node --predictable profile-nested.mjs 3200   (and 6200)
//   node --cpu-prof profile-nested.mjs 20000
// TRACER_MODULE picks the tracer (default: this repository's oxray); PLAIN=1 runs the same
// chain undecorated and without tracer calls (the floor the tracer's cost adds to); SAMPLED=0
// makes every invocation unsampled (`Sampled=0` headers: nothing is recorded or sent).
import { nestedChain, traceHeader } from './nested-chain.mjs';

const INVOCATIONS = Number(process.argv[2] ?? 1000);
const { sink, tracer, chain } = await nestedChain();
let received = 0;
sink.on('message', () => received++);
const headers = Array.from({ length: INVOCATIONS }, () => traceHeader(process.env.SAMPLED === '0' ? 0 : 1));
for (let k = 0; k < INVOCATIONS; k++) {
  process.env._X_AMZN_TRACE_ID = headers[k];
  await chain.handler({}, {});
}
await new Promise((resolve) => setTimeout(resolve, 200));
sink.close();
// The loop never yields to the event loop, so the sink reads only what its socket buffer kept;
// `sent` is what the tracer sent (one datagram per invocation).
const sent = typeof tracer.getCounters === 'function' ? tracer.getCounters()?.sent : undefined;
process.stdout.write(`${JSON.stringify({ invocations: INVOCATIONS, sent, received })}\n`);
