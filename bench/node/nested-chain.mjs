// The bench's nested-10 invocation for the single-process profilers (profile-nested.mjs,
// alloc-nested.mjs): a simulated Lambda environment sending to a UDP sink in this process, and
// a handler with 10 nested captureMethod calls, each doing putAnnotation + putMetadata.
// TRACER_MODULE picks the tracer (default: this repository's oxray); PLAIN=1 makes the same
// chain undecorated and without tracer calls (the floor the tracer's cost adds to).
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { warnIfStaleAddon } from './stale-addon.mjs';

const require = createRequire(import.meta.url);

/** Applies a legacy method decorator as TypeScript's __decorate does. */
function decorate(cls, name, decorator) {
  const d = Object.getOwnPropertyDescriptor(cls.prototype, name);
  Object.defineProperty(cls.prototype, name, decorator(cls.prototype, name, d) || d);
}

/** A trace header for one invocation (`sampled` 1 or 0). */
export const traceHeader = (sampled = 1) =>
  `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=${sampled}`;

/** Binds the sink, sets the Lambda environment up and builds the chain. */
export async function nestedChain() {
  const sink = dgram.createSocket('udp4');
  await new Promise((resolve) => sink.bind(0, '127.0.0.1', resolve));
  Object.assign(process.env, {
    LAMBDA_TASK_ROOT: '/var/task',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    AWS_LAMBDA_FUNCTION_NAME: 'bench',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    _HANDLER: 'index.handler',
    POWERTOOLS_SERVICE_NAME: 'bench',
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${sink.address().port}`,
  });
  if (process.env.TRACER_MODULE === undefined) warnIfStaleAddon(new URL('../../node', import.meta.url).pathname);
  const { Tracer } = require(process.env.TRACER_MODULE ?? new URL('../../node/lib/index.js', import.meta.url).pathname);
  const tracer = new Tracer();
  const plain = process.env.PLAIN === '1';
  class Chain {
    async handler() {
      return this.m1();
    }
  }
  for (let i = 1; i <= 10; i++) {
    Chain.prototype[`m${i}`] = async function step() {
      if (!plain) {
        tracer.putAnnotation(`k${i}`, i);
        tracer.putMetadata(`m${i}`, { i, s: 'value' });
      }
      return i < 10 ? this[`m${i + 1}`]() : i;
    };
    if (!plain) decorate(Chain, `m${i}`, tracer.captureMethod());
  }
  if (!plain) decorate(Chain, 'handler', tracer.captureLambdaHandler());
  return { sink, tracer, chain: new Chain(), plain };
}
