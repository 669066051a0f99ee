// A real AWS SDK v3 DynamoDB client pointed at a local stand-in endpoint (an http server on
// 127.0.0.1 answering the DynamoDB JSON protocol; it is not DynamoDB).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setupLambda, invoke, fakeContext, decorate, flatten } from './helpers/lambda.mjs';
import { captureLogs } from './helpers/logs.mjs';

const sink = await setupLambda({ AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_REGION: 'eu-west-1' });
const { Tracer } = await import('oxray');
const { DynamoDBClient, GetItemCommand } = await import('@aws-sdk/client-dynamodb');
const tracer = new Tracer();

const seen = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const input = JSON.parse(body);
    seen.push({ target: req.headers['x-amz-target'], header: req.headers['x-amzn-trace-id'] });
    if (input.TableName === 'missing') {
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'REQ-404' });
      res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', message: 'Requested resource not found' }));
      return;
    }
    const out = JSON.stringify({ Item: { id: { S: '1' } } });
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'REQ-OK', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
after(() => server.close());

const client = tracer.captureAWSv3Client(
  new DynamoDBClient({ endpoint: `http://127.0.0.1:${server.address().port}`, region: 'eu-west-1', maxAttempts: 1 }),
);
assert.equal(tracer.captureAWSv3Client(client), client, 'idempotent, returns the client');

class Store {
  async handler() {
    await client.send(new GetItemCommand({ TableName: 'orders', Key: { id: { S: '1' } }, ConsistentRead: true }));
    try {
      await client.send(new GetItemCommand({ TableName: 'missing', Key: { id: { S: '1' } } }));
    } catch (err) {
      return err.name;
    }
    return 'no error';
  }
}
decorate(Store, 'handler', tracer.captureLambdaHandler());

test('DynamoDB calls: aws subsegments with operation, region, request id, table, status', async () => {
  const { result } = await invoke(() => new Store().handler({}, fakeContext()));
  assert.equal(result, 'ResourceNotFoundException');
  const docs = await sink.take(1);
  const calls = docs[0].subsegments.sort((a, b) => a.start_time - b.start_time);
  assert.equal(calls.length, 2, 'one subsegment per call: the http capture does not double them');
  const [ok, missing] = calls;
  assert.equal(ok.name, 'DynamoDB');
  assert.equal(ok.namespace, 'aws');
  assert.deepEqual(ok.aws, { operation: 'GetItem', table_name: 'orders', consistent_read: true, region: 'eu-west-1', request_id: 'REQ-OK', retries: 0 });
  assert.equal(ok.http.response.status, 200);
  assert.equal(missing.error, true);
  assert.equal(missing.fault, undefined);
  assert.equal(missing.aws.request_id, 'REQ-404');
  assert.equal(missing.cause.exceptions[0].type, 'ResourceNotFoundException');
  assert.equal(missing.cause.exceptions[0].remote, true);
  assert.equal(seen.length, 2);
  for (const [i, s] of seen.entries()) {
    assert.equal(s.target, 'DynamoDB_20120810.GetItem');
    assert.equal(s.header, `Root=${docs[0].trace_id};Parent=${calls[i].id};Sampled=1`);
  }
  assert.equal(flatten(docs).length, 3);
});

test('outside a handler the client works untraced', async () => {
  delete process.env._X_AMZN_TRACE_ID;
  const out = await client.send(new GetItemCommand({ TableName: 'orders', Key: { id: { S: '1' } } }));
  assert.deepEqual(out.Item, { id: { S: '1' } });
  await sink.none();
});

test('AWS SDK v2 entry points (tracer and provider): a warning, the argument back unchanged, nothing thrown', async () => {
  const logs = captureLogs();
  try {
    const sdk = { DynamoDB: function DynamoDB() {} };
    const v2client = { service: { api: {} }, makeRequest() {} };
    assert.equal(tracer.captureAWS(sdk), sdk);
    assert.equal(tracer.captureAWSClient(v2client), v2client);
    assert.equal(tracer.provider.captureAWS(sdk), sdk);
    assert.equal(tracer.provider.captureAWSClient(v2client), v2client);
    assert.deepEqual(Object.keys(v2client), ['service', 'makeRequest'], 'the client is not changed');
    const lines = await logs.settle();
    assert.equal(lines.filter((l) => /captureAWS\(\) \(AWS SDK v2\) is not supported/.test(l)).length, 2, lines.join('\n'));
    assert.equal(lines.filter((l) => /captureAWSClient\(\) \(AWS SDK v2\) is not supported/.test(l)).length, 2, lines.join('\n'));
  } finally {
    logs.restore();
  }
  await sink.none();
});
