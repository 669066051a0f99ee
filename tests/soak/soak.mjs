// Node soak driver: traces as fast as it can for OXRAY_SOAK_SECONDS (default 60), sending to
// the listener at AWS_XRAY_DAEMON_ADDRESS, with the package built in the repository's node/.
//
// Lambda managed instances: 8 async tasks in the main thread and 4 in each of 2 worker
// threads run overlapping invocations, each with a fresh `Sampled=1` trace header kept in the
// real @aws/lambda-invoke-store (as the runtime does with AWS_LAMBDA_MAX_CONCURRENCY). An
// invocation is a provider subsegment (`captureAsyncFunc`) holding a traced sync method
// (annotation, metadata, response), a traced async method and, inside that, a `captureFunc`
// that throws once in 50 invocations (caught by the application, recorded as a fault): four
// entities, every name starting with `soak-<tag>`.
//
// At exit prints exactly one stdout line: `SOAK {"tag", "completed_entities", "counters",
// "rss_kb", "errors"}`: entities ended (main thread and workers), the recorders' counters
// summed over the threads after a final flush, one RSS sample per second (VmRSS of the whole
// process) and the number of exceptions the driver did not expect. Progress goes to stderr.
//
//   AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:<port> OXRAY_SOAK_SECONDS=60 node tests/soak/soak.mjs
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import v8 from 'node:v8';

// V8 doubles an isolate's young generation as the allocation rate stays high, for the first
// ~30 s here (heap after GC flat at ~5 MB per thread, RSS +50 MB meanwhile), which would read
// as growth after warm-up. Pinned at its start size, RSS shows what tracing keeps.
v8.setFlagsFromString('--semi-space-growth-factor=1');

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.OXRAY_NODE_DIR ?? path.resolve(here, '..', '..', 'node');
const SECONDS = Number(process.env.OXRAY_SOAK_SECONDS ?? '60');
const TAG = process.env.OXRAY_SOAK_TAG || 'node';
const PREFIX = `soak-${TAG}`;
const MAIN_TASKS = 8;
const WORKERS = 2;
const WORKER_TASKS = 4;
/** Entities each invocation ends: the invocation and its three subsegments. */
const ENTITIES_PER_INVOCATION = 4;
const FAIL_EVERY = 50;
/** Longest wait for the sender threads at the end. */
const FLUSH_MS = 30_000;

class Deliberate extends Error {}

function newHeader() {
  const root = `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  return `Root=${root};Parent=${randomBytes(8).toString('hex')};Sampled=1`;
}

/** Applies a legacy method decorator as TypeScript's __decorate does. */
function decorate(cls, method, decorator) {
  const desc = Object.getOwnPropertyDescriptor(cls.prototype, method);
  Object.defineProperty(cls.prototype, method, decorator(cls.prototype, method, desc) || desc);
}

/** The simulated Lambda managed instance (set before oxray loads; workers inherit it). */
function lambdaEnvironment() {
  Object.assign(process.env, {
    LAMBDA_TASK_ROOT: '/var/task',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    AWS_LAMBDA_FUNCTION_NAME: PREFIX,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_MAX_CONCURRENCY: String(MAIN_TASKS),
    POWERTOOLS_SERVICE_NAME: PREFIX,
    _HANDLER: `${PREFIX}.handler`,
  });
}

/** The package, its raw addon and the invoke store, from the repository's node/. */
async function load() {
  const requireFromNode = createRequire(path.join(nodeDir, 'package.json'));
  const { Tracer } = await import(pathToFileURL(path.join(nodeDir, 'lib', 'index.mjs')).href);
  const native = requireFromNode(path.join(nodeDir, 'binding.js'));
  const { InvokeStore } = await import(pathToFileURL(requireFromNode.resolve('@aws/lambda-invoke-store')).href);
  const store = await InvokeStore.getInstanceAsync(true);
  const xRayKey = InvokeStore.PROTECTED_KEYS?.X_RAY_TRACE_ID ?? Symbol.for('_AWS_LAMBDA_X_RAY_TRACE_ID');
  return { Tracer, native, store, xRayKey };
}

/** The application: one invocation is four entities. */
function makeApp(tracer) {
  class App {
    invocation(n, task) {
      return tracer.provider.captureAsyncFunc(`${PREFIX}-invocation`, async (sub) => {
        try {
          sub.addAnnotation('task', task);
          const priced = this.price(n);
          const stock = await this.load(n);
          return { n, total: priced.total, stock };
        } finally {
          sub.close();
        }
      });
    }

    price(n) {
      tracer.putAnnotation('request', n);
      tracer.putMetadata('order', { n, lines: [n % 3, n % 5], note: 'soak' });
      return { n, total: n * 3 + 1 };
    }

    async load(n) {
      await new Promise((resolve) => setImmediate(resolve));
      try {
        return tracer.provider.captureFunc(`${PREFIX}-query`, (s) => {
          s.addAnnotation('shard', n % 4);
          if (n % FAIL_EVERY === 0) throw new Deliberate(`request ${n} fails on purpose`);
          return n % 7;
        });
      } catch (err) {
        if (err instanceof Deliberate) return null;
        throw err;
      }
    }
  }
  decorate(App, 'price', tracer.captureMethod({ subSegmentName: `${PREFIX}-price` }));
  decorate(App, 'load', tracer.captureMethod({ subSegmentName: `${PREFIX}-load` }));
  return new App();
}

/**
 * Runs `tasks` overlapping invocation loops in this thread until `deadline`; flushes; returns
 * what this thread did.
 */
async function traceUntil(deadline, tasks, label) {
  const { Tracer, native, store, xRayKey } = await load();
  const tracer = new Tracer();
  // stdout carries only the SOAK line: every oxray message (debug and info too) to stderr.
  const toStderr = (/** @type {string} */ m) => process.stderr.write(`${m}\n`);
  tracer.provider.setLogger({ debug: toStderr, info: toStderr, warn: toStderr, error: toStderr });
  const app = makeApp(tracer);
  const stats = { completed: 0, errors: 0, firstError: '' };
  const loop = async (task) => {
    for (let n = 1; Date.now() < deadline; n++) {
      try {
        const out = await store.run({ [xRayKey]: newHeader() }, () => app.invocation(n, task));
        if (out?.n !== n) throw new Error(`${task} #${n}: wrong answer ${JSON.stringify(out)}`);
        stats.completed += ENTITIES_PER_INVOCATION;
      } catch (err) {
        stats.errors++;
        stats.firstError ||= String(err?.stack ?? err);
      }
    }
  };
  await Promise.all(Array.from({ length: tasks }, (_, i) => loop(`${label}-${i}`)));
  const flushed = native.flush(FLUSH_MS);
  return { ...stats, flushed, counters: tracer.getCounters() ?? {} };
}

function rssKb() {
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    if (line) return Number(line.split(/\s+/)[1]);
  } catch {
    // Not Linux: the runtime's figure.
  }
  return Math.round(process.memoryUsage().rss / 1024);
}

/** Sums the numeric counters of every thread. */
function sumCounters(all) {
  const total = {};
  for (const counters of all) {
    for (const [k, v] of Object.entries(counters)) if (typeof v === 'number') total[k] = (total[k] ?? 0) + v;
  }
  return total;
}

async function main() {
  if (!process.env.AWS_XRAY_DAEMON_ADDRESS) {
    process.stderr.write('soak.mjs: set AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:<port> (the listener)\n');
    return 2;
  }
  lambdaEnvironment();
  const started = Date.now();
  const deadline = started + SECONDS * 1000;
  const samples = [rssKb()];
  const sampler = setInterval(() => {
    samples.push(rssKb());
    // OXRAY_SOAK_DEBUG=1: where the memory is (JavaScript heap or native), on stderr.
    if (process.env.OXRAY_SOAK_DEBUG) process.stderr.write(`soak.mjs: ${JSON.stringify(process.memoryUsage())}\n`);
  }, 1000);
  const workers = Array.from({ length: WORKERS }, (_, index) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { deadline, tasks: WORKER_TASKS, label: `worker${index}` } });
    return new Promise((resolve) => {
      worker.once('message', resolve);
      worker.once('error', (err) => resolve({ completed: 0, errors: 1, firstError: String(err?.stack ?? err), counters: {}, flushed: false }));
    });
  });
  const results = [await traceUntil(deadline, MAIN_TASKS, 'main'), ...(await Promise.all(workers))];
  clearInterval(sampler);
  const elapsed = (Date.now() - started) / 1000;
  const completed = results.reduce((a, r) => a + r.completed, 0);
  const errors = results.reduce((a, r) => a + r.errors, 0);
  const report = {
    tag: TAG,
    completed_entities: completed,
    counters: sumCounters(results.map((r) => r.counters)),
    rss_kb: samples,
    errors,
  };
  const firstError = results.find((r) => r.firstError)?.firstError ?? '';
  process.stderr.write(
    `soak.mjs: ${completed} entities in ${elapsed.toFixed(1)} s (${Math.round(completed / elapsed)}/s), ` +
      `flushed=${results.every((r) => r.flushed)}, errors=${errors} ${firstError.split('\n')[0]}\n`,
  );
  await new Promise((resolve) => process.stdout.write(`SOAK ${JSON.stringify(report)}\n`, resolve));
  return 0;
}

if (isMainThread) {
  process.exitCode = await main();
} else {
  const { deadline, tasks, label } = workerData;
  parentPort?.postMessage(await traceUntil(deadline, tasks, label));
}
