// traceHttpServer inside Lambda (e.g. behind the Lambda Web Adapter): each request is a
// subsegment of the invocation's function segment, whose trace header decides sampling.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setupLambda, newTraceHeader } from './helpers/lambda.mjs';
import { listen, request } from './helpers/server.mjs';

const sink = await setupLambda();
const { Tracer } = await import('oxray');
const { traceHttpServer } = await import('oxray/middleware');
const tracer = new Tracer();
const server = http.createServer(traceHttpServer(tracer, (req, res) => {
  tracer.putAnnotation('path', req.url);
  res.end('ok');
}));
const port = await listen(server);
after(() => server.close());

test('a request is a subsegment of the function segment; the invocation decides sampling', async () => {
  const invocation = newTraceHeader(1);
  process.env._X_AMZN_TRACE_ID = invocation.header;
  // The request's own header (another trace, not sampled) does not decide in Lambda.
  const res = await request(port, { path: '/a', headers: { 'X-Amzn-Trace-Id': newTraceHeader(0).header, 'X-Forwarded-For': '198.51.100.4' } });
  const [sub] = await sink.take(1);
  assert.equal(sub.type, 'subsegment');
  assert.equal(sub.trace_id, invocation.root);
  assert.equal(sub.parent_id, invocation.parent);
  assert.equal(sub.name, 'payment', 'POWERTOOLS_SERVICE_NAME');
  assert.equal(sub.annotations.path, '/a');
  assert.equal(sub.http.request.client_ip, '198.51.100.4');
  assert.equal(sub.http.request.x_forwarded_for, undefined, 'a segment-only field');
  assert.equal(sub.http.response.status, 200);
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${invocation.root}`);

  process.env._X_AMZN_TRACE_ID = newTraceHeader(0).header;
  assert.equal((await request(port, { path: '/b' })).status, 200);
  await sink.none();
});
