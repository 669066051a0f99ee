// Process lifecycle, in child processes against the installed package: exiting with documents
// still queued (process.exit() right after traced work, a natural exit, more traced work in
// beforeExit, an unhandled rejection, an uncaught exception, process.exit() inside an open
// invocation). What must hold: the process exits with the code it would have without tracing,
// never hangs (a kill after 60 s is a hang guard only), and every completed subsegment reaches
// the daemon; the counters printed at exit account for what was sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UdpSink, flatten, newTraceHeader } from './helpers/lambda.mjs';
import { runNode } from './helpers/child.mjs';

/** Traced calls outside any invocation (one standalone document each). */
const CALLS = 100;

/** The script's preamble: a Tracer, a traced sync method `m`, counters printed at exit. */
const PREAMBLE = `
  const { Tracer } = require('oxray');
  const tracer = new Tracer();
  const traced = (name, fn) => tracer.captureMethod()({}, name, { value: fn }).value;
  const m = traced('m', (i) => i);
  process.on('exit', (code) => console.log('EXIT ' + JSON.stringify({ code, counters: tracer.getCounters() })));
`;

const SCRIPTS = {
  'process.exit() right after traced calls': {
    code: 0,
    body: `for (let i = 0; i < ${CALLS}; i++) m(i); process.exit(0);`,
  },
  'a natural exit right after traced calls': {
    code: 0,
    body: `for (let i = 0; i < ${CALLS}; i++) m(i);`,
  },
  'more traced work in beforeExit': {
    code: 0,
    body: `let once = false; process.on('beforeExit', () => { if (once) return; once = true; for (let i = 0; i < ${CALLS}; i++) m(i); });`,
  },
  'an unhandled rejection from a traced async method': {
    code: 1,
    body: `const fail = traced('fail', async () => { throw new Error('nobody catches this'); }); for (let i = 0; i < ${CALLS - 1}; i++) m(i); fail();`,
    failed: 'fail',
  },
  'an uncaught exception after traced calls': {
    code: 1,
    body: `for (let i = 0; i < ${CALLS}; i++) m(i); setTimeout(() => { throw new Error('uncaught'); }, 0);`,
  },
  'process.exit() inside an invocation (its children done, the handler still open)': {
    code: 3,
    body: `const h = tracer.captureLambdaHandler()({}, 'handler', { value: async () => { for (let i = 0; i < ${CALLS}; i++) m(i); process.exit(3); } }).value; h({}, {});`,
    invocation: true,
  },
};

/** Runs one script in a child with its own daemon; returns its exit, output and documents. */
async function runChild(body) {
  const sink = new UdpSink();
  const address = await sink.start();
  const header = newTraceHeader();
  const env = {
    ...process.env,
    LAMBDA_TASK_ROOT: '/var/task',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    _HANDLER: 'index.handler',
    AWS_XRAY_DAEMON_ADDRESS: address,
    _X_AMZN_TRACE_ID: header.header,
  };
  const { code, signal, stdout, stderr } = await runNode(['-e', PREAMBLE + body], { env });
  const exit = JSON.parse(stdout.split('\n').find((l) => l.startsWith('EXIT ')).slice(5));
  // Everything was sent before the child exited: wait until the sink read it.
  await sink.waitFor(Math.min(exit.counters.sent, 1));
  let seen = -1;
  while (seen !== sink.docs.length) {
    seen = sink.docs.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  sink.socket.close();
  return { code, signal, stderr, exit, docs: sink.docs, invalid: sink.invalid, root: header.root };
}

// The children run at once (each with its own daemon); each test checks one.
const runs = new Map(Object.entries(SCRIPTS).map(([name, script]) => [name, runChild(script.body).then((value) => ({ value }), (error) => ({ error }))]));

for (const [name, script] of Object.entries(SCRIPTS)) {
  test(`${name}: exit code ${script.code}, every completed subsegment arrives`, async () => {
    const { value, error } = await runs.get(name);
    if (error) throw error;
    const { code, signal, stderr, exit, docs, invalid, root } = value;
    assert.equal(signal, null, `not killed by the hang guard (stderr: ${stderr.slice(0, 500)})`);
    assert.equal(code, script.code, stderr.slice(0, 1000));
    assert.equal(exit.code, script.code);
    assert.deepEqual(invalid, []);
    assert.doesNotMatch(stderr, /internal tracing error|panicked/);
    const entities = flatten(docs);
    const calls = entities.filter((e) => e.name === '### m');
    const expected = script.failed ? CALLS - 1 : CALLS;
    assert.equal(calls.length, expected, `completed subsegments received (counters at exit ${JSON.stringify(exit.counters)})`);
    for (const e of entities) assert.equal(e.trace_id, root);
    if (script.failed) {
      const failed = entities.filter((e) => e.name === `### ${script.failed}`);
      assert.equal(failed.length, 1);
      assert.equal(failed[0].fault, true);
    }
    if (script.invocation) {
      // The handler was still open: its children were streamed at exit, each under it.
      const handler = entities.find((e) => e.name === '## index.handler');
      if (handler) assert.equal(handler.in_progress, true);
      for (const c of calls) assert.match(c.parent_id, /^[0-9a-f]{16}$/);
    } else {
      // Standalone documents, all counted as sent by the time the exit listeners ran.
      assert.equal(exit.counters.sent, docs.length, JSON.stringify(exit.counters));
    }
  });
}
