// How documents leave: the default queue (a sender thread) with back-pressure instead of loss,
// the end of an invocation sent from the caller, and OXRAY_EMIT_MODE=udp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupLambda, invoke, fakeContext, decorate, flatten, UdpSink } from './helpers/lambda.mjs';
import { runNode } from './helpers/child.mjs';

// A queue far shorter than the burst below.
const sink = await setupLambda({ OXRAY_QUEUE_CAPACITY: '64' });
const { Tracer } = await import('oxray');
const tracer = new Tracer();

class Burst {
  async handler(event) {
    for (let i = 0; i < event.calls; i++) await this.step(i);
    return event.calls;
  }

  async step(i) {
    return i;
  }
}
decorate(Burst, 'handler', tracer.captureLambdaHandler());
decorate(Burst, 'step', tracer.captureMethod());

test('a burst of streamed subsegments far larger than the queue: nothing dropped', async () => {
  const calls = 2000;
  const before = tracer.getCounters();
  await invoke(() => new Burst().handler({ calls }, fakeContext()));
  const after = tracer.getCounters();
  // The handler embeds its first children; each further one is a document of its own.
  const embedded = 100;
  assert.equal(after.dropped - before.dropped, 0);
  assert.equal(after.sent - before.sent, calls - embedded + 1);
  assert.equal(after.streamed - before.streamed, calls - embedded);
  // What arrived (the kernel may drop datagrams at the receiving socket under load) is valid
  // and attached to the handler.
  await new Promise((r) => setTimeout(r, 200));
  const docs = sink.docs.splice(0);
  assert.deepEqual(sink.invalid.splice(0), []);
  const handler = docs.find((d) => d.name === '## index.handler');
  assert.ok(handler, 'the handler document arrived');
  for (const step of flatten(docs).filter((e) => e.name === '### step')) assert.equal(step.parent_id, handler.id);
});

test('an invocation whose subsegments fit in the handler document sends one datagram, before it returns', async () => {
  const before = tracer.getCounters();
  await invoke(() => new Burst().handler({ calls: 5 }, fakeContext()));
  const after = tracer.getCounters();
  assert.equal(after.sent - before.sent, 1);
  const [doc] = await sink.take(1);
  assert.equal(doc.subsegments.length, 5);
});

test('OXRAY_EMIT_MODE=udp sends from the caller: same documents', async () => {
  const udpSink = new UdpSink();
  const address = await udpSink.start();
  const script = `
    const { Tracer } = require('oxray');
    const tracer = new Tracer();
    class App { async handler() { return this.work(); } async work() { return 7; } }
    const decorate = (name, d) => Object.defineProperty(App.prototype, name, d(App.prototype, name, Object.getOwnPropertyDescriptor(App.prototype, name)));
    decorate('handler', tracer.captureLambdaHandler());
    decorate('work', tracer.captureMethod());
    new App().handler({}, {}).then((r) => console.log(JSON.stringify({ r, counters: tracer.getCounters() })));`;
  const env = { ...process.env, OXRAY_EMIT_MODE: 'udp', AWS_XRAY_DAEMON_ADDRESS: address, _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' };
  const { code, stdout: out, stderr } = await runNode(['-e', script], { env });
  assert.equal(code, 0, stderr);
  const { r, counters } = JSON.parse(out);
  assert.equal(r, 7);
  assert.equal(counters.sent, 1);
  const [doc] = await udpSink.take(1);
  assert.equal(doc.name, '## index.handler');
  assert.equal(doc.subsegments[0].name, '### work');
  assert.equal(doc.subsegments[0].metadata.payment['work response'], 7);
  udpSink.socket.close();
});
