// The two ways server mode reads a request and its response (lib/access.js): `direct` (plain
// property loads, for Node's own objects) and `generic` (Reflect.get, for Express's objects,
// whose hidden classes are new for every request) must read the same thing. Checked on real
// requests over 127.0.0.1, on Node's objects and on Express's, when the request begins and
// when its response has closed. `appEntry` (traceExpressApp) is made of the two: `direct` for
// what is read when the request begins, `generic` for what is read at its end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { listen, request } from './helpers/server.mjs';

const require = createRequire(import.meta.url);
const express = require('express');
// Internal: not among the package's exports, loaded from the installed package's files.
const { direct, generic, appEntry } = require(path.join(path.dirname(require.resolve('oxray')), 'access.js'));

const REQUEST_FIELDS = ['rawHeaders', 'url', 'method', 'socket'];
const RESPONSE_FIELDS = ['headersSent', 'writableFinished', 'statusCode', 'contentLength', 'setHeader'];

/** Every field read both ways; fails on the first difference. */
function sameBothWays(req, res) {
  for (const field of REQUEST_FIELDS) assert.equal(generic[field](req), direct[field](req), field);
  for (const field of RESPONSE_FIELDS) assert.equal(generic[field](res), direct[field](res), field);
  for (const key of Object.getOwnPropertySymbols(res)) assert.equal(generic.symbol(res, key), direct.symbol(res, key), String(key));
}

/**
 * Serves one request with `handle(req, res, done)` as the server's listener; `done(check)`
 * runs `check` when the response has closed. Resolves with what the checks saw.
 */
async function serveOne(makeListener) {
  const seen = [];
  let resolveClosed;
  const closed = new Promise((resolve) => (resolveClosed = resolve));
  const listener = makeListener((req, res) => {
    seen.push({ at: 'begin', method: generic.method(req), url: generic.url(req), sent: generic.headersSent(res) });
    sameBothWays(req, res);
    let closes = 0;
    // Both ways register a listener that runs at the close.
    direct.onClose(res, () => closes++);
    generic.onClose(res, () => {
      closes++;
      try {
        sameBothWays(req, res);
        seen.push({ at: 'close', closes, status: generic.statusCode(res), length: generic.contentLength(res), finished: generic.writableFinished(res) });
        resolveClosed(null);
      } catch (err) {
        resolveClosed(err);
      }
    });
  });
  const server = http.createServer(listener);
  const port = await listen(server);
  try {
    const answer = await request(port, { method: 'POST', path: '/items/7?x=1', headers: { 'User-Agent': 'access-test' }, body: 'hello' });
    const problem = await closed;
    if (problem) throw problem;
    return { answer, seen };
  } finally {
    server.close();
  }
}

test('Node objects: direct and generic read the same fields', async () => {
  const { answer, seen } = await serveOne((check) => (req, res) => {
    check(req, res);
    res.setHeader('content-type', 'text/plain');
    res.statusCode = 201;
    res.end('created');
  });
  assert.equal(answer.status, 201);
  assert.deepEqual(seen, [
    { at: 'begin', method: 'POST', url: '/items/7?x=1', sent: false },
    { at: 'close', closes: 2, status: 201, length: 7, finished: true },
  ]);
});

test('Express objects (prototype set per request): direct and generic read the same fields', async () => {
  const { answer, seen } = await serveOne((check) => {
    const app = express();
    app.use((req, res, next) => {
      check(req, res);
      next();
    });
    app.post('/items/:id', (req, res) => res.status(202).send('accepted'));
    return app;
  });
  assert.equal(answer.status, 202);
  assert.deepEqual(seen, [
    { at: 'begin', method: 'POST', url: '/items/7?x=1', sent: false },
    { at: 'close', closes: 2, status: 202, length: 8, finished: true },
  ]);
});

test('a response cut short by the client: both ways see it unfinished at the close', async () => {
  let resolveClosed;
  const closed = new Promise((resolve) => (resolveClosed = resolve));
  const app = express();
  app.get('/slow', (req, res) => {
    res.status(200).set('content-type', 'text/plain');
    res.write('part of it');
    generic.onClose(res, () => {
      try {
        sameBothWays(req, res);
        resolveClosed({ finished: generic.writableFinished(res), sent: generic.headersSent(res), status: generic.statusCode(res) });
      } catch (err) {
        resolveClosed(err);
      }
    });
    // The response is never ended: the client goes away first.
  });
  const server = http.createServer(app);
  const port = await listen(server);
  try {
    await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve(null);
        });
      });
      req.on('error', (err) => (err.code === 'ECONNRESET' ? resolve(null) : reject(err)));
    });
    const seen = await closed;
    if (seen instanceof Error) throw seen;
    assert.deepEqual(seen, { finished: false, sent: true, status: 200 });
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('appEntry: the begin read as direct reads it, the end as generic reads it', () => {
  for (const field of [...REQUEST_FIELDS, 'setHeader', 'symbol', 'onClose']) assert.equal(appEntry[field], direct[field], field);
  for (const field of ['headersSent', 'writableFinished', 'statusCode', 'contentLength']) assert.equal(appEntry[field], generic[field], field);
  assert.deepEqual(Object.keys(appEntry).sort(), Object.keys(direct).sort());
});
