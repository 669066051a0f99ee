// Server mode: what tracing adds to one HTTP request, through traceHttpServer and, for Express,
// through the traceExpress middleware and the traceExpressApp wrapper (see server-worker.mjs for the method: real servers and a pipelining
// keep-alive client on 127.0.0.1 in one process, traced and untraced blocks interleaved and
// compared pairwise). Runs RUNS worker processes and reports the medians; sampled segments go
// to a UDP sink here. Prints a table and writes results-server.json.
//   node server.mjs [--runs 3] [--rounds 40] [--block 1000]
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { warnIfStaleAddon } from './stale-addon.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 3);
const ROUNDS = arg('rounds', 40);
const BLOCK = arg('block', 1000);
const oxrayDir = process.env.OXRAY_NODE_DIR ? path.resolve(process.env.OXRAY_NODE_DIR) : path.resolve(here, '../../node');
warnIfStaleAddon(oxrayDir);
// OXRAY_BASELINE_DIR: another build of the package, traced in the same processes and rounds.
const baselineDir = process.env.OXRAY_BASELINE_DIR ? path.resolve(process.env.OXRAY_BASELINE_DIR) : undefined;

const sink = dgram.createSocket('udp4');
let received = 0;
sink.on('message', () => received++);
await new Promise((r) => sink.bind(0, '127.0.0.1', r));
sink.setRecvBufferSize(4 * 1024 * 1024);

/** The environment of a server outside Lambda (no Lambda or Powertools variables). */
function serverEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(AWS_|LAMBDA_|POWERTOOLS_|_HANDLER$|_X_AMZN)/.test(k)) delete env[k];
  return { ...env, AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${sink.address().port}`, OXRAY_NODE_DIR: oxrayDir, ROUNDS: String(ROUNDS), BLOCK: String(BLOCK), ALS_FLOOR: '1', ...(baselineDir ? { OXRAY_BASELINE_DIR: baselineDir } : {}) };
}

function run() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'server-worker.mjs')], { env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`server-worker exited ${code}: ${err}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

const rows = [];
for (let r = 0; r < RUNS; r++) rows.push(await run());
await new Promise((r) => setTimeout(r, 300));
sink.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pick = (section, name, metric) => median(rows.map((row) => row[section][name][metric]));
const results = { node: process.version, runs: RUNS, rounds: ROUNDS, block: BLOCK, datagrams: received, sent: rows.reduce((a, r) => a + (r.sent ?? 0), 0), dropped: rows.reduce((a, r) => a + (r.dropped ?? 0), 0), perRequest: {}, added: {} };
for (const name of Object.keys(rows[0].perRequest)) {
  results.perRequest[name] = Object.fromEntries(['wallUs', 'threadCpuUs', 'processCpuUs'].map((m) => [m, pick('perRequest', name, m)]));
}
for (const name of Object.keys(rows[0].added)) {
  results.added[name] = Object.fromEntries(['wallUs', 'threadCpuUs', 'processCpuUs'].map((m) => [m, pick('added', name, m)]));
}
writeFileSync(path.join(here, 'results-server.json'), `${JSON.stringify(results, null, 2)}\n`);

const f = (x) => x.toFixed(2);
const P = results.perRequest;
const A = results.added;
console.log(`\nnode ${process.version}; ${RUNS} processes × ${ROUNDS} rounds × ${BLOCK} pipelined keep-alive requests per case (medians); ${received} datagrams received, the tracers counted ${results.sent} sent and ${results.dropped} dropped\n`);
console.log('| per request | untraced µs (wall / main-thread CPU) | added µs, wall | added µs, main-thread CPU | added µs, process CPU |');
console.log('|---|---|---|---|---|');
const line = (label, name, base) => console.log(`| ${label} | ${f(P[base].wallUs)} / ${f(P[base].threadCpuUs)} | ${f(A[name].wallUs)} | ${f(A[name].threadCpuUs)} | ${f(A[name].processCpuUs)} |`);
line('traceHttpServer, sampled (Sampled=1)', 'httpSampled', 'http');
line('traceHttpServer, not sampled (Sampled=0)', 'httpUnsampled', 'http');
line('Express + traceExpress, sampled', 'expressSampled', 'express');
line('Express + traceExpress, not sampled', 'expressUnsampled', 'express');
line('Express traced by traceExpressApp, sampled', 'expressAppSampled', 'express');
line('Express traced by traceExpressApp, not sampled', 'expressAppUnsampled', 'express');
if (A.httpAls) line('floor: an AsyncLocalStorage store entered per request, no tracing', 'httpAls', 'http');
if (A.expressNoop) line('floor: Express with one more middleware (only next()), no tracing', 'expressNoop', 'express');
if (A.expressNoopEntry) line('floor: Express with app.handle wrapped (only calls it), no tracing', 'expressNoopEntry', 'express');
if (A.expressAgain) line('A/A: a second untraced Express app (same code), no tracing', 'expressAgain', 'express');
if (A.httpSampledBase) {
  line('baseline build: traceHttpServer, sampled', 'httpSampledBase', 'http');
  line('baseline build: traceHttpServer, not sampled', 'httpUnsampledBase', 'http');
  line('baseline build: Express + traceExpress, sampled', 'expressSampledBase', 'express');
  line('baseline build: Express + traceExpress, not sampled', 'expressUnsampledBase', 'express');
  line('baseline build: Express traced by traceExpressApp, sampled', 'expressAppSampledBase', 'express');
  line('baseline build: Express traced by traceExpressApp, not sampled', 'expressAppUnsampledBase', 'express');
}
