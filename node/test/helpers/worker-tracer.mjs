// A worker thread that traces with its own Tracer (started by workers.test.mjs and the soak
// driver's tests). It inherits the simulated Lambda environment of the thread that starts it.
// `workerData.mode` says what it does; it reports through postMessage. Run on its own (as
// `node --test` does with every file here) it does nothing.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';

if (!isMainThread && parentPort !== null) await run(workerData, parentPort);

function newHeader() {
  const root = `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  const parent = randomBytes(8).toString('hex');
  return { root, parent, header: `Root=${root};Parent=${parent};Sampled=1` };
}

/** Applies a legacy method decorator as TypeScript's __decorate does. */
function decorate(cls, method, decorator) {
  const desc = Object.getOwnPropertyDescriptor(cls.prototype, method);
  Object.defineProperty(cls.prototype, method, decorator(cls.prototype, method, desc) || desc);
}

/**
 * @param {{ mode: string, tag: string, invocations?: number }} data
 * @param {import('node:worker_threads').MessagePort} port
 */
async function run(data, port) {
  const logged = [];
  console.warn = console.error = (...args) => logged.push(args.map(String).join(' '));
  const { Tracer } = await import('oxray');
  const tracer = new Tracer();
  const { tag } = data;

  class App {
    async handler(event) {
      tracer.putAnnotation('thread', tag);
      const total = await this.outer(event.n);
      return { tag, total };
    }

    async outer(n) {
      tracer.putAnnotation('thread', tag);
      await new Promise((resolve) => setImmediate(resolve));
      return this.inner(n) + 1;
    }

    inner(n) {
      tracer.putMetadata('n', n);
      return n * 2;
    }

    async forever() {
      await new Promise(() => {});
    }

    spin(i) {
      return i;
    }
  }
  decorate(App, 'handler', tracer.captureLambdaHandler());
  decorate(App, 'outer', tracer.captureMethod());
  decorate(App, 'inner', tracer.captureMethod());
  decorate(App, 'forever', tracer.captureMethod());
  decorate(App, 'spin', tracer.captureMethod());
  const app = new App();

  switch (data.mode) {
    case 'invocations': {
      const made = [];
      for (let i = 0; i < (data.invocations ?? 1); i++) {
        const t = newHeader();
        process.env._X_AMZN_TRACE_ID = t.header;
        const result = await app.handler({ n: i }, { awsRequestId: `${tag}-${i}` });
        made.push({ root: t.root, parent: t.parent, result });
      }
      port.postMessage({ made, counters: tracer.getCounters() });
      break;
    }
    case 'hang': {
      // An invocation whose handler never returns, with a completed child and one still open.
      const t = newHeader();
      process.env._X_AMZN_TRACE_ID = t.header;
      class Hanging {
        async handler() {
          await app.outer(1);
          return app.forever();
        }
      }
      decorate(Hanging, 'handler', tracer.captureLambdaHandler());
      new Hanging().handler({}, {});
      await new Promise((resolve) => setTimeout(resolve, 20));
      port.postMessage({ root: t.root });
      // Alive until terminated (a pending promise alone does not keep a thread running).
      setInterval(() => {}, 1000);
      break;
    }
    case 'spin': {
      // Traced calls outside any invocation, as fast as possible, until terminated.
      process.env._X_AMZN_TRACE_ID = newHeader().header;
      for (let i = 0; ; i++) {
        app.spin(i);
        if (i === 1000) port.postMessage({ spinning: true });
      }
    }
    case 'threeInvocations': {
      const results = [];
      for (let n = 0; n < 3; n++) {
        process.env._X_AMZN_TRACE_ID = newHeader().header;
        results.push(await app.handler({ n }, {}));
      }
      // Diagnostics arrive on this thread's event loop.
      await new Promise((resolve) => setTimeout(resolve, 50));
      port.postMessage({ results, counters: tracer.getCounters(), logged: logged.filter((l) => l.startsWith('oxray:')) });
      break;
    }
    case 'noHeader': {
      delete process.env._X_AMZN_TRACE_ID;
      const result = await app.handler({ n: 1 }, {});
      port.postMessage({ result, counters: tracer.getCounters() });
      break;
    }
    case 'warn': {
      // Outside any invocation: refused with the Powertools warning.
      tracer.putAnnotation('outside', 1);
      // Diagnostics arrive on this thread's event loop.
      await new Promise((resolve) => setTimeout(resolve, 50));
      port.postMessage({ logged: logged.filter((l) => l.startsWith('oxray:')), counters: tracer.getCounters() });
      break;
    }
    default:
      throw new Error(`unknown mode ${data.mode}`);
  }
}
