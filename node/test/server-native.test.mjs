// Server mode's per-request crossing (`serveRequest`, bindings/node/src/server_fast.rs) called on
// the addon directly, with a recorder that keeps documents in memory: how the request's strings
// are read (ASCII, Latin-1 and other characters, lone surrogates, strings longer than the
// addon's stack buffer, values that are not strings) and what the end records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { validateDocument } from './helpers/validate.mjs';

for (const name of ['LAMBDA_TASK_ROOT', 'AWS_EXECUTION_ENV', '_X_AMZN_TRACE_ID', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_XRAY_TRACING_NAME']) delete process.env[name];
const require = createRequire(import.meta.url);
const native = require('oxray/native');
assert.equal(native.init(JSON.stringify({ emit_mode: 'memory' })), null);
assert.equal(native.installServerFast(native), true);
const HEADER = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';

/** One request through serveRequest and endRequest; returns the answer and the document. */
function serve(name, header, host, method, path, encrypted, agent, remote, forwarded, status = 200, length = 2) {
  const answer = native.serveRequest(name, header, host, method, path, encrypted, agent, remote, forwarded);
  const [handle, sampled] = native.serverSlots;
  assert.equal(native.endRequest(handle, status, length), true);
  const docs = native.takeDocuments().map((text) => {
    const doc = JSON.parse(text);
    validateDocument(doc, text);
    return doc;
  });
  return { answer, sampled, doc: docs[0] };
}

test('ASCII values are recorded as they are', () => {
  const { answer, sampled, doc } = serve('shop', HEADER, 'example.com:8080', 'get', '/items/1', true, 'curl/8.0', '10.1.2.3', undefined, 201, 17);
  assert.equal(answer, 'Root=1-5759e988-bd862e3fe1be46a994272793');
  assert.equal(sampled, 1);
  assert.equal(doc.name, 'shop');
  assert.equal(doc.trace_id, '1-5759e988-bd862e3fe1be46a994272793');
  assert.equal(doc.parent_id, '53995c3f42cd8ad8');
  assert.deepEqual(doc.http, {
    request: { method: 'GET', url: 'https://example.com:8080/items/1', user_agent: 'curl/8.0', client_ip: '10.1.2.3' },
    response: { status: 201, content_length: 17 },
  });
});

test('Latin-1 and other characters become UTF-8; a lone surrogate becomes U+FFFD', () => {
  const { doc } = serve('shop', HEADER, 'caf\u00e9.example', 'GET', '/\u0141\u00f3d\u017a/\u{1F600}', false, 'agent \ud800 end', '10.0.0.1', undefined);
  assert.equal(doc.http.request.url, 'http://caf\u00e9.example/\u0141\u00f3d\u017a/\u{1F600}');
  assert.equal(doc.http.request.user_agent, 'agent \ufffd end');
});

/** What the core keeps of a URL: its first 250 characters. */
const kept = (url) => [...url].slice(0, 250).join('');

test('values longer than the stack buffer are read whole, ASCII or not', () => {
  const path = `/${'a'.repeat(300)}`;
  const wide = `/${'\u00e9'.repeat(300)}`;
  const forwarded = ['192.0.2.1', ...Array.from({ length: 60 }, (_, i) => `10.0.1.${i}`)].join(', ');
  assert.equal(serve('shop', HEADER, 'h', 'GET', path, false, undefined, '10.0.0.1', forwarded).doc.http.request.url, kept(`http://h${path}`));
  const { doc } = serve('shop', HEADER, 'h', 'GET', wide, false, undefined, '10.0.0.1', forwarded);
  assert.equal(doc.http.request.url, kept(`http://h${wide}`));
  assert.equal(doc.http.request.client_ip, '192.0.2.1');
  // At the buffer's edge (256 UTF-16 units): 127, 128 and 130 two-unit characters (254, 256
  // and 260 units, the last two cut inside a pair by the first read), fewer than the 250
  // characters the core keeps of a user agent.
  for (const count of [127, 128, 130]) {
    const agent = '\u{1F600}'.repeat(count);
    assert.equal(serve('shop', HEADER, 'h', 'GET', '/', false, agent).doc.http.request.user_agent, agent, `${count}`);
  }
});

test('values that are not strings read as absent; no trace header starts a new trace', () => {
  const { answer, doc } = serve('shop', 42, 'h', 'GET', '/', false, {}, null, 7);
  assert.match(answer, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
  assert.equal(doc.parent_id, undefined);
  assert.equal(doc.http.request.user_agent, undefined);
  assert.equal(doc.http.request.client_ip, undefined);
});

test('Sampled=0: nothing recorded, the answer still given', () => {
  const answer = native.serveRequest('shop', HEADER.replace('Sampled=1', 'Sampled=0'), 'h', 'GET', '/', false, 'a', 'b', undefined);
  const [handle, sampled] = native.serverSlots;
  assert.equal(answer, 'Root=1-5759e988-bd862e3fe1be46a994272793');
  assert.equal(sampled, 0);
  assert.equal(native.endRequest(handle, 200, 2), true);
  assert.deepEqual(native.takeDocuments(), []);
});
