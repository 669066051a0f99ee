// Library capture inside a server-mode request: a real AWS SDK v3 DynamoDB client
// (captureAWSv3Client) pointed at a local stand-in endpoint (http on 127.0.0.1, answering the
// DynamoDB JSON protocol; not DynamoDB), and https.request over real TLS to a local server
// with a self-signed certificate made at test time (trusted through `ca`), both called from
// a traceHttpServer handler. Their subsegments belong to the request's segment, and the
// headers they send name the segment's trace and their own ids. Two clients: one captured
// at start-up, before traceHttpServer turned server mode on, one captured after.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { setupServerMode, listen, request, ALWAYS } from './helpers/server.mjs';
import { newTraceHeader, flatten } from './helpers/lambda.mjs';
import { makeCertificate, NO_OPENSSL } from './helpers/tls.mjs';

const sink = await setupServerMode({ AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_REGION: 'eu-west-1' });
const { Tracer } = await import('oxray');
const { traceHttpServer } = await import('oxray/middleware');
const { DynamoDBClient, GetItemCommand } = await import('@aws-sdk/client-dynamodb');

const tls = makeCertificate();
tls?.remove(); // the key and certificate are held in memory
const noOpenssl = tls === null && NO_OPENSSL;

/** What the stand-ins saw: DynamoDB targets and tables, and the paths called over TLS, with their trace headers. */
const seen = { dynamo: [], secure: [] };

const dynamo = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const input = JSON.parse(body);
    seen.dynamo.push({ target: req.headers['x-amz-target'], table: input.TableName, header: req.headers['x-amzn-trace-id'] });
    if (input.TableName === 'missing') {
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'REQ-404' });
      res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', message: 'Requested resource not found' }));
      return;
    }
    const out = JSON.stringify({ Item: { id: { S: input.Key.id.S } } });
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'REQ-OK', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
});
const dynamoPort = await listen(dynamo);

const secure = tls && https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
  seen.secure.push({ url: req.url, header: req.headers['x-amzn-trace-id'], encrypted: req.socket.encrypted === true });
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 6 });
  res.end('secure');
});
const securePort = secure ? await listen(secure) : 0;

const tracer = new Tracer({ serviceName: 'orders-api' });
assert.equal(tracer.isTracingEnabled(), false, 'off outside Lambda until server mode');
const dynamoClient = () => new DynamoDBClient({ endpoint: `http://127.0.0.1:${dynamoPort}`, region: 'eu-west-1', maxAttempts: 1 });
// Captured at start-up, before traceHttpServer turned server mode (and the Tracer) on: the
// usual order in a server module.
const early = tracer.captureAWSv3Client(dynamoClient());

/** GET over TLS trusting the test certificate; resolves with the body. */
function secureGet(p) {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: securePort, path: p, ca: tls?.cert }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

async function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const id = url.searchParams.get('id') ?? '1';
  const client = url.searchParams.get('client') === 'early' ? early : late;
  const out = {};
  if (url.pathname === '/dynamo' || url.pathname === '/both') {
    out.item = (await client.send(new GetItemCommand({ TableName: 'orders', Key: { id: { S: id } } }))).Item.id.S;
    try {
      await client.send(new GetItemCommand({ TableName: 'missing', Key: { id: { S: id } } }));
    } catch (err) {
      out.error = err.name;
    }
  }
  if (url.pathname === '/https' || url.pathname === '/both') {
    // Each request waits a different time before its TLS call, so concurrent ones interleave.
    await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('wait') ?? 0)));
    out.secure = await secureGet(`/items/${id}?q=1`);
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(out));
}

const server = http.createServer(traceHttpServer(tracer, app, { samplingRules: ALWAYS }));
const port = await listen(server);
assert.equal(tracer.isTracingEnabled(), true);
// Captured once server mode is on.
const late = tracer.captureAWSv3Client(dynamoClient());
after(() => {
  server.close();
  dynamo.close();
  secure?.close();
});

/** The segment's children (flattened: each with its parent's id), oldest first. */
const children = (seg) => flatten([seg]).filter((e) => e.id !== seg.id).sort((a, b) => a.start_time - b.start_time);

/** One request calling DynamoDB twice through `which` client; checks the segment and its two aws children. */
async function dynamoRequest(which) {
  seen.dynamo.length = 0;
  const t = newTraceHeader(1);
  const res = await request(port, { path: `/dynamo?id=7&client=${which}`, headers: { 'X-Amzn-Trace-Id': t.header } });
  assert.deepEqual(JSON.parse(res.body), { item: '7', error: 'ResourceNotFoundException' });
  const [seg] = await sink.take(1);
  assert.equal(seg.name, 'orders-api');
  assert.equal(seg.trace_id, t.root);
  assert.equal(seg.parent_id, t.parent);
  const subs = children(seg);
  assert.deepEqual(subs.map((s) => [s.name, s.namespace]), [['DynamoDB', 'aws'], ['DynamoDB', 'aws']], 'one aws subsegment per call: the http capture does not double them');
  const [ok, missing] = subs;
  for (const s of subs) {
    assert.equal(s.parent_id, seg.id, 'a child of the request segment');
    assert.equal(s.aws.operation, 'GetItem');
    assert.equal(s.aws.region, 'eu-west-1');
  }
  assert.equal(ok.aws.table_name, 'orders');
  assert.equal(ok.aws.request_id, 'REQ-OK');
  assert.equal(ok.http.response.status, 200);
  assert.equal(ok.error ?? ok.fault, undefined);
  assert.equal(missing.aws.table_name, 'missing');
  assert.equal(missing.error, true);
  assert.equal(missing.cause.exceptions[0].type, 'ResourceNotFoundException');
  assert.deepEqual(seen.dynamo.map((s) => s.table), ['orders', 'missing']);
  for (const [i, s] of seen.dynamo.entries()) {
    assert.equal(s.target, 'DynamoDB_20120810.GetItem');
    assert.equal(s.header, `Root=${seg.trace_id};Parent=${subs[i].id};Sampled=1`);
  }
}

test('DynamoDB (client captured once server mode is on) inside a request: aws subsegments of its segment, the header naming them', async () => {
  await dynamoRequest('late');
});

// The usual order in a server module. Until lib/tracer.js `captureAWSv3Client` instrumented the
// clients of a Tracer off only for running outside Lambda (`offOutsideLambdaOnly`), such a
// client was returned uninstrumented and its calls were only seen by the http capture: remote
// subsegments named 127.0.0.1, without operation, table, region or request id.
test('DynamoDB (client captured at start-up, before traceHttpServer) inside a request: aws subsegments', async () => {
  await dynamoRequest('early');
});

test('https over TLS inside a request: a remote subsegment of its segment, the header naming it', { skip: noOpenssl }, async () => {
  seen.secure.length = 0;
  // No incoming header: a new trace.
  const res = await request(port, { path: '/https?id=9' });
  assert.equal(JSON.parse(res.body).secure, 'secure');
  const [seg] = await sink.take(1);
  assert.equal(seg.parent_id, undefined);
  assert.equal(res.headers['x-amzn-trace-id'], `Root=${seg.trace_id}`);
  const [remote, ...others] = children(seg);
  assert.deepEqual(others, []);
  assert.equal(remote.parent_id, seg.id);
  assert.equal(remote.name, '127.0.0.1');
  assert.equal(remote.namespace, 'remote');
  assert.deepEqual(remote.http, { request: { method: 'GET', url: `https://127.0.0.1:${securePort}/items/9`, traced: true }, response: { status: 200, content_length: 6 } });
  assert.deepEqual(seen.secure, [{ url: '/items/9?q=1', header: `Root=${seg.trace_id};Parent=${remote.id};Sampled=1`, encrypted: true }]);
});

test('concurrent requests calling both: each call is a child of its own request segment', { skip: noOpenssl }, async () => {
  seen.dynamo.length = 0;
  seen.secure.length = 0;
  const ids = Array.from({ length: 8 }, (_, i) => `c${i}`);
  const answers = await Promise.all(ids.map((id, i) => request(port, { path: `/both?id=${id}&wait=${(ids.length - i) * 4}` })));
  assert.deepEqual(answers.map((a) => JSON.parse(a.body).item), ids);
  const docs = await sink.take(ids.length);
  assert.equal(new Set(docs.map((d) => d.trace_id)).size, ids.length, 'one trace each');
  for (const seg of docs) {
    const subs = children(seg);
    assert.deepEqual(subs.map((s) => s.name), ['DynamoDB', 'DynamoDB', '127.0.0.1']);
    for (const s of subs) assert.equal(s.parent_id, seg.id);
    const [ok, missing, remote] = subs;
    // The id the request was made with, as its calls sent it.
    const id = new URL(remote.http.request.url).pathname.split('/').pop();
    const sentBy = (list, sub) => list.filter((s) => s.header === `Root=${seg.trace_id};Parent=${sub.id};Sampled=1`);
    assert.equal(sentBy(seen.dynamo, ok).length, 1);
    assert.equal(sentBy(seen.dynamo, ok)[0].table, 'orders');
    assert.equal(sentBy(seen.dynamo, missing)[0].table, 'missing');
    assert.deepEqual(sentBy(seen.secure, remote).map((s) => s.url), [`/items/${id}?q=1`]);
  }
  assert.equal(seen.dynamo.length, ids.length * 2);
  assert.equal(seen.secure.length, ids.length);
});

test('Sampled=0 on the request: the calls still carry its trace id and the decision, nothing is sent', { skip: noOpenssl }, async () => {
  seen.dynamo.length = 0;
  seen.secure.length = 0;
  const t = newTraceHeader(0);
  const res = await request(port, { path: '/both?id=u1', headers: { 'X-Amzn-Trace-Id': t.header } });
  assert.equal(JSON.parse(res.body).item, 'u1');
  assert.equal(seen.dynamo.length, 2);
  for (const s of [...seen.dynamo, ...seen.secure]) assert.match(s.header, new RegExp(`^Root=${t.root};Parent=[0-9a-f]{16};Sampled=0$`));
  assert.equal(seen.secure.length, 1);
  await sink.none();
});

test('outside a request the client and https work untraced', { skip: noOpenssl }, async () => {
  seen.dynamo.length = 0;
  seen.secure.length = 0;
  const out = await late.send(new GetItemCommand({ TableName: 'orders', Key: { id: { S: 'x' } } }));
  assert.deepEqual(out.Item, { id: { S: 'x' } });
  assert.equal(await secureGet('/outside'), 'secure');
  assert.equal(seen.dynamo[0].header, undefined);
  assert.equal(seen.secure[0].header, undefined);
  await sink.none();
});
