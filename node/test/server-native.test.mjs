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

/** Begins one sampled request; returns its handle. */
function begin(path) {
  native.serveRequest('shop', HEADER, 'h', 'GET', path, false, undefined, '10.0.0.1', undefined);
  return native.serverSlots[0];
}

test('endRequestLater notes the end and its time; flushRequests ends what was noted', () => {
  native.flushRequests();
  native.takeDocuments();
  const first = begin('/first');
  const second = begin('/second');
  const before = Date.now();
  assert.equal(native.endRequestLater(first, 200, 5), true, 'the first end noted: the caller schedules the flush');
  assert.equal(native.endRequestLater(second, 404, undefined), false);
  const noted = Date.now();
  assert.deepEqual(native.takeDocuments(), [], 'nothing ended before the flush');
  const until = Date.now() + 30;
  while (Date.now() < until);
  assert.equal(native.flushRequests(), 2);
  const docs = native.takeDocuments().map((text) => {
    const doc = JSON.parse(text);
    validateDocument(doc, text);
    return doc;
  });
  assert.deepEqual(docs.map((d) => d.http.request.url), ['http://h/first', 'http://h/second']);
  assert.deepEqual(docs.map((d) => d.http.response), [{ status: 200, content_length: 5 }, { status: 404 }]);
  assert.equal(docs[1].error, true);
  for (const doc of docs) {
    // Ended at the time noted, not at the flush 30 ms later (Date.now() is in whole ms).
    assert.ok(doc.end_time * 1000 >= before - 1 && doc.end_time * 1000 <= noted + 1, `${doc.end_time * 1000} not in [${before}, ${noted}]`);
  }
  assert.equal(native.flushRequests(), 0, 'nothing noted twice');
});

test('flushRequests skips a request ended meanwhile and a stale handle', () => {
  const h = begin('/ended-meanwhile');
  assert.equal(native.endRequestLater(h, 200, 1), true);
  assert.equal(native.endRequest(h, 200, 1), true);
  assert.equal(native.endRequestLater(0, 200, 1), false);
  assert.equal(native.flushRequests(), 0);
  assert.equal(native.takeDocuments().length, 1, 'sent once, by endRequest');
});

test('past 1,024 noted ends the noted requests are ended without waiting for a flush', () => {
  native.flushRequests();
  native.takeDocuments();
  const handles = Array.from({ length: 1030 }, (_, i) => begin(`/bulk/${i}`));
  for (const h of handles) native.endRequestLater(h, 200, 0);
  assert.equal(native.takeDocuments().length, 1024);
  assert.equal(native.flushRequests(), 6);
  assert.equal(native.takeDocuments().length, 6);
});
