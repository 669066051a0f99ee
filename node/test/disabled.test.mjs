// Outside Lambda (no AWS_EXECUTION_ENV) and the other disabled variants: pass-through,
// nothing loaded, nothing sent, nothing patched, sync methods stay sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { UdpSink, decorate } from './helpers/lambda.mjs';

const sink = new UdpSink();
process.env.AWS_XRAY_DAEMON_ADDRESS = await sink.start();
delete process.env.AWS_EXECUTION_ENV;
process.env._X_AMZN_TRACE_ID = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
const originalRequest = http.request;
const { Tracer } = await import('oxray');

class Plain {
  async handler(event) {
    return this.sync(event.n);
  }

  sync(n) {
    return n + 1;
  }
}

test('not in Lambda: disabled, pass-through, dummy segment, no patching, no addon', async () => {
  const tracer = new Tracer({ enabled: true });
  assert.equal(tracer.isTracingEnabled(), false);
  decorate(Plain, 'handler', tracer.captureLambdaHandler());
  decorate(Plain, 'sync', tracer.captureMethod());
  const p = new Plain();
  assert.equal(p.sync(1), 2);
  assert.equal(await p.handler({ n: 1 }), 2);
  const seg = tracer.getSegment();
  assert.equal(seg.name, '## Dummy segment');
  assert.notEqual(tracer.getSegment(), seg, 'a new dummy each time');
  assert.doesNotThrow(() => seg.addNewSubsegment('x').close());
  seg.addAnnotation('k', 'v');
  assert.deepEqual(seg.toJSON(), { name: '## Dummy segment' });
  assert.equal(seg.format(), '{"name":"## Dummy segment"}');
  assert.deepEqual([seg.annotations, seg.metadata, seg.namespace], [{}, {}, undefined]);
  tracer.putAnnotation('k', 'v');
  tracer.putMetadata('k', 'v');
  assert.equal(tracer.isTraceSampled(), false);
  assert.equal(tracer.getRootXrayTraceId(), '1-5759e988-bd862e3fe1be46a994272793');
  assert.equal(http.request, originalRequest);
  assert.equal(tracer.getCounters(), null, 'the native addon was never loaded');
  const client = { middlewareStack: { add() { throw new Error('must not be called'); } } };
  assert.equal(tracer.captureAWSv3Client(client), client);
  assert.equal(tracer.provider.captureFunc('x', () => 3), 3);
  await sink.none();
});

test('POWERTOOLS_TRACE_ENABLED=false, AWS_SAM_LOCAL, amplify mock, enabled:false all disable', () => {
  const cases = [
    [{ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x', POWERTOOLS_TRACE_ENABLED: 'FALSE' }, {}],
    [{ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x', AWS_SAM_LOCAL: 'true' }, {}],
    [{ AWS_EXECUTION_ENV: 'AWS_Lambda_amplify-mock' }, {}],
    [{ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x' }, { enabled: false }],
    [{ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x' }, { customConfigService: { getTracingEnabled: () => 'false' } }],
  ];
  for (const [env, options] of cases) {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      assert.equal(new Tracer(options).isTracingEnabled(), false, JSON.stringify([env, options]));
    } finally {
      for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }
  // "0" and "no" do not disable (same as Powertools): only "false" does.
  process.env.POWERTOOLS_TRACE_ENABLED = '0';
  delete process.env.AWS_SAM_LOCAL;
  assert.equal(new Tracer().isTracingEnabled(), false, 'still outside Lambda');
  delete process.env.POWERTOOLS_TRACE_ENABLED;
});

test('service name resolution: option, custom config service, environment, default', () => {
  delete process.env.POWERTOOLS_SERVICE_NAME;
  assert.equal(new Tracer().serviceName, 'service_undefined');
  process.env.POWERTOOLS_SERVICE_NAME = ' env-name ';
  assert.equal(new Tracer().serviceName, 'env-name');
  assert.equal(new Tracer({ customConfigService: { getServiceName: () => 'custom' } }).serviceName, 'custom');
  assert.equal(new Tracer({ serviceName: 'option', customConfigService: { getServiceName: () => 'custom' } }).serviceName, 'option');
  assert.equal(new Tracer({ serviceName: '   ' }).serviceName, 'env-name');
  assert.equal(new Tracer({ customConfigService: { getServiceName: () => { throw new Error('broken'); } } }).serviceName, 'env-name');
});
