// One server-mode benchmark process. It runs five real HTTP servers on 127.0.0.1 side by side —
// a plain `http.createServer` handler, the same handler under `traceHttpServer`, an Express app
// with one route, the same app behind the `traceExpress` middleware, and the same app traced
// from its entry by `traceExpressApp` — and, in the same process, one
// keep-alive connection to each that pipelines GET requests (HTTP/1.1 pipelining: the server
// answers them one by one). Blocks of BLOCK requests go to each server in turn, ROUNDS times,
// and each traced block is compared with the untraced block of the same round (the same
// machine load): on a busy 2-core machine only such paired differences are stable.
// Requests to the traced servers carry `X-Amzn-Trace-Id` with Sampled=1 (recorded and sent to
// the UDP address of AWS_XRAY_DAEMON_ADDRESS) or Sampled=0 (decided, not recorded).
// The untraced servers run in the same process as the traced ones, so they pay whatever the
// process-wide context tracking costs (AsyncLocalStorage, enabled once oxray serves requests);
// ALS_FLOOR=1 adds an untraced server that only enters an AsyncLocalStorage store per request,
// an untraced Express app with one middleware that only calls next(), and one whose app.handle
// is wrapped by a function that only calls it, to show those floors, and a second untraced
// app (the same code again) for the spread between two untraced apps. Prints one JSON line: medians in µs per request.
import http from 'node:http';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const ROUNDS = Number(process.env.ROUNDS ?? 40);
const BLOCK = Number(process.env.BLOCK ?? 1000);
const PIPELINE = 32;
const oxrayDir = process.env.OXRAY_NODE_DIR;
const express = require('express');
const { Tracer } = require(`${oxrayDir}/lib/index.js`);
const { traceHttpServer, traceExpress, traceExpressApp } = require(`${oxrayDir}/lib/middleware.js`);

const now = () => Number(process.hrtime.bigint()) / 1000;
/** On-CPU time of the main thread (µs), from the scheduler's accounting. */
const threadCpu = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
const processCpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

function handler(req, res) {
  res.setHeader('content-type', 'text/plain');
  res.end('ok');
}

function expressApp(before) {
  const app = express();
  if (before) app.use(before);
  app.get('/items/:id', (req, res) => res.send('ok'));
  return app;
}

const tracer = new Tracer({ serviceName: 'bench' });
const servers = {
  http: http.createServer(handler),
  httpTraced: http.createServer(traceHttpServer(tracer, handler)),
  express: http.createServer(expressApp(null)),
  expressTraced: http.createServer(expressApp(traceExpress(tracer))),
  expressAppTraced: http.createServer(traceExpressApp(tracer, expressApp(null))),
};
// OXRAY_BASELINE_DIR: the same traced servers with another build of oxray, in the same
// process and rounds (a same-run A/B comparison of two builds).
const baselineDir = process.env.OXRAY_BASELINE_DIR;
if (baselineDir) {
  const base = require(`${baselineDir}/lib/index.js`);
  const baseMiddleware = require(`${baselineDir}/lib/middleware.js`);
  const baseTracer = new base.Tracer({ serviceName: 'bench' });
  servers.httpTracedBase = http.createServer(baseMiddleware.traceHttpServer(baseTracer, handler));
  servers.expressTracedBase = http.createServer(expressApp(baseMiddleware.traceExpress(baseTracer)));
  servers.expressAppTracedBase = http.createServer(baseMiddleware.traceExpressApp(baseTracer, expressApp(null)));
}
if (process.env.ALS_FLOOR === '1') {
  const { AsyncLocalStorage } = require('node:async_hooks');
  const als = new AsyncLocalStorage();
  servers.httpAls = http.createServer((req, res) => {
    als.enterWith({ req });
    handler(req, res);
  });
  // What any middleware costs Express (one more layer for its router to walk), untraced.
  servers.expressNoop = http.createServer(expressApp((req, res, next) => next()));
  // What wrapping the app's entry costs by itself (traceExpressApp's place), untraced.
  const wrappedNoop = expressApp(null);
  const handle = wrappedNoop.handle;
  wrappedNoop.handle = function passThrough(req, res, callback) {
    return Reflect.apply(handle, this, [req, res, callback]);
  };
  servers.expressNoopEntry = http.createServer(wrappedNoop);
  // A second untraced app of the same code (an A/A pair): how far two untraced apps differ.
  servers.expressAgain = http.createServer(expressApp(null));
}

const MARK = 'HTTP/1.1 200';
const traceHeader = (sampled) => `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=${sampled}`;
/**
 * Request texts, made before measuring (the client's work must not differ between cases):
 * each with its own trace header, decided upstream (Sampled=1 or 0). The untraced servers get
 * the same bytes (with Sampled=1 headers) and ignore the header.
 */
const POOL = 4096;
const pools = Object.fromEntries(
  [0, 1].map((sampled) => [
    sampled,
    Array.from({ length: POOL }, () => `GET /items/1?x=1 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: oxray-bench\r\nX-Amzn-Trace-Id: ${traceHeader(sampled)}\r\n\r\n`),
  ]),
);
let next = 0;
/** PIPELINE requests from the pool of `sampled`, as one write. */
function batchText(n, sampled) {
  let text = '';
  for (let i = 0; i < n; i++) text += pools[sampled][next++ % POOL];
  return text;
}

/** A keep-alive connection that sends `count` requests, PIPELINE at a time, and waits for the answers. */
async function connect(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.keepAliveTimeout = 600000;
  // No request or header time limits: under valgrind a pipelined request can wait longer.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  const socket = net.connect(server.address().port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.setEncoding('latin1');
  await new Promise((resolve) => socket.once('connect', resolve));
  return (count, sampled) =>
    new Promise((resolve) => {
      let answered = 0;
      let sent = 0;
      let carry = '';
      const sendBatch = () => {
        const n = Math.min(PIPELINE, count - sent);
        sent += n;
        socket.write(batchText(n, sampled));
      };
      const onData = (chunk) => {
        const text = carry + chunk;
        for (let at = text.indexOf(MARK); at !== -1; at = text.indexOf(MARK, at + MARK.length)) answered++;
        carry = text.slice(-(MARK.length - 1));
        if (answered === count) {
          socket.off('data', onData);
          resolve();
        } else if (answered === sent) sendBatch();
      };
      socket.on('data', onData);
      sendBatch();
    });
}

const clients = {};
for (const [name, server] of Object.entries(servers)) clients[name] = await connect(server);

// name → [client, upstream decision]; the client builds the same requests for every case.
const cases = {
  http: ['http', 1],
  httpSampled: ['httpTraced', 1],
  httpUnsampled: ['httpTraced', 0],
  express: ['express', 1],
  expressSampled: ['expressTraced', 1],
  expressUnsampled: ['expressTraced', 0],
  expressAppSampled: ['expressAppTraced', 1],
  expressAppUnsampled: ['expressAppTraced', 0],
  ...(servers.httpAls ? { httpAls: ['httpAls', 1], expressNoop: ['expressNoop', 1], expressNoopEntry: ['expressNoopEntry', 1], expressAgain: ['expressAgain', 1] } : {}),
  ...(servers.httpTracedBase
    ? { httpSampledBase: ['httpTracedBase', 1], httpUnsampledBase: ['httpTracedBase', 0], expressSampledBase: ['expressTracedBase', 1], expressUnsampledBase: ['expressTracedBase', 0], expressAppSampledBase: ['expressAppTracedBase', 1], expressAppUnsampledBase: ['expressAppTracedBase', 0] }
    : {}),
};
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, { wall: [], thread: [], process: [] }]));
async function measure(name) {
  const [server, sampled] = cases[name];
  const client = clients[server];
  const [w0, t0, p0] = [now(), threadCpu(), processCpu()];
  await client(BLOCK, sampled);
  const [w1, t1, p1] = [now(), threadCpu(), processCpu()];
  samples[name].wall.push((w1 - w0) / BLOCK);
  samples[name].thread.push((t1 - t0) / BLOCK);
  samples[name].process.push((p1 - p0) / BLOCK);
}

// CASE=<name> REQUESTS=<n>: after the same warm-up, only `n` requests of that case and no
// figures, for counting instructions (`valgrind --tool=callgrind --separate-threads=yes`): the
// difference between two request counts, divided by the difference of the counts, is the cost
// of one request on each thread.
if (process.env.CASE) {
  const only = process.env.CASE;
  const [server, sampled] = cases[only];
  // Every server first (the process-wide context tracking is then on, as in the measured run).
  for (const [other, decision] of Object.values(cases)) await clients[other](BLOCK, decision);
  // WARMUP=<blocks> (default 3): more blocks of the case first, so that its code is compiled
  // before the counted requests (TurboFan compiles on the main thread under --predictable).
  for (let i = 0; i < Number(process.env.WARMUP ?? 3); i++) await clients[server](BLOCK, sampled);
  // CALLGRIND_CONTROL=1 (with `--instr-atstart=no`): instructions are counted only from here,
  // so one run gives the cost per request without start-up and warm-up.
  const control = (on) => new Promise((resolve) => spawn('callgrind_control', ['-i', on, String(process.pid)], { stdio: 'ignore' }).on('close', resolve));
  if (process.env.CALLGRIND_CONTROL === '1') await control('on');
  await clients[server](Number(process.env.REQUESTS ?? BLOCK), sampled);
  if (process.env.CALLGRIND_CONTROL === '1') await control('off');
  for (const s of Object.values(servers)) s.close();
  for (const s of Object.values(servers)) s.closeAllConnections?.();
  console.log(JSON.stringify({ case: only, requests: Number(process.env.REQUESTS ?? BLOCK) }));
  process.exit(0);
}

// Warm-up: every path compiled and the sender thread started.
for (const name of Object.keys(cases)) for (let i = 0; i < 3; i++) await measure(name);
for (const s of Object.values(samples)) for (const k of Object.keys(s)) s[k].length = 0;
for (let r = 0; r < ROUNDS; r++) {
  // Each round in a different order, so that no case always follows the same one.
  const order = Object.keys(cases).sort(() => Math.random() - 0.5);
  for (const name of order) await measure(name);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Median over rounds of (case − baseline) for one metric. */
const paired = (name, base, metric) => median(samples[name][metric].map((v, i) => v - samples[base][metric][i]));
const result = { rounds: ROUNDS, block: BLOCK, perRequest: {}, added: {} };
for (const name of Object.keys(cases)) {
  result.perRequest[name] = { wallUs: median(samples[name].wall), threadCpuUs: median(samples[name].thread), processCpuUs: median(samples[name].process) };
}
const pairs = [['httpSampled', 'http'], ['httpUnsampled', 'http'], ['expressSampled', 'express'], ['expressUnsampled', 'express'], ['expressAppSampled', 'express'], ['expressAppUnsampled', 'express'], ['httpAls', 'http'], ['expressNoop', 'express'], ['expressNoopEntry', 'express'], ['expressAgain', 'express']];
for (const name of ['httpSampled', 'httpUnsampled', 'expressSampled', 'expressUnsampled', 'expressAppSampled', 'expressAppUnsampled']) pairs.push([`${name}Base`, name.startsWith('http') ? 'http' : 'express']);
for (const [name, base] of pairs) {
  if (!samples[name]) continue;
  result.added[name] = { wallUs: paired(name, base, 'wall'), threadCpuUs: paired(name, base, 'thread'), processCpuUs: paired(name, base, 'process') };
}
const counters = tracer.getCounters();
result.sent = counters?.sent;
result.dropped = counters?.dropped;
for (const s of Object.values(servers)) s.close();
for (const s of Object.values(servers)) s.closeAllConnections?.();
console.log(JSON.stringify(result));
