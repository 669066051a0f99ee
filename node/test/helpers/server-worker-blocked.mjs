// A worker thread for server-http.test.mjs: serves one traceHttpServer on 127.0.0.1 (server
// mode, documents to the daemon stand-in the worker inherits in AWS_XRAY_DAEMON_ADDRESS) and
// posts its port. Its handler answers, and once the response has closed, posts `closed` and
// blocks its thread for good, so that nothing after that turn runs until the main thread
// terminates the worker. Run on its own (as `node --test` does with every file here) it does
// nothing.
import http from 'node:http';
import { isMainThread, parentPort } from 'node:worker_threads';

if (!isMainThread && parentPort !== null) {
  const { Tracer } = await import('oxray');
  const { traceHttpServer } = await import('oxray/middleware');
  const ALWAYS = { version: 2, rules: [], default: { fixed_target: 0, rate: 1 } };
  const tracer = new Tracer({ serviceName: 'blocked-worker' });
  const server = http.createServer(
    traceHttpServer(
      tracer,
      (req, res) => {
        res.on('close', () => {
          parentPort.postMessage('closed');
          for (;;);
        });
        res.end('answered');
      },
      { samplingRules: ALWAYS },
    ),
  );
  server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
}
