// node:http loaded by the handler itself, during its invocation (a lazy import), in a child
// process that had not loaded it before: the first request is seen only on Node's
// `http.client.request.start` channel, after its headers were written, and is recorded without
// the trace header; the modules are wrapped there and then, so the next request carries it.
// A `request` function taken from the module before it was wrapped is recorded the same way.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setupLambda, newTraceHeader, flatten } from './helpers/lambda.mjs';
import { runNode } from './helpers/child.mjs';

const sink = await setupLambda();
/** @type {{ path: string, header: string | undefined }[]} */
const seen = [];
const server = http.createServer((req, res) => {
  seen.push({ path: req.url, header: req.headers['x-amzn-trace-id'] });
  res.end('ok');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
after(() => server.close());

// The child: oxray only (no test helpers, which could load node:http), a handler that loads
// node:http itself and makes three requests: by the module's `get` before and after the first
// one, and by a `get` function taken from the module before that first request.
const child = `
const { Tracer } = await import(process.env.OXRAY_ENTRY);
const tracer = new Tracer();
const loadedBefore = process.moduleLoadList.includes('NativeModule http');
class Api {
  async handler() {
    const http = (await import('node:http')).default;
    const early = http.get;
    const get = (fn, path) => new Promise((resolve, reject) => {
      fn(process.env.BASE + path, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); }).on('error', reject);
    });
    return [await get(http.get, '/first'), await get(http.get, '/second'), await get(early, '/taken-early')];
  }
}
const d = Object.getOwnPropertyDescriptor(Api.prototype, 'handler');
Object.defineProperty(Api.prototype, 'handler', tracer.captureLambdaHandler()(Api.prototype, 'handler', d) || d);
const statuses = await new Api().handler({}, { awsRequestId: 'r-1', getRemainingTimeInMillis: () => 30000 });
process.stdout.write(JSON.stringify({ loadedBefore, statuses }));
`;

test('node:http first loaded inside the handler: every request recorded, the header from the second on', async () => {
  const t = newTraceHeader(1);
  const { code, stdout: out, stderr: err } = await runNode(['--input-type=module', '-e', child], {
    env: { ...process.env, _X_AMZN_TRACE_ID: t.header, OXRAY_ENTRY: import.meta.resolve('oxray'), BASE: `http://127.0.0.1:${port}` },
  });
  assert.equal(code, 0, err);
  const { loadedBefore, statuses } = JSON.parse(out);
  assert.equal(loadedBefore, false, 'the child must not have loaded node:http before the invocation');
  assert.deepEqual(statuses, [200, 200, 200]);

  const docs = await sink.take(1);
  const entities = flatten(docs);
  const handler = entities.find((e) => e.name === '## index.handler');
  assert.ok(handler, JSON.stringify(docs));
  const remotes = entities.filter((e) => e.namespace === 'remote');
  assert.deepEqual(
    remotes.map((r) => r.http.request.url),
    ['/first', '/second', '/taken-early'].map((p) => `http://127.0.0.1:${port}${p}`),
  );
  for (const r of remotes) {
    assert.equal(r.name, '127.0.0.1');
    assert.equal(r.trace_id, t.root);
    assert.equal(r.parent_id, handler.id);
    assert.deepEqual(r.http.response, { status: 200, content_length: 2 });
  }
  assert.deepEqual(seen, [
    { path: '/first', header: undefined },
    { path: '/second', header: `Root=${t.root};Parent=${remotes[1].id};Sampled=1` },
    { path: '/taken-early', header: undefined },
  ]);
});
