// Instructions one server-mode request costs on the main thread, per case, counted with
// callgrind: server-worker.mjs (CASE=<name> REQUESTS=<n>: real servers on 127.0.0.1 and a
// pipelining keep-alive client in one process, warmed up, then `n` requests of one case) runs
// under `valgrind --tool=callgrind --separate-threads=yes` with two request counts, and the
// difference of the main thread's totals divided by the difference of the counts is the cost of
// one request, start-up and warm-up cancelled out. `node --predictable` (compilation on the main
// thread, in a fixed order) makes repeated runs agree closely. Traced cases are reported with
// what they add over the untraced case of the same server kind (the client's own work is in
// both: it sends the same bytes to each; it reads the longer answer of a traced server, with its trace header).
// Only the counted requests are instrumented (`--instr-atstart=no`, switched on and off by the
// worker with `callgrind_control`), after WARMUP blocks of 1,000 requests of the case.
//   node profile-server.mjs [--n1 2000] [--n2 6000] [--warmup 10] [--jobs 2] [--out DIR] [--symbols] [--cache-sim] [case ...]
// Cases: http, httpSampled, httpUnsampled, express, expressSampled, expressUnsampled,
// expressAppSampled, expressAppUnsampled (traceExpressApp) (default: all). The callgrind files
// stay in DIR (default: a new temporary folder) for `callgrind_annotate`; the main thread's
// file is the one ending in `-01`. OXRAY_NODE_DIR picks the build of the package, as for
// server.mjs.
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { warnIfStaleAddon } from './stale-addon.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const option = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  if (i === -1) return dflt;
  const [value] = argv.splice(i, 2).slice(1);
  return value;
};
const N1 = Number(option('n1', 2000));
const N2 = Number(option('n2', 6000));
const JOBS = Number(option('jobs', 2));
const WARMUP = Number(option('warmup', 10));
// --symbols: node writes the names of its JIT code to /tmp/perf-<pid>.map (`--perf-basic-prof`,
// interpreted frames included), by which the JIT addresses in the callgrind files can be named.
const SYMBOLS = argv.includes('--symbols') ? (argv.splice(argv.indexOf('--symbols'), 1), ['--perf-basic-prof', '--interpreted-frames-native-stack']) : [];
// --cache-sim: callgrind also simulates the caches (events I1mr, D1mr, … in the files, for
// `callgrind_annotate --show=Ir,I1mr,D1mr`); about twice as slow. The table is unchanged.
const CACHE_SIM = argv.includes('--cache-sim') ? (argv.splice(argv.indexOf('--cache-sim'), 1), ['--cache-sim=yes']) : [];
const OUT = option('out', undefined) ?? mkdtempSync(path.join(os.tmpdir(), 'profile-server-'));
const ALL = ['http', 'httpSampled', 'httpUnsampled', 'express', 'expressSampled', 'expressUnsampled', 'expressAppSampled', 'expressAppUnsampled'];
const cases = argv.length > 0 ? argv : ALL;
const oxrayDir = process.env.OXRAY_NODE_DIR ? path.resolve(process.env.OXRAY_NODE_DIR) : path.resolve(here, '../../node');
warnIfStaleAddon(oxrayDir);

// Sampled segments go to a UDP sink here (as in server.mjs), not to a closed port.
const sink = dgram.createSocket('udp4');
sink.on('message', () => {});
await new Promise((resolve) => sink.bind(0, '127.0.0.1', resolve));

function env(name, requests) {
  const out = { ...process.env };
  for (const k of Object.keys(out)) if (/^(AWS_|LAMBDA_|POWERTOOLS_|_HANDLER$|_X_AMZN)/.test(k)) delete out[k];
  return { ...out, AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${sink.address().port}`, OXRAY_NODE_DIR: oxrayDir, CASE: name, REQUESTS: String(requests), BLOCK: '1000', WARMUP: String(WARMUP), CALLGRIND_CONTROL: '1' };
}

/**
 * V8's full (mark-compact) collections: marking, its write barrier, sweeping, evacuation. One
 * lands in a window of a few thousand Express requests or not (±10k instructions per request
 * between runs), so the totals are also given without them; young-generation collections,
 * which follow what a request allocates, stay counted.
 */
const MAJOR_GC = /MarkCompact|Marking|Sweeper|Evacuat|LiveObjectRange|RecordMigratedSlot|MarkBit/;

/** Instructions of the main thread's file `file` in functions matching MAJOR_GC (callgrind_annotate, self cost). */
function majorGc(file) {
  const out = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  let sum = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$/.exec(line);
    if (m && !m[2].includes('PROGRAM TOTALS') && MAJOR_GC.test(m[2])) sum += Number(m[1].replaceAll(',', ''));
  }
  return sum;
}

/** The main thread's instruction total of one run of `name` with `requests` requests, and the part of it in full collections. */
function count(name, requests) {
  const file = path.join(OUT, `${name}.${requests}`);
  // Instructions are counted only while the worker runs its `requests` (CALLGRIND_CONTROL=1).
  const args = ['--tool=callgrind', ...CACHE_SIM, '--separate-threads=yes', '--instr-atstart=no', `--callgrind-out-file=${file}`, process.execPath, '--predictable', ...SYMBOLS, path.join(here, 'server-worker.mjs')];
  return new Promise((resolve, reject) => {
    // In OUT: node's own logs (`--perf-basic-prof` writes isolate-*.log where it runs) stay there.
    const child = spawn('valgrind', args, { cwd: OUT, env: env(name, requests), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${name} ${requests}: exit ${code}\n${err.slice(-2000)}`));
      const total = /^totals: (\d+)/m.exec(readFileSync(`${file}-01`, 'utf8'));
      resolve({ total: Number(total[1]), gc: majorGc(`${file}-01`) });
    });
  });
}

const jobs = cases.flatMap((name) => [N1, N2].map((n) => [name, n]));
const totals = {};
let at = 0;
async function worker() {
  while (at < jobs.length) {
    const [name, n] = jobs[at++];
    totals[`${name}.${n}`] = await count(name, n);
  }
}
await Promise.all(Array.from({ length: Math.min(JOBS, jobs.length) }, worker));
sink.close();

const per = (name, part) => (totals[`${name}.${N2}`][part] - totals[`${name}.${N1}`][part]) / (N2 - N1);
const perRequest = Object.fromEntries(cases.map((name) => [name, per(name, 'total')]));
const withoutGc = Object.fromEntries(cases.map((name) => [name, per(name, 'total') - per(name, 'gc')]));
const base = (name) => (name.startsWith('express') ? 'express' : 'http');
const f = (x) => Math.round(x).toLocaleString('en-US');
const added = (table, name) => (name === base(name) || table[base(name)] === undefined ? '' : f(table[name] - table[base(name)]));
console.log(`main-thread instructions per request (callgrind, node --predictable, (${N2} − ${N1}) requests; files in ${OUT})\n`);
console.log('| case | per request | added over untraced | per request without full GCs | added without full GCs |');
console.log('|---|---|---|---|---|');
for (const name of cases) console.log(`| ${name} | ${f(perRequest[name])} | ${added(perRequest, name)} | ${f(withoutGc[name])} | ${added(withoutGc, name)} |`);
