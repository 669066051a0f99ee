// Configuration switches and the public helper methods, end to end under a simulated Lambda:
// HTTP capture switched off (option, environment, customConfigService; in child processes,
// since capture is process-wide once installed), response / error capture switched off through
// customConfigService, POWERTOOLS_TRACE_ENABLED values that do not disable, annotateColdStart /
// addServiceNameAnnotation / addResponseAsMetadata / addErrorAsMetadata called directly, AWS SDK
// v3 throttling, the middy cleanup hook and flush-before-resolve, and `## undefined`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { setupLambda, invoke, fakeContext, decorate, byName, flatten, newTraceHeader, UdpSink } from './helpers/lambda.mjs';
import { runNode } from './helpers/child.mjs';

const sink = await setupLambda({ AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_REGION: 'eu-west-1' });
const { Tracer } = await import('oxray');
const { captureLambdaHandler } = await import('oxray/middleware');
const middy = (await import('@middy/core')).default;
const { DynamoDBClient, GetItemCommand } = await import('@aws-sdk/client-dynamodb');

const tracer = new Tracer();
const packageDir = fileURLToPath(new URL('..', import.meta.url));

// ---- a local server: plain HTTP targets for the capture cases, and a DynamoDB stand-in ----

/** @type {{ path: string, header: string | undefined }[]} */
const seen = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    seen.push({ path: req.url, header: req.headers['x-amzn-trace-id'] });
    if (req.headers['x-amz-target']) {
      const { TableName } = JSON.parse(body);
      const [status, type] =
        TableName === 'throttled' ? [400, 'ThrottlingException'] : TableName === 'limited' ? [429, 'LimitExceededException'] : [200, null];
      const out = type === null ? JSON.stringify({ Item: { id: { S: '1' } } }) : JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: `${type} from the stand-in` });
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `REQ-${status}`, 'content-length': Buffer.byteLength(out) });
      res.end(out);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end('ok');
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
after(() => server.close());
const base = `http://127.0.0.1:${server.address().port}`;

/**
 * Runs `script` in a child Lambda environment with its own UDP daemon; returns what the child
 * printed (JSON) and the documents it sent.
 * @param {string} script
 * @param {Record<string, string>} env
 * @param {{ module?: boolean, expectSignal?: string }} [opts]
 */
async function runChild(script, env, opts = {}) {
  const childSink = new UdpSink();
  const address = await childSink.start();
  const t = newTraceHeader(1);
  const childEnv = { ...process.env, AWS_XRAY_DAEMON_ADDRESS: address, _X_AMZN_TRACE_ID: t.header, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const args = opts.module ? ['--input-type=module', '-e', script] : ['-e', script];
  const { code, signal, stdout: out, stderr: err } = await runNode(args, { cwd: packageDir, env: childEnv, guardMs: 30_000 });
  if (opts.expectSignal) assert.equal(signal, opts.expectSignal, `child stderr: ${err}`);
  else assert.equal(code, 0, `child stderr: ${err}`);
  const line = out.split('\n').find((l) => l.startsWith('OUT '));
  assert.ok(line, `child output: ${out} ${err}`);
  return { out: JSON.parse(line.slice(4)), childSink, trace: t };
}

// ---- 1. HTTP capture on / off ----

const HTTP_CHILD = `
  const http = require('node:http');
  const originalRequest = http.request;
  const { Tracer } = require('oxray');
  const options = {
    control: {},
    env: {},
    option: { captureHTTPsRequests: false },
    custom: { customConfigService: { getCaptureHTTPsRequests: () => 'false' } },
  }[process.env.CASE];
  const tracer = new Tracer(options);
  const target = process.env.TARGET;
  const viaHttp = () => new Promise((resolve, reject) => {
    const req = http.request(target + '/http', (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end();
  });
  class App {
    async handler() {
      const res = await fetch(target + '/fetch');
      await res.text();
      return [res.status, await viaHttp()];
    }
  }
  const d = Object.getOwnPropertyDescriptor(App.prototype, 'handler');
  Object.defineProperty(App.prototype, 'handler', tracer.captureLambdaHandler()(App.prototype, 'handler', d));
  new App().handler({}, {}).then((r) => {
    console.log('OUT ' + JSON.stringify({ r, enabled: tracer.isTracingEnabled(), patched: http.request !== originalRequest }));
  });
`;

/** @param {string} name @param {Record<string, string | undefined>} env */
async function httpCase(name, env) {
  const { out, childSink, trace } = await runChild(HTTP_CHILD, { CASE: name, TARGET: `${base}/${name}`, POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: undefined, ...env });
  assert.deepEqual(out.r, [200, 200], 'both requests answered');
  assert.equal(out.enabled, true, 'tracing itself stays on');
  const docs = await childSink.take(1);
  childSink.socket.close();
  assert.equal(docs[0].name, '## index.handler');
  assert.equal(docs[0].trace_id, trace.root);
  const requests = seen.filter((s) => s.path.startsWith(`/${name}/`));
  assert.deepEqual(requests.map((s) => s.path).sort(), [`/${name}/fetch`, `/${name}/http`]);
  return { out, docs, requests };
}

for (const [name, env, how] of [
  ['option', {}, 'new Tracer({ captureHTTPsRequests: false })'],
  ['env', { POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: 'false' }, 'POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS=false'],
  ['custom', {}, "customConfigService.getCaptureHTTPsRequests() === 'false'"],
]) {
  test(`HTTP capture off by ${how}: fetch and http.request untraced, no header, http not patched`, async () => {
    const { out, docs, requests } = await httpCase(name, env);
    assert.equal(out.patched, false, 'http.request left as it was');
    const all = flatten(docs);
    assert.deepEqual(all.map((e) => e.name), ['## index.handler'], 'no remote subsegment');
    assert.equal(all.filter((e) => e.namespace === 'remote').length, 0);
    for (const r of requests) assert.equal(r.header, undefined, `no X-Amzn-Trace-Id on ${r.path}`);
  });
}

test('HTTP capture on (control): fetch and http.request become remote subsegments with an injected header', async () => {
  const { out, docs, requests } = await httpCase('control', {});
  assert.equal(out.patched, true, 'http.request wrapped');
  const [doc] = docs;
  const remotes = flatten(docs).filter((e) => e.namespace === 'remote');
  assert.equal(remotes.length, 2);
  for (const kind of ['fetch', 'http']) {
    const sub = remotes.find((e) => e.http.request.url === `${base}/control/${kind}`);
    assert.ok(sub, `a subsegment for ${kind}: ${JSON.stringify(remotes)}`);
    assert.equal(sub.name, '127.0.0.1');
    assert.equal(sub.parent_id, doc.id);
    assert.equal(sub.http.request.method, 'GET');
    assert.equal(sub.http.response.status, 200);
    const header = requests.find((r) => r.path === `/control/${kind}`).header;
    assert.equal(header, `Root=${doc.trace_id};Parent=${sub.id};Sampled=1`);
  }
});

// ---- 2. customConfigService: response / error capture ----

test("customConfigService getTracingCaptureResponse() 'false': no response metadata; errors still captured", async () => {
  const quiet = new Tracer({ customConfigService: { getTracingCaptureResponse: () => 'false' } });
  class Quiet {
    async handler(event) {
      quiet.putMetadata('kept', 1);
      quiet.addResponseAsMetadata({ manual: true }, 'manual');
      const value = await this.lookup();
      if (event.fail) await this.fail();
      return { value };
    }

    async lookup() {
      return 'secret';
    }

    async fail() {
      throw new TypeError('still recorded');
    }
  }
  decorate(Quiet, 'handler', quiet.captureLambdaHandler());
  decorate(Quiet, 'lookup', quiet.captureMethod());
  decorate(Quiet, 'fail', quiet.captureMethod());
  const { result } = await invoke(() => new Quiet().handler({}, fakeContext()));
  assert.deepEqual(result, { value: 'secret' });
  const [doc] = await sink.take(1);
  assert.deepEqual(doc.metadata, { payment: { kept: 1 } }, 'only the explicit putMetadata');
  assert.equal(byName([doc], '### lookup').metadata, undefined);

  await assert.rejects(invoke(() => new Quiet().handler({ fail: true }, fakeContext())), TypeError);
  const [failed] = await sink.take(1);
  const fail = byName([failed], '### fail');
  assert.equal(fail.fault, true);
  assert.equal(fail.cause.exceptions[0].type, 'TypeError');
  assert.equal(failed.fault, true);
});

test("customConfigService getTracingCaptureError() 'false': error flag only (no fault, no cause); responses still captured", async () => {
  const silent = new Tracer({ customConfigService: { getTracingCaptureError: () => 'false' } });
  class Silent {
    async handler(event) {
      await this.ok();
      return this.chargeCard(event);
    }

    async ok() {
      return 'fine';
    }

    async chargeCard() {
      throw new RangeError('card declined');
    }
  }
  decorate(Silent, 'handler', silent.captureLambdaHandler());
  decorate(Silent, 'ok', silent.captureMethod());
  decorate(Silent, 'chargeCard', silent.captureMethod());
  await assert.rejects(invoke(() => new Silent().handler({}, fakeContext())), RangeError);
  const [doc] = await sink.take(1);
  const charge = byName([doc], '### chargeCard');
  for (const e of [doc, charge]) {
    assert.equal(e.error, true, `${e.name}: error`);
    assert.equal(e.fault, undefined, `${e.name}: no fault`);
    assert.equal(e.cause, undefined, `${e.name}: no cause`);
  }
  assert.deepEqual(byName([doc], '### ok').metadata, { payment: { 'ok response': 'fine' } });
});

// ---- 3. POWERTOOLS_TRACE_ENABLED values other than 'false' ----

test("POWERTOOLS_TRACE_ENABLED '0' and 'no' do not disable tracing in Lambda; 'false' does", async () => {
  for (const value of ['0', 'no', 'false']) {
    process.env.POWERTOOLS_TRACE_ENABLED = value;
    let t;
    try {
      t = new Tracer();
    } finally {
      delete process.env.POWERTOOLS_TRACE_ENABLED;
    }
    class H {
      async handler() {
        t.putAnnotation('traceEnabled', value);
        return value;
      }
    }
    decorate(H, 'handler', t.captureLambdaHandler());
    const { root, result } = await invoke(() => new H().handler({}, fakeContext()));
    assert.equal(result, value);
    if (value === 'false') {
      assert.equal(t.isTracingEnabled(), false, "'false' disables");
      await sink.none();
      continue;
    }
    assert.equal(t.isTracingEnabled(), true, `POWERTOOLS_TRACE_ENABLED=${value}`);
    const [doc] = await sink.take(1);
    assert.equal(doc.name, '## index.handler');
    assert.equal(doc.trace_id, root);
    assert.equal(doc.annotations.traceEnabled, value);
  }
});

// ---- 4. The public helper methods called directly ----

test('annotateColdStart, addServiceNameAnnotation, addResponseAsMetadata called in a traced method', async () => {
  const tools = new Tracer({ serviceName: 'tools' });
  class Shop {
    async handler() {
      return this.checkout();
    }

    async checkout() {
      tools.annotateColdStart();
      tools.addServiceNameAnnotation();
      tools.addResponseAsMetadata({ total: 3 }, 'cart');
      tools.addResponseAsMetadata(undefined, 'nothing');
      return 'done';
    }
  }
  decorate(Shop, 'handler', tracer.captureLambdaHandler());
  decorate(Shop, 'checkout', tools.captureMethod());
  const shop = new Shop();
  await invoke(() => shop.handler({}, fakeContext()));
  await invoke(() => shop.handler({}, fakeContext()));
  const docs = await sink.take(2);
  const [first, second] = docs.map((d) => byName([d], '### checkout'));
  assert.deepEqual(first.annotations, { ColdStart: true, Service: 'tools' }, "this Tracer's first getColdStart()");
  assert.deepEqual(second.annotations, { ColdStart: false, Service: 'tools' }, 'then false');
  const expected = { tools: { 'cart response': { total: 3 }, 'checkout response': 'done' } };
  assert.deepEqual(first.metadata, expected, 'undefined data is skipped; the namespace is the service name');
  assert.deepEqual(second.metadata, expected);
  for (const d of docs) assert.equal(d.metadata.payment['index.handler response'], 'done');
});

test("addServiceNameAnnotation also annotates 'service_undefined'; ColdStart false when not on-demand", async () => {
  const saved = { service: process.env.POWERTOOLS_SERVICE_NAME, init: process.env.AWS_LAMBDA_INITIALIZATION_TYPE };
  delete process.env.POWERTOOLS_SERVICE_NAME;
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'provisioned-concurrency';
  let anon;
  try {
    anon = new Tracer();
  } finally {
    process.env.POWERTOOLS_SERVICE_NAME = saved.service;
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = saved.init;
  }
  class Anon {
    async handler() {
      return this.step();
    }

    async step() {
      anon.annotateColdStart();
      anon.addServiceNameAnnotation();
    }
  }
  decorate(Anon, 'handler', tracer.captureLambdaHandler());
  decorate(Anon, 'step', anon.captureMethod());
  await invoke(() => new Anon().handler({}, fakeContext()));
  const [doc] = await sink.take(1);
  assert.deepEqual(byName([doc], '### step').annotations, { ColdStart: false, Service: 'service_undefined' });
});

test('addErrorAsMetadata(err, true) in the handler: fault + remote exception; the handler still returns', async () => {
  class Api {
    async handler() {
      tracer.addResponseAsMetadata('partial', 'custom');
      tracer.addErrorAsMetadata(new TypeError('downstream said no'), true);
      return this.local();
    }

    async local() {
      tracer.addErrorAsMetadata(new Error('local problem'));
      return 'recovered';
    }
  }
  decorate(Api, 'handler', tracer.captureLambdaHandler());
  decorate(Api, 'local', tracer.captureMethod());
  const { result } = await invoke(() => new Api().handler({}, fakeContext()));
  assert.equal(result, 'recovered');
  const [doc] = await sink.take(1);
  assert.equal(doc.fault, true);
  assert.equal(doc.error, undefined);
  assert.equal(doc.cause.exceptions.length, 1);
  const [ex] = doc.cause.exceptions;
  assert.equal(ex.type, 'TypeError');
  assert.equal(ex.message, 'downstream said no');
  assert.equal(ex.remote, true);
  assert.ok(ex.stack.some((f) => f.path === fileURLToPath(import.meta.url)), 'stack frames from this file');
  assert.deepEqual(doc.metadata.payment, { 'custom response': 'partial', 'index.handler response': 'recovered' });
  const local = byName([doc], '### local');
  assert.equal(local.fault, true);
  assert.equal(local.cause.exceptions[0].message, 'local problem');
  assert.notEqual(local.cause.exceptions[0].remote, true, 'remote defaults to false');
  assert.deepEqual(local.metadata, { payment: { 'local response': 'recovered' } });
});

test('addErrorAsMetadata with error capture off: error flag only; outside traced code: nothing', async () => {
  const off = new Tracer({ customConfigService: { getTracingCaptureError: () => 'false' } });
  class Job {
    async handler() {
      return this.run();
    }

    async run() {
      off.addErrorAsMetadata(new Error('not recorded'), true);
      return 'ok';
    }
  }
  decorate(Job, 'handler', tracer.captureLambdaHandler());
  decorate(Job, 'run', off.captureMethod());
  await invoke(() => new Job().handler({}, fakeContext()));
  const [doc] = await sink.take(1);
  const run = byName([doc], '### run');
  assert.equal(run.error, true);
  assert.equal(run.fault, undefined);
  assert.equal(run.cause, undefined);
  assert.equal(run.metadata.payment['run response'], 'ok');
  assert.equal(doc.fault, undefined);
  assert.equal(doc.error, undefined);

  // At the facade (no traced code running): skipped, nothing sent, nothing thrown.
  assert.doesNotThrow(() => tracer.addErrorAsMetadata(new Error('at the facade'), true));
  assert.doesNotThrow(() => tracer.addResponseAsMetadata({ a: 1 }, 'facade'));
  tracer.annotateColdStart();
  await sink.none();
});

// ---- 5. AWS SDK v3 throttling ----

test('AWS SDK v3: 400 ThrottlingException and 429 answers give throttle + error on the aws subsegment', async () => {
  const client = tracer.captureAWSv3Client(new DynamoDBClient({ endpoint: base, region: 'eu-west-1', maxAttempts: 1 }));
  class Store {
    async handler() {
      const names = [];
      for (const TableName of ['throttled', 'limited']) {
        try {
          await client.send(new GetItemCommand({ TableName, Key: { id: { S: '1' } } }));
          names.push('no error');
        } catch (err) {
          names.push(err.name);
        }
      }
      return names;
    }
  }
  decorate(Store, 'handler', tracer.captureLambdaHandler());
  seen.length = 0;
  const { result } = await invoke(() => new Store().handler({}, fakeContext()));
  assert.deepEqual(result, ['ThrottlingException', 'LimitExceededException']);
  assert.equal(seen.length, 2, 'one attempt each (maxAttempts 1)');
  const [doc] = await sink.take(1);
  const calls = flatten([doc]).filter((e) => e.namespace === 'aws').sort((a, b) => a.start_time - b.start_time);
  assert.equal(calls.length, 2, `aws subsegments: ${JSON.stringify(flatten([doc]).map((e) => e.name))}`);
  assert.equal(flatten([doc]).length, 3, 'no http subsegment doubles them');
  const [throttled, limited] = calls;
  for (const [sub, status, type, table] of [
    [throttled, 400, 'ThrottlingException', 'throttled'],
    [limited, 429, 'LimitExceededException', 'limited'],
  ]) {
    assert.equal(sub.name, 'DynamoDB');
    assert.equal(sub.throttle, true, `${type}: throttle`);
    assert.equal(sub.error, true, `${type}: error`);
    assert.equal(sub.fault, undefined, `${type}: no fault`);
    assert.equal(sub.http.response.status, status);
    assert.equal(sub.aws.operation, 'GetItem');
    assert.equal(sub.aws.table_name, table);
    assert.equal(sub.aws.request_id, `REQ-${status}`);
    assert.equal(sub.cause.exceptions[0].type, type);
    assert.equal(sub.cause.exceptions[0].remote, true);
  }
  assert.equal(doc.throttle, undefined, 'the handler caught the errors: it is not flagged');
  assert.equal(doc.error, undefined);
});

// ---- 6. Middy: the cleanup hook, and flush before resolve ----

test("middy: request.internal['powertools-for-aws.tracer'] ends the invocation when a middleware returns early", async () => {
  let handlerRan = false;
  let hook;
  const early = middy(async () => {
    handlerRan = true;
    return 'from handler';
  })
    .use(captureLambdaHandler(tracer))
    .use({
      before: async (request) => {
        hook = request.internal['powertools-for-aws.tracer'];
        assert.equal(typeof hook, 'function');
        // What Powertools' commons cleanupMiddlewares() does before an early return.
        await hook(request);
        tracer.putAnnotation('afterCleanup', true);
        return 'cached';
      },
    });
  const { root, parent, result } = await invoke(() => early({}, fakeContext()));
  assert.equal(result, 'cached');
  assert.equal(handlerRan, false);
  const [doc] = await sink.take(1);
  assert.equal(doc.name, '## index.handler');
  assert.equal(doc.trace_id, root);
  assert.equal(doc.parent_id, parent);
  assert.equal(doc.in_progress, undefined);
  assert.ok(doc.end_time >= doc.start_time);
  assert.deepEqual(Object.keys(doc.annotations).sort(), ['ColdStart', 'Service'], 'nothing written after the cleanup');
  assert.equal(doc.metadata, undefined, 'no response: the handler did not run');
  assert.equal(doc.fault, undefined);
  // A second call (or a later after step) sends nothing more.
  hook();
  await sink.none();
});

test("middy: the cleanup hook called, then the handler and after step run: one document, no double end", async () => {
  const m = middy(async () => {
    tracer.putAnnotation('late', true);
    return { ok: true };
  })
    .use(captureLambdaHandler(tracer))
    .use({ before: (request) => request.internal['powertools-for-aws.tracer'](request) });
  const { result } = await invoke(() => m({}, fakeContext()));
  assert.deepEqual(result, { ok: true });
  const [doc] = await sink.take(1);
  assert.equal(doc.name, '## index.handler');
  assert.equal(doc.annotations.late, undefined, 'the ended handler subsegment is not written to');
  assert.equal(doc.metadata, undefined);
});

test('middy: the handler document is sent before the middy promise resolves (counters, in process)', async () => {
  const m = middy(async () => ({ statusCode: 200 })).use(captureLambdaHandler(tracer));
  const before = tracer.getCounters();
  let atResolve;
  await invoke(() => m({}, fakeContext()).then((r) => ((atResolve = tracer.getCounters()), r)));
  assert.equal(atResolve.sent - before.sent, 1, 'sent when the promise resolved');
  const [doc] = await sink.take(1);
  assert.deepEqual(doc.metadata, { payment: { 'index.handler response': { statusCode: 200 } } });
});

test('middy: the document reaches the daemon even if the process is killed as the promise resolves', async () => {
  const script = `
    const { Tracer } = await import(process.env.OXRAY_ENTRY);
    const { captureLambdaHandler } = await import(process.env.OXRAY_MIDDLEWARE);
    const middy = (await import(process.env.MIDDY_ENTRY)).default;
    const tracer = new Tracer();
    const handler = middy(async (event) => { tracer.putAnnotation('orderId', event.orderId); return { done: event.orderId }; })
      .use(captureLambdaHandler(tracer));
    handler({ orderId: 'o-7' }, { awsRequestId: 'r-1', getRemainingTimeInMillis: () => 30000 }).then((r) => {
      console.log('OUT ' + JSON.stringify(r));
      process.kill(process.pid, 'SIGKILL');
    });
  `;
  const { out, childSink, trace } = await runChild(
    script,
    {
      OXRAY_ENTRY: import.meta.resolve('oxray'),
      OXRAY_MIDDLEWARE: import.meta.resolve('oxray/middleware'),
      MIDDY_ENTRY: import.meta.resolve('@middy/core'),
    },
    { module: true, expectSignal: 'SIGKILL' },
  );
  assert.deepEqual(out, { done: 'o-7' });
  const [doc] = await childSink.take(1);
  childSink.socket.close();
  assert.equal(doc.name, '## index.handler');
  assert.equal(doc.trace_id, trace.root);
  assert.equal(doc.annotations.orderId, 'o-7');
  assert.deepEqual(doc.metadata, { payment: { 'index.handler response': { done: 'o-7' } } });
});

// ---- 7. `## undefined` ----

test('_HANDLER unset: the handler subsegment is `## undefined` (decorator and middy), response key `undefined response`', async () => {
  const saved = process.env._HANDLER;
  delete process.env._HANDLER;
  try {
    class Nameless {
      async handler() {
        return { n: 1 };
      }
    }
    decorate(Nameless, 'handler', tracer.captureLambdaHandler());
    await invoke(() => new Nameless().handler({}, fakeContext()));
    const viaMiddy = middy(async () => ({ n: 2 })).use(captureLambdaHandler(tracer));
    await invoke(() => viaMiddy({}, fakeContext()));
  } finally {
    process.env._HANDLER = saved;
  }
  const docs = await sink.take(2);
  assert.deepEqual(docs.map((d) => d.name), ['## undefined', '## undefined']);
  assert.deepEqual(docs.map((d) => d.metadata), [{ payment: { 'undefined response': { n: 1 } } }, { payment: { 'undefined response': { n: 2 } } }]);
  for (const d of docs) assert.deepEqual(Object.keys(d.annotations).sort(), ['ColdStart', 'Service']);
});
