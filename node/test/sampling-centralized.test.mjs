// Centralized sampling from Node: tracer.enableCentralizedSampling() against a stub of the
// daemon's sampling proxy (plain HTTP on 127.0.0.1); the service's rules then decide for
// traceHttpServer, and the sampled segment names its rule. Waits are bounded polling loops
// that guard against a hang; no assertion depends on how long anything took.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setupServerMode, listen, request } from './helpers/server.mjs';

/** Calls of the stub proxy, by path. */
const calls = { '/GetSamplingRules': 0, '/SamplingTargets': 0 };
const rule = (name, priority, fixedRate, urlPath) => ({
  SamplingRule: { RuleName: name, ResourceARN: '*', Priority: priority, FixedRate: fixedRate, ReservoirSize: 0, ServiceName: '*', ServiceType: '*', Host: '*', HTTPMethod: '*', URLPath: urlPath, Version: 1, Attributes: {} },
});
const proxy = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    calls[req.url] = (calls[req.url] ?? 0) + 1;
    res.setHeader('content-type', 'application/json');
    if (req.url === '/GetSamplingRules') {
      res.end(JSON.stringify({ SamplingRuleRecords: [rule('Default', 10000, 0, '*'), rule('orders', 10, 1, '/orders*')] }));
    } else {
      res.end(JSON.stringify({ SamplingTargetDocuments: [], LastRuleModification: 0, UnprocessedStatistics: [] }));
    }
  });
});
const proxyPort = await listen(proxy);
const sink = await setupServerMode();
const udp = process.env.AWS_XRAY_DAEMON_ADDRESS;
process.env.AWS_XRAY_DAEMON_ADDRESS = `tcp:127.0.0.1:${proxyPort} udp:${udp}`;

const { Tracer } = await import('oxray');
const { traceHttpServer } = await import('oxray/middleware');
const tracer = new Tracer({ serviceName: 'checkout' });
const server = http.createServer(traceHttpServer(tracer, (req, res) => res.end('ok')));
const port = await listen(server);
after(() => {
  server.close();
  proxy.close();
});

async function until(what, check) {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(check(), `never happened: ${what}`);
}

test('off until asked: the status says so', () => {
  const status = tracer.getSamplingStatus();
  assert.equal(status.centralized, false);
  assert.equal(status.rulesCached, 0);
  assert.equal(new Tracer({ enabled: false }).enableCentralizedSampling(), false, 'refused with tracing disabled');
});

test("the service's rules decide; the sampled segment names its rule", async () => {
  assert.equal(tracer.enableCentralizedSampling(), true);
  assert.equal(tracer.enableCentralizedSampling(), true, 'again: no change');
  await until('rules fetched', () => tracer.getSamplingStatus().usingServiceRules);
  const status = tracer.getSamplingStatus();
  assert.equal(status.centralized, true);
  assert.equal(status.polling, true);
  assert.equal(status.rulesCached, 2);
  assert.ok(status.ruleFetches >= 1);
  assert.match(status.clientId, /^[0-9a-f]{24}$/);
  assert.ok(calls['/GetSamplingRules'] >= 1);

  const order = await request(port, { path: '/orders/9', headers: { 'X-Amzn-Trace-Id': 'Sampled=?' } });
  const other = await request(port, { path: '/health', headers: { 'X-Amzn-Trace-Id': 'Sampled=?' } });
  assert.match(order.headers['x-amzn-trace-id'], /;Sampled=1$/);
  assert.match(other.headers['x-amzn-trace-id'], /;Sampled=0$/, 'Default samples nothing here');
  const [seg] = await sink.take(1);
  assert.equal(seg.name, 'checkout');
  assert.equal(seg.aws.xray.sampling_rule_name, 'orders');
});
