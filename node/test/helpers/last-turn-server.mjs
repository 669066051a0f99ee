// A traceHttpServer on 127.0.0.1 whose process or thread stops in the very turn of the event
// loop in which its response closed (oxray noted the end then; its flush would run next turn).
// Documents go to the daemon stand-in in AWS_XRAY_DAEMON_ADDRESS. For server-http.test.mjs:
// - as a child process with OXRAY_LAST_TURN=exit: prints its port as one JSON line, and its
//   handler's `close` listener calls `process.exit(0)`;
// - as a worker thread: posts `{ port }`, and its `close` listener posts `closed` and blocks the
//   thread for good, until the main thread terminates the worker.
// Run on its own (as `node --test` does with every file here) it does nothing.
import http from 'node:http';
import { isMainThread, parentPort } from 'node:worker_threads';

const asWorker = !isMainThread && parentPort !== null;
if (asWorker || process.env.OXRAY_LAST_TURN === 'exit') {
  const { Tracer } = await import('oxray');
  const { traceHttpServer } = await import('oxray/middleware');
  const ALWAYS = { version: 2, rules: [], default: { fixed_target: 0, rate: 1 } };
  const tracer = new Tracer({ serviceName: asWorker ? 'blocked-worker' : 'exits' });
  const stop = asWorker
    ? () => {
        parentPort.postMessage('closed');
        for (;;);
      }
    : () => process.exit(0);
  const handler = (req, res) => {
    res.on('close', stop);
    res.end(asWorker ? 'answered' : 'bye');
  };
  const server = http.createServer(traceHttpServer(tracer, handler, { samplingRules: ALWAYS }));
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    if (asWorker) parentPort.postMessage({ port });
    else console.log(JSON.stringify({ port }));
  });
}
