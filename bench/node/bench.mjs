// oxray vs @aws-lambda-powertools/tracer 2.x in one run: fresh worker processes under a
// simulated Lambda environment, both emitting to one UDP sink here. Prints a table of the
// issue's metrics with ratios and writes results.json. The nested-10 rows time invocations
// 101-600 of a fresh process (V8 still compiling: the figures) and, in the same
// processes, 500 more after 5,000 (steady state). The "through emission" rows time each
// invocation until one turn of the event loop after it, so that sends a tracer makes after its
// handler's promise settles (all of Powertools') are timed too; their "daemon not waiting"
// variant sends to a socket nobody reads (see `deaf` below).
//   node bench.mjs [--runs 3] [--cold-runs 15] [--n 5000] [--invocations 500]
// On a shared machine, run it under `nice -n -15` (as root) to keep other work from deciding
// the wall-clock figures; main-thread CPU figures are less sensitive to load.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { warnIfStaleAddon } from './stale-addon.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 3);
const COLD_RUNS = arg('cold-runs', 15);
const N = arg('n', 5000);
const INVOCATIONS = arg('invocations', 500);

// OXRAY_NODE_DIR: another built copy of the node/ package (e.g. an older commit), to compare.
const oxrayDir = process.env.OXRAY_NODE_DIR ? path.resolve(process.env.OXRAY_NODE_DIR) : path.resolve(here, '../../node');
warnIfStaleAddon(oxrayDir);
// OXRAY_BASELINE_DIR: a second built copy measured in the same run (per-call, nested and await
// rows; not cold start), right after the others, for before/after tables of one run.
const baselineDir = process.env.OXRAY_BASELINE_DIR ? path.resolve(process.env.OXRAY_BASELINE_DIR) : null;
const IMPLS = {
  powertools: { cjs: require.resolve('@aws-lambda-powertools/tracer'), esm: '@aws-lambda-powertools/tracer' },
  oxray: { cjs: path.join(oxrayDir, 'lib/index.js'), esm: path.join(oxrayDir, 'lib/index.mjs') },
  ...(baselineDir ? { baseline: { cjs: path.join(baselineDir, 'lib/index.js'), esm: path.join(baselineDir, 'lib/index.mjs') } } : {}),
};

const sink = dgram.createSocket('udp4');
let received = 0;
sink.on('message', () => received++);
await new Promise((r) => sink.bind(0, '127.0.0.1', r));
sink.setRecvBufferSize(4 * 1024 * 1024);
/**
 * A stand-in daemon that never reads: a worker thread binds a UDP socket and then blocks in
 * `Atomics.wait`, so its event loop never runs. A datagram sent to it is queued, or dropped
 * once the socket's buffer is full, and wakes nobody. On this VM waking a sleeping receiver
 * costs the sender 15-20 µs (an interrupt to an idle virtual CPU), which a tracer that sends
 * before its handler returns pays inside the invocation: sending here takes that cost out.
 */
const deafCode = `
const { parentPort } = require('node:worker_threads');
const socket = require('node:dgram').createSocket('udp4');
socket.bind(0, '127.0.0.1', () => {
  parentPort.postMessage(socket.address().port);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});`;
const deaf = new Worker(deafCode, { eval: true });
// Never what keeps this process alive (the bench exits even if it fails before terminate()).
deaf.unref();
const [deafPort] = await once(deaf, 'message');
const deafDaemon = { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${deafPort}` };
const lambdaEnv = {
  LAMBDA_TASK_ROOT: here,
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
  _HANDLER: 'index.handler',
  POWERTOOLS_SERVICE_NAME: 'bench',
  AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${sink.address().port}`,
};

function run(script, env) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [path.join(here, script)], { env: { ...process.env, ...lambdaEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`${script} ${JSON.stringify(env)} exited ${code}: ${err}`));
      const line = out.trim().split('\n').pop();
      resolve({ ...JSON.parse(line || '{}'), wallMs });
    });
  });
}

function bare() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).on('close', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const med = (rows, key) => (rows[0][key] === undefined ? undefined : median(rows.map((r) => r[key])));
/** The median over `rows` of each of `keys`, as an object keyed the same. */
const medians = (rows, keys) => Object.fromEntries(keys.map((key) => [key, med(rows, key)]));
const sum = (rows, key) => (rows[0][key] === undefined ? undefined : rows.reduce((a, r) => a + r[key], 0));
async function repeat(times, fn) {
  const rows = [];
  for (let i = 0; i < times; i++) rows.push(await fn());
  return rows;
}

const results = { node: process.version, runs: RUNS, coldRuns: COLD_RUNS, n: N, invocations: INVOCATIONS };
const settle = () => new Promise((r) => setTimeout(r, 300));

// Cold start and RSS (alternating, fresh processes).
const cold = { bare: [], bareProbe: [], bareEsmProbe: [], powertools: [], powertoolsEsm: [], oxray: [], oxrayEsm: [] };
for (let i = 0; i < COLD_RUNS; i++) {
  cold.bare.push({ wallMs: await bare() });
  cold.bareProbe.push(await run('cold.cjs', {}));
  cold.bareEsmProbe.push(await run('cold.cjs', { COLD_ESM: '1' }));
  for (const impl of ['powertools', 'oxray']) {
    cold[impl].push(await run('cold.cjs', { TRACER_MODULE: IMPLS[impl].cjs }));
    cold[`${impl}Esm`].push(await run('cold.cjs', { TRACER_MODULE: IMPLS[impl].cjs, TRACER_MODULE_ESM: IMPLS[impl].esm, COLD_ESM: '1' }));
  }
}
results.cold = Object.fromEntries(Object.entries(cold).map(([k, rows]) => [k, { wallMs: med(rows, 'wallMs'), readyMs: rows[0].readyMs === undefined ? undefined : med(rows, 'readyMs'), rssMiB: rows[0].rssMiB === undefined ? undefined : med(rows, 'rssMiB') }]));

for (const impl of Object.keys(IMPLS)) {
  const module = IMPLS[impl].cjs;
  const r = (results[impl] = {});
  for (const [label, env] of [['sampled', {}], ['unsampled', { SAMPLED: '0' }], ['disabled', { POWERTOOLS_TRACE_ENABLED: 'false' }]]) {
    received = 0;
    const rows = await repeat(RUNS, () => run('worker.mjs', { MODE: 'percall', TRACER_MODULE: module, N: String(N), ...env }));
    await settle();
    r[label] = {
      tracedUs: med(rows, 'tracedUs'),
      plainUs: med(rows, 'plainUs'),
      tracedCpuUs: med(rows, 'tracedCpuUs'),
      plainCpuUs: med(rows, 'plainCpuUs'),
      tracedProcessCpuUs: med(rows, 'tracedProcessCpuUs'),
      plainProcessCpuUs: med(rows, 'plainProcessCpuUs'),
      datagrams: received,
      sentByTracer: sum(rows, 'sentByTracer'),
      droppedByTracer: sum(rows, 'droppedByTracer'),
    };
  }
  received = 0;
  const nested = await repeat(RUNS, () => run('worker.mjs', { MODE: 'nested', TRACER_MODULE: module, INVOCATIONS: String(INVOCATIONS) }));
  await settle();
  r.nested = {
    medianUs: med(nested, 'medianUs'),
    p99Us: med(nested, 'p99Us'),
    meanUs: med(nested, 'meanUs'),
    cpuUs: med(nested, 'cpuUs'),
    plainCpuUs: med(nested, 'plainCpuUs'),
    processCpuUs: med(nested, 'processCpuUs'),
    plainProcessCpuUs: med(nested, 'plainProcessCpuUs'),
    plainMedianUs: med(nested, 'plainMedianUs'),
    steadyMedianUs: med(nested, 'steadyMedianUs'),
    steadyP99Us: med(nested, 'steadyP99Us'),
    rssMiB: med(nested, 'rssMiB'),
    datagrams: received,
    sentByTracer: sum(nested, 'sentByTracer'),
  };
  // The same window again, with the main thread's run-queue waits read around each invocation:
  // how much of the p99 was the thread waiting for a CPU (other threads and processes).
  const queued = await repeat(RUNS, () => run('worker.mjs', { MODE: 'nested', RUNQUEUE: '1', TRACER_MODULE: module, INVOCATIONS: String(INVOCATIONS) }));
  await settle();
  r.runQueue = medians(queued, ['p99Us', 'p99OnCpuUs', 'waitedCount', 'meanWaitUs']);
  // Through emission: each invocation timed until one turn of the event loop after it
  // (worker.mjs EMIT_TURN), so every tracer's sends fall in its window; then the same with the
  // daemon stand-in that never reads (no wake-up to pay for a send).
  received = 0;
  const turn = await repeat(RUNS, () => run('worker.mjs', { MODE: 'nested', EMIT_TURN: '1', TRACER_MODULE: module, INVOCATIONS: String(INVOCATIONS) }));
  await settle();
  const turnKeys = ['medianUs', 'p99Us', 'plainMedianUs', 'steadyMedianUs', 'steadyP99Us'];
  r.nestedTurn = { ...medians(turn, turnKeys), datagrams: received };
  const deafTurn = await repeat(RUNS, () => run('worker.mjs', { MODE: 'nested', EMIT_TURN: '1', TRACER_MODULE: module, INVOCATIONS: String(INVOCATIONS), ...deafDaemon }));
  r.nestedTurnDeaf = medians(deafTurn, turnKeys);
  const awaits = await repeat(RUNS, () => run('worker.mjs', { MODE: 'await', TRACER_MODULE: module }));
  r.await = medians(awaits, ['awaitUs', 'awaitSameTurnUs', 'awaitInHandlerUs']);
}
const bareAwait = await repeat(RUNS, () => run('worker.mjs', { MODE: 'await-bare' }));
results.bareAwaitUs = med(bareAwait, 'awaitUs');
sink.close();
await deaf.terminate();
writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

// ---- report ----
const f = (x, d = 2) => (x === undefined ? '-' : x.toFixed(d));
const P = results.powertools;
const O = results.oxray;
const c = results.cold;
const rows = [
  ['sampled captureMethod call, added µs (traced − plain, wall)', P.sampled.tracedUs - P.sampled.plainUs, O.sampled.tracedUs - O.sampled.plainUs],
  ['sampled captureMethod call, added µs of main-thread CPU', P.sampled.tracedCpuUs - P.sampled.plainCpuUs, O.sampled.tracedCpuUs - O.sampled.plainCpuUs],
  ['sampled captureMethod call, added µs of process CPU (all threads)', P.sampled.tracedProcessCpuUs - P.sampled.plainProcessCpuUs, O.sampled.tracedProcessCpuUs - O.sampled.plainProcessCpuUs],
  ['sampled call µs (traced, wall)', P.sampled.tracedUs, O.sampled.tracedUs],
  ['unsampled call µs', P.unsampled.tracedUs, O.unsampled.tracedUs],
  ['disabled call µs', P.disabled.tracedUs, O.disabled.tracedUs],
  ['nested-10 invocation, median µs', P.nested.medianUs, O.nested.medianUs],
  ['nested-10 invocation, p99 µs', P.nested.p99Us, O.nested.p99Us],
  ['nested-10 invocation, mean µs of main-thread CPU (traced − plain)', P.nested.cpuUs - P.nested.plainCpuUs, O.nested.cpuUs - O.nested.plainCpuUs],
  ['nested-10, run-queue run: p99 µs (wall)', P.runQueue.p99Us, O.runQueue.p99Us],
  ['nested-10, run-queue run: p99 µs less the time the main thread waited for a CPU', P.runQueue.p99OnCpuUs, O.runQueue.p99OnCpuUs],
  [`nested-10, run-queue run: timed invocations that waited ≥ 0.1 ms for a CPU (of ${INVOCATIONS})`, P.runQueue.waitedCount, O.runQueue.waitedCount],
  ['nested-10, run-queue run: mean µs waited for a CPU per invocation', P.runQueue.meanWaitUs, O.runQueue.meanWaitUs],
  ['nested-10 invocation after 5,000 (steady state), median µs', P.nested.steadyMedianUs, O.nested.steadyMedianUs],
  ['nested-10 invocation after 5,000 (steady state), p99 µs', P.nested.steadyP99Us, O.nested.steadyP99Us],
  ['nested-10 invocation, mean µs of process CPU (traced − plain)', P.nested.processCpuUs - P.nested.plainProcessCpuUs, O.nested.processCpuUs - O.nested.plainProcessCpuUs],
  ['nested-10 through emission (timed to the next event-loop turn), median µs', P.nestedTurn.medianUs, O.nestedTurn.medianUs],
  ['nested-10 through emission, p99 µs', P.nestedTurn.p99Us, O.nestedTurn.p99Us],
  ['nested-10 through emission, steady state, median µs', P.nestedTurn.steadyMedianUs, O.nestedTurn.steadyMedianUs],
  ['nested-10 through emission, steady state, p99 µs', P.nestedTurn.steadyP99Us, O.nestedTurn.steadyP99Us],
  ['nested-10 through emission, untraced chain (same turn), median µs', P.nestedTurn.plainMedianUs, O.nestedTurn.plainMedianUs],
  ['nested-10 through emission, daemon not waiting (no wake-up), median µs', P.nestedTurnDeaf.medianUs, O.nestedTurnDeaf.medianUs],
  ['nested-10 through emission, daemon not waiting, p99 µs', P.nestedTurnDeaf.p99Us, O.nestedTurnDeaf.p99Us],
  ['nested-10 through emission, daemon not waiting, steady state, median µs', P.nestedTurnDeaf.steadyMedianUs, O.nestedTurnDeaf.steadyMedianUs],
  ['nested-10 through emission, daemon not waiting, steady state, p99 µs', P.nestedTurnDeaf.steadyP99Us, O.nestedTurnDeaf.steadyP99Us],
  ['plain await µs, tracer loaded, next event-loop turn after an invocation', P.await.awaitUs, O.await.awaitUs],
  ['plain await µs, tracer loaded, same turn as the invocation', P.await.awaitSameTurnUs, O.await.awaitSameTurnUs],
  ['plain await µs, inside a traced handler', P.await.awaitInHandlerUs, O.await.awaitInHandlerUs],
  ['cold start: require + new Tracer(), wall ms', c.powertools.wallMs, c.oxray.wallMs],
  ['cold start: import + new Tracer(), wall ms', c.powertoolsEsm.wallMs, c.oxrayEsm.wallMs],
  ['cold start added vs bare probe (CJS), ms', c.powertools.readyMs - c.bareProbe.readyMs, c.oxray.readyMs - c.bareProbe.readyMs],
  ['cold start added vs bare ESM probe (ESM), ms', c.powertoolsEsm.readyMs - c.bareEsmProbe.readyMs, c.oxrayEsm.readyMs - c.bareEsmProbe.readyMs],
  ['cold start added vs bare CJS probe (ESM, loader start-up included), ms', c.powertoolsEsm.readyMs - c.bareProbe.readyMs, c.oxrayEsm.readyMs - c.bareProbe.readyMs],
  ['RSS added after load (CJS), MiB', c.powertools.rssMiB - c.bareProbe.rssMiB, c.oxray.rssMiB - c.bareProbe.rssMiB],
  ['RSS at the end of the nested run (1,600 traced invocations), MiB', P.nested.rssMiB, O.nested.rssMiB],
];
console.log(`\nnode ${process.version}; ${RUNS} processes per metric (medians), cold start ${COLD_RUNS} processes; bare \`node -e 0\` ${f(c.bare.wallMs, 1)} ms; plain await without any tracer ${f(results.bareAwaitUs, 3)} µs\n`);
console.log('| metric | Powertools | oxray | Powertools / oxray |');
console.log('|---|---|---|---|');
for (const [name, p, o] of rows) console.log(`| ${name} | ${f(p)} | ${f(o)} | ${o > 0 ? f(p / o, 1) + '×' : '-'} |`);
const tax = (x) => f(x / results.bareAwaitUs, 1);
console.log(`\nplain await, tracer loaded / not loaded: Powertools ${tax(P.await.awaitUs)}×, oxray ${tax(O.await.awaitUs)}× (same turn as the invocation: Powertools ${tax(P.await.awaitSameTurnUs)}×, oxray ${tax(O.await.awaitSameTurnUs)}×; inside a traced handler: Powertools ${tax(P.await.awaitInHandlerUs)}×, oxray ${tax(O.await.awaitInHandlerUs)}×)`);
if (results.baseline) {
  // The same rows for the baseline copy, measured in this run.
  const B = results.baseline;
  const same = [
    ['sampled captureMethod call, added µs (traced − plain, wall)', (r) => r.sampled.tracedUs - r.sampled.plainUs],
    ['sampled captureMethod call, added µs of main-thread CPU', (r) => r.sampled.tracedCpuUs - r.sampled.plainCpuUs],
    ['sampled captureMethod call, added µs of process CPU (all threads)', (r) => r.sampled.tracedProcessCpuUs - r.sampled.plainProcessCpuUs],
    ['unsampled call µs', (r) => r.unsampled.tracedUs],
    ['disabled call µs', (r) => r.disabled.tracedUs],
    ['nested-10 invocation, median µs', (r) => r.nested.medianUs],
    ['nested-10 invocation, p99 µs', (r) => r.nested.p99Us],
    ['nested-10 invocation, mean µs of main-thread CPU (traced − plain)', (r) => r.nested.cpuUs - r.nested.plainCpuUs],
    ['nested-10 invocation, mean µs of process CPU (traced − plain)', (r) => r.nested.processCpuUs - r.nested.plainProcessCpuUs],
    ['nested-10 invocation after 5,000 (steady state), median µs', (r) => r.nested.steadyMedianUs],
    ['nested-10 invocation after 5,000 (steady state), p99 µs', (r) => r.nested.steadyP99Us],
    ['plain await µs, inside a traced handler', (r) => r.await.awaitInHandlerUs],
  ];
  console.log(`\nSame run, baseline copy (${path.basename(baselineDir)}) vs this copy:\n`);
  console.log('| metric | Powertools | oxray baseline | oxray | Powertools / baseline | Powertools / oxray |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, get] of same) {
    const [p, b, o] = [get(P), get(B), get(O)];
    console.log(`| ${name} | ${f(p)} | ${f(b)} | ${f(o)} | ${b > 0 ? f(p / b, 1) + '×' : '-'} | ${o > 0 ? f(p / o, 1) + '×' : '-'} |`);
  }
}
console.log(`datagrams received by the sink: Powertools sampled ${P.sampled.datagrams}, nested ${P.nested.datagrams}; oxray sampled ${O.sampled.datagrams} (the tracer counted ${O.sampled.sentByTracer} sent, ${O.sampled.droppedByTracer} dropped), nested ${O.nested.datagrams} (${O.nested.sentByTracer} sent); through emission: Powertools ${P.nestedTurn.datagrams}, oxray ${O.nestedTurn.datagrams}`);
