// Server mode through Express: requests a client pipelines on one kept-alive connection (the
// next one read while the previous response is still open) are each traced, with their own
// segment current in their handlers; an app mounted inside a traced app, or served by
// traceHttpServer, still makes one segment per request.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { setupServerMode, listen, ALWAYS } from './helpers/server.mjs';
import { newTraceHeader } from './helpers/lambda.mjs';

const sink = await setupServerMode();
const { Tracer } = await import('oxray');
const { traceExpress, traceExpressApp, traceHttpServer } = await import('oxray/middleware');
const { default: express } = await import('express');
const tracer = new Tracer({ serviceName: 'piped' });

const app = express();
app.use(traceExpress(tracer, { samplingRules: ALWAYS }));
const inner = express();
inner.use(traceExpress(tracer));
inner.get('/inner', (req, res) => res.send(`inner ${tracer.getRootXrayTraceId()}`));
app.use('/sub', inner);
app.get('/items/:id', (req, res) => res.send(`${req.params.id} ${tracer.getRootXrayTraceId()}`));
const server = http.createServer(app);
const port = await listen(server);
after(() => server.close());
// The same kind of app (traceExpress first) handed to traceHttpServer as its handler.
const wrapped = express();
wrapped.use(traceExpress(tracer));
wrapped.get('/w', (req, res) => res.send(`w ${tracer.getRootXrayTraceId()}`));
const wrappedServer = http.createServer(traceHttpServer(tracer, wrapped, { samplingRules: ALWAYS }));
const wrappedPort = await listen(wrappedServer);
after(() => wrappedServer.close());

// The same routes traced from the app's entry (traceExpressApp), with a traced app mounted in it.
const entryApp = traceExpressApp(tracer, express(), { samplingRules: ALWAYS });
const entryInner = traceExpressApp(tracer, express());
entryInner.get('/inner', (req, res) => res.send(`inner ${tracer.getRootXrayTraceId()}`));
entryApp.use('/sub', entryInner);
entryApp.get('/items/:id', (req, res) => res.send(`${req.params.id} ${tracer.getRootXrayTraceId()}`));
const entryServer = http.createServer(entryApp);
const entryPort = await listen(entryServer);
after(() => entryServer.close());

/** Sends `texts` in one write on one connection; resolves with the raw answer once `count` answers came. */
function pipeline(texts, count, to = port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(to, '127.0.0.1', () => socket.write(texts.join('')));
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      raw += d;
      // Every status line seen: the bodies follow within the same few writes.
      if (raw.split('HTTP/1.1 200').length - 1 === count) {
        setTimeout(() => {
          socket.destroy();
          resolve(raw);
        }, 50);
      }
    });
    socket.on('error', reject);
  });
}

test('pipelined requests on one connection are each traced under their own trace', async () => {
  const headers = [newTraceHeader(1), newTraceHeader(1), newTraceHeader(1)];
  const raw = await pipeline(
    headers.map((h, i) => `GET /items/${i} HTTP/1.1\r\nHost: x\r\nX-Amzn-Trace-Id: ${h.header}\r\n\r\n`),
    3,
  );
  const docs = await sink.take(3);
  assert.deepEqual(docs.map((d) => d.trace_id).sort(), headers.map((h) => h.root).sort());
  for (const [i, h] of headers.entries()) assert.ok(raw.includes(`${i} ${h.root}`), `request ${i} ran under its own trace`);
  await sink.none();
});

test('an app mounted in a traced app: one segment per request, pipelined or not', async () => {
  const headers = [newTraceHeader(1), newTraceHeader(1)];
  const raw = await pipeline(
    headers.map((h) => `GET /sub/inner HTTP/1.1\r\nHost: x\r\nX-Amzn-Trace-Id: ${h.header}\r\n\r\n`),
    2,
  );
  const docs = await sink.take(2);
  assert.deepEqual(docs.map((d) => d.trace_id).sort(), headers.map((h) => h.root).sort());
  for (const h of headers) assert.ok(raw.includes(`inner ${h.root}`));
  await sink.none();
});

test('an Express app with traceExpress served by traceHttpServer: one segment per request', async () => {
  const headers = [newTraceHeader(1), newTraceHeader(1)];
  const raw = await pipeline(
    headers.map((h) => `GET /w HTTP/1.1\r\nHost: x\r\nX-Amzn-Trace-Id: ${h.header}\r\n\r\n`),
    2,
    wrappedPort,
  );
  const docs = await sink.take(2);
  assert.deepEqual(docs.map((d) => d.trace_id).sort(), headers.map((h) => h.root).sort());
  for (const h of headers) assert.ok(raw.includes(`w ${h.root}`));
  // One answer header per response, not one per middleware.
  assert.equal(raw.split(/\r\nX-Amzn-Trace-Id:/i).length - 1, 2);
  await sink.none();
});

test('traceExpressApp: pipelined requests, and an app mounted in the traced one, each traced once under their own trace', async () => {
  const headers = [newTraceHeader(1), newTraceHeader(1), newTraceHeader(1), newTraceHeader(1)];
  const paths = ['/items/0', '/sub/inner', '/items/2', '/sub/inner'];
  const raw = await pipeline(
    headers.map((h, i) => `GET ${paths[i]} HTTP/1.1\r\nHost: x\r\nX-Amzn-Trace-Id: ${h.header}\r\n\r\n`),
    4,
    entryPort,
  );
  const docs = await sink.take(4);
  assert.deepEqual(docs.map((d) => d.trace_id).sort(), headers.map((h) => h.root).sort());
  for (const [i, h] of headers.entries()) assert.ok(raw.includes(`${paths[i].startsWith('/sub') ? 'inner' : i} ${h.root}`), `request ${i} ran under its own trace`);
  assert.equal(raw.split(/\r\nX-Amzn-Trace-Id:/i).length - 1, 4);
  await sink.none();
});
