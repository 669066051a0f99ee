// One benchmark worker: a fresh process under a simulated Lambda environment. The tracer
// module comes from TRACER_MODULE (a package name or file path); MODE picks the measurement.
// Prints one JSON line.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const MODE = process.env.MODE;
const N = Number(process.env.N ?? 5000);
const INVOCATIONS = Number(process.env.INVOCATIONS ?? 500);
// Nested mode: after its first measurements, invocations go on until this many have been made,
// then INVOCATIONS more are timed again (V8 has compiled everything by then).
const STEADY_AFTER = Number(process.env.STEADY_AFTER ?? 5000);
const now = () => Number(process.hrtime.bigint()) / 1000; // µs
// On-CPU time of this (main) thread in µs, from the scheduler's accounting: unlike wall time it
// leaves out time spent waiting for a CPU, so it stays meaningful on a loaded machine.
let schedstat = null;
// (The kernel updates it at least every scheduler tick, 4 ms here: use long windows.)
const threadCpu = () => {
  try {
    schedstat ??= `/proc/self/task/${process.pid}/schedstat`;
    return Number(readFileSync(schedstat, 'utf8').split(' ')[0]) / 1000;
  } catch {
    return NaN;
  }
};
/**
 * Time this (main) thread has spent runnable but waiting for a CPU, in µs (the second field of
 * its schedstat: exact, updated whenever the thread is switched in). NaN where the kernel
 * does not give it (the run-queue rows then read NaN, as the CPU-time rows do).
 */
const runQueueWait = () => {
  try {
    schedstat ??= `/proc/self/task/${process.pid}/schedstat`;
    return Number(readFileSync(schedstat, 'utf8').split(' ')[1]) / 1000;
  } catch {
    return NaN;
  }
};
const RUNQUEUE = process.env.RUNQUEUE === '1';
/**
 * GC_LOG=1 (nested mode, diagnostics): V8's collections during the timed invocations (kind as
 * in `PerformanceEntry.detail.kind`: 1 scavenge, 4 mark-compact, 8 incremental marking; and
 * milliseconds), printed to stderr; the figures are those of a normal run.
 */
const GC_LOG = process.env.GC_LOG === '1';
/**
 * EMIT_TURN=1 (nested mode): every invocation, traced and plain, ends one turn of the event loop
 * after its handler's promise settles, and is timed to there. Powertools sends its datagrams
 * from `process.nextTick` callbacks (Node's dgram looks the daemon's address up first), which
 * run only once the microtask queue is empty: in the default loop, whose awaits never leave
 * the microtask queue, none of them is sent until the whole loop ends, so its timed window
 * holds none of its sends. With the turn, each invocation's datagrams are sent inside its own
 * window. oxray sends before the handler's promise settles, so the turn only adds the turn.
 */
const EMIT_TURN = process.env.EMIT_TURN === '1';
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
/** One invocation of `target`'s handler (through the next turn under EMIT_TURN=1). */
const invoke = EMIT_TURN
  ? async (target) => {
      await target.handler({}, {});
      await nextTurn();
    }
  : (target) => target.handler({}, {});
/** CPU time of the whole process (every thread: sender, GC, compiler) in µs; exact. */
const processCpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const header = (sampled = 1) =>
  `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=${sampled}`;

/** Applies a legacy method decorator as TypeScript's __decorate does. */
function decorate(cls, name, decorator) {
  const d = Object.getOwnPropertyDescriptor(cls.prototype, name);
  Object.defineProperty(cls.prototype, name, decorator(cls.prototype, name, d) || d);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

class Plain {
  async noopAsync() {}
}

async function awaitLoop(obj, n = 200000) {
  for (let i = 0; i < 20000; i++) await obj.noopAsync();
  const t0 = now();
  for (let i = 0; i < n; i++) await obj.noopAsync();
  return (now() - t0) / n;
}

async function main() {
  if (MODE === 'await-bare') {
    // The tracer module is never loaded in this process.
    return { awaitUs: await awaitLoop(new Plain()) };
  }
  const { Tracer } = require(process.env.TRACER_MODULE);
  const tracer = new Tracer();
  // Documents the tracer says it sent and dropped (oxray only; Powertools has no counters).
  const counters = () => {
    const c = typeof tracer.getCounters === 'function' ? tracer.getCounters() : null;
    return c ? { sentByTracer: c.sent, droppedByTracer: c.dropped } : {};
  };

  class App {
    async handler() {
      return this.body();
    }

    async body() {}

    async noop() {}

    async plainNoop() {}
  }
  decorate(App, 'handler', tracer.captureLambdaHandler());
  decorate(App, 'noop', tracer.captureMethod());
  const app = new App();

  if (MODE === 'percall') {
    process.env._X_AMZN_TRACE_ID = header(process.env.SAMPLED === '0' ? 0 : 1);
    let traced = 0;
    let plain = 0;
    let tracedCpu = 0;
    let plainCpu = 0;
    let tracedProcessCpu = 0;
    let plainProcessCpu = 0;
    app.body = async function body() {
      for (let i = 0; i < 500; i++) await this.noop();
      for (let i = 0; i < 500; i++) await this.plainNoop();
      let t0 = now();
      let c0 = threadCpu();
      let p0 = processCpu();
      for (let i = 0; i < N; i++) await this.noop();
      traced = (now() - t0) / N;
      tracedCpu = (threadCpu() - c0) / N;
      tracedProcessCpu = (processCpu() - p0) / N;
      t0 = now();
      c0 = threadCpu();
      p0 = processCpu();
      for (let i = 0; i < N; i++) await this.plainNoop();
      plain = (now() - t0) / N;
      plainCpu = (threadCpu() - c0) / N;
      plainProcessCpu = (processCpu() - p0) / N;
    };
    await app.handler({}, {});
    return {
      tracedUs: traced,
      plainUs: plain,
      tracedCpuUs: tracedCpu,
      plainCpuUs: plainCpu,
      tracedProcessCpuUs: tracedProcessCpu,
      plainProcessCpuUs: plainProcessCpu,
      ...counters(),
    };
  }

  if (MODE === 'nested') {
    class Chain {
      constructor(traced) {
        this.traced = traced;
      }

      async handler() {
        return this.m1();
      }
    }
    for (let i = 1; i <= 10; i++) {
      Chain.prototype[`m${i}`] = async function step() {
        if (this.traced) {
          tracer.putAnnotation(`k${i}`, i);
          tracer.putMetadata(`m${i}`, { i, s: 'value' });
        }
        return i < 10 ? this[`m${i + 1}`]() : i;
      };
    }
    class Traced extends Chain {
      async handler() {
        return this.m1();
      }
    }
    for (let i = 1; i <= 10; i++) {
      Traced.prototype[`m${i}`] = Chain.prototype[`m${i}`];
      decorate(Traced, `m${i}`, tracer.captureMethod());
    }
    decorate(Traced, 'handler', tracer.captureLambdaHandler());
    const traced = new Traced(true);
    const plain = new Chain(false);
    const times = [];
    const plainTimes = [];
    // RUNQUEUE=1 (a separate run: the reads would disturb the others): how long the main thread
    // waited for a CPU during each timed invocation, from the kernel's scheduler accounting.
    const waits = RUNQUEUE ? [] : null;
    /** @type {{ kind: number, ms: number, at: number }[]} */
    const collections = [];
    const gcObserver = GC_LOG ? new PerformanceObserver((list) => collections.push(...list.getEntries().map((e) => ({ kind: e.detail?.kind, ms: e.duration, at: e.startTime })))) : null;
    gcObserver?.observe({ entryTypes: ['gc'] });
    let windowStart = 0;
    for (let k = 0; k < 100 + INVOCATIONS; k++) {
      if (k === 100) windowStart = performance.now();
      process.env._X_AMZN_TRACE_ID = header();
      const w0 = waits !== null ? runQueueWait() : 0;
      let t0 = now();
      await invoke(traced);
      const t = now() - t0;
      const w = waits !== null ? runQueueWait() - w0 : 0;
      t0 = now();
      await invoke(plain);
      const p = now() - t0;
      if (k >= 100) {
        times.push(t);
        plainTimes.push(p);
        waits?.push(w);
      }
    }
    if (gcObserver !== null) {
      const windowEnd = performance.now();
      // Entries arrive on a later turn of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 50));
      gcObserver.disconnect();
      const inWindow = collections.filter((c) => c.at >= windowStart && c.at <= windowEnd);
      process.stderr.write(`collections in the timed window: ${JSON.stringify(inWindow.map((c) => [c.kind, Number(c.ms.toFixed(2))]))}\n`);
    }
    if (waits !== null) {
      return {
        p99Us: pct(times, 0.99),
        p99OnCpuUs: pct(times.map((t, i) => t - waits[i]), 0.99),
        waitedCount: waits.some(Number.isNaN) ? NaN : waits.filter((w) => w >= 100).length,
        meanWaitUs: waits.reduce((a, b) => a + b, 0) / waits.length,
      };
    }
    // Mean CPU time per invocation (this thread, and the whole process), traced and plain,
    // over one more batch.
    const BATCH = 1000;
    const cpuPer = async (target) => {
      const c0 = threadCpu();
      const p0 = processCpu();
      for (let k = 0; k < BATCH; k++) {
        process.env._X_AMZN_TRACE_ID = header();
        await invoke(target);
      }
      return [(threadCpu() - c0) / BATCH, (processCpu() - p0) / BATCH];
    };
    const [cpuUs, processCpuUs] = await cpuPer(traced);
    const [plainCpuUs, plainProcessCpuUs] = await cpuPer(plain);
    const rssMiB = process.memoryUsage().rss / 2 ** 20;
    // Steady state: the same timing once STEADY_AFTER invocations have been made (the window
    // above is the first ones of a fresh process, while V8 still compiles and tiers up).
    for (let k = 100 + INVOCATIONS + BATCH; k < STEADY_AFTER; k++) {
      process.env._X_AMZN_TRACE_ID = header();
      await invoke(traced);
    }
    const steady = [];
    for (let k = 0; k < INVOCATIONS; k++) {
      process.env._X_AMZN_TRACE_ID = header();
      const t0 = now();
      await invoke(traced);
      steady.push(now() - t0);
      await invoke(plain);
    }
    return {
      steadyMedianUs: median(steady),
      steadyP99Us: pct(steady, 0.99),
      cpuUs,
      plainCpuUs,
      processCpuUs,
      plainProcessCpuUs,
      medianUs: median(times),
      p99Us: pct(times, 0.99),
      meanUs: times.reduce((a, b) => a + b, 0) / times.length,
      plainMedianUs: median(plainTimes),
      rssMiB,
      ...counters(),
    };
  }

  if (MODE === 'await') {
    // Tracer loaded and one traced invocation done; then plain awaits outside a handler — in
    // the same turn of the event loop as the invocation, and after the loop turned once (as it
    // does in Lambda between invocations, while the runtime sends the response) — and inside.
    process.env._X_AMZN_TRACE_ID = header();
    await app.handler({}, {});
    const sameTurn = await awaitLoop(new Plain());
    process.env._X_AMZN_TRACE_ID = header();
    await app.handler({}, {});
    await new Promise((resolve) => setImmediate(resolve));
    const outside = await awaitLoop(new Plain());
    let inside = 0;
    app.body = async () => {
      inside = await awaitLoop(new Plain());
    };
    process.env._X_AMZN_TRACE_ID = header();
    await app.handler({}, {});
    return { awaitUs: outside, awaitSameTurnUs: sameTurn, awaitInHandlerUs: inside };
  }
  throw new Error(`unknown MODE ${MODE}`);
}

const result = await main();
process.stdout.write(`${JSON.stringify(result)}\n`);
