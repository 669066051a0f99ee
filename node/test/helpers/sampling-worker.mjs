// A worker thread in server mode whose recorder starts with the AWS_XRAY_DAEMON_ADDRESS in
// force in the process (a sampling proxy of the parent's choosing; it posts { ready } once its
// recorder has read it): it turns centralized
// sampling on over local rules that sample everything, serves `workerData.requests` requests
// through traceHttpServer, waits until the poller reported a failed call to the proxy (or
// `workerData.waitMs` passed), and posts what happened. Run on its own (as `node --test` does)
// it does nothing.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import http from 'node:http';
import { listen, request, ALWAYS } from './server.mjs';

if (!isMainThread && parentPort !== null) await run(workerData, parentPort);

/**
 * @param {{ requests: number, waitMs: number }} data
 * @param {import('node:worker_threads').MessagePort} port
 */
async function run(data, port) {
  const { Tracer } = await import('oxray');
  const { traceHttpServer } = await import('oxray/middleware');
  const tracer = new Tracer({ serviceName: 'faults' });
  tracer.loadSamplingRules(ALWAYS);
  const enableStart = process.hrtime.bigint();
  const enabled = tracer.enableCentralizedSampling();
  const enableMicros = Number(process.hrtime.bigint() - enableStart) / 1000;
  // The parent may now point the next worker elsewhere.
  port.postMessage({ ready: true });
  const server = http.createServer(traceHttpServer(tracer, (req, res) => res.end(`answer ${req.url}`)));
  const serverPort = await listen(server);
  const answers = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < data.requests; i++) {
    // `Sampled=?`: the caller asks for the decision, which the answer's header then carries.
    const { status, headers, body } = await request(serverPort, { path: `/item/${i}`, headers: { 'X-Amzn-Trace-Id': 'Sampled=?' } });
    answers.push({ status, body, sampled: /;Sampled=1$/.test(headers['x-amzn-trace-id'] ?? '') });
  }
  const requestMicros = Number(process.hrtime.bigint() - start) / 1000 / data.requests;
  // The poller works on its own thread: wait (bounded) until it met the fault. A segment ends
  // when its response closed, which may be just after the client read it: wait for the last.
  const settled = () => {
    const c = tracer.getCounters();
    return tracer.getSamplingStatus().errors > 0 && c !== null && c.sent + c.dropped >= data.requests;
  };
  for (let waited = 0; !settled() && waited < data.waitMs; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  server.close();
  port.postMessage({ enabled, enableMicros, requestMicros, answers, status: tracer.getSamplingStatus(), counters: tracer.getCounters() });
}
