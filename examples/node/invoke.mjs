// Runs the payment function under simulated Lambda invocations, as the Node runtime does.
//
// Before the import: the Lambda environment (LAMBDA_TASK_ROOT, AWS_EXECUTION_ENV, _HANDLER,
// AWS_LAMBDA_FUNCTION_NAME…) and no trace header. Per invocation: a fresh _X_AMZN_TRACE_ID (the
// header the Lambda service hands the runtime), a context object with awsRequestId and
// getRemainingTimeInMillis(), then the handler. The documents go to the X-Ray daemon address,
// AWS_XRAY_DAEMON_ADDRESS (default 127.0.0.1:2000): point it at `oxray collect`. The events
// are ../events.json; the bank is BANK_URL.
//
// Like the Lambda service, the driver also records the function's own segment (origin
// AWS::Lambda::Function; its id is the Parent of the trace header, under which the handler's
// subsegments hang), so each trace has its root as in the X-Ray console.
//
// Usage: AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000 BANK_URL=http://127.0.0.1:8080 node invoke.mjs
import { randomBytes, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const FUNCTION_NAME = 'payment-node';
const FUNCTION_ARN = `arn:aws:lambda:eu-west-1:123456789012:function:${FUNCTION_NAME}`;
const HANDLER = 'payment.handler';
const TIMEOUT_MS = 30_000;

/** Epoch seconds with sub-millisecond precision (Date.now() has whole milliseconds). */
const epochSeconds = () => (performance.timeOrigin + performance.now()) / 1000;

function lambdaEnvironment() {
  Object.assign(process.env, {
    LAMBDA_TASK_ROOT: HERE,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_REGION: 'eu-west-1',
    _HANDLER: HANDLER,
    POWERTOOLS_SERVICE_NAME: 'payment',
  });
  process.env.AWS_XRAY_DAEMON_ADDRESS ??= '127.0.0.1:2000';
  delete process.env._X_AMZN_TRACE_ID;
}

/** The attributes of the runtime's context object that handlers use. */
function newContext() {
  const deadline = Date.now() + TIMEOUT_MS;
  return {
    awsRequestId: randomUUID(),
    functionName: FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: FUNCTION_ARN,
    memoryLimitInMB: '128',
    logGroupName: `/aws/lambda/${FUNCTION_NAME}`,
    logStreamName: '2026/01/01/[$LATEST]0123456789abcdef',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** What the Lambda service puts in _X_AMZN_TRACE_ID. */
function newTraceHeader() {
  const root = `1-${Math.floor(Date.now() / 1000).toString(16).padStart(8, '0')}-${randomBytes(12).toString('hex')}`;
  const parent = randomBytes(8).toString('hex');
  return { header: `Root=${root};Parent=${parent};Sampled=1`, root, parent };
}

/** Records the function segment the Lambda service would record, to the daemon address. */
async function sendFunctionSegment(udp, root, parent, start, end, failed) {
  const segment = {
    name: FUNCTION_NAME,
    id: parent,
    trace_id: root,
    start_time: start,
    end_time: end,
    origin: 'AWS::Lambda::Function',
    resource_arn: FUNCTION_ARN,
    ...(failed ? { fault: true } : {}),
  };
  const address = process.env.AWS_XRAY_DAEMON_ADDRESS;
  const colon = address.lastIndexOf(':');
  const datagram = `{"format":"json","version":1}\n${JSON.stringify(segment)}`;
  await new Promise((resolve, reject) => {
    udp.send(datagram, Number(address.slice(colon + 1)), address.slice(0, colon), (err) => (err ? reject(err) : resolve()));
  });
}

lambdaEnvironment();
const [moduleName, exportName] = HANDLER.split('.');
const handler = (await import(pathToFileURL(join(HERE, `${moduleName}.mjs`)).href))[exportName];
const events = JSON.parse(readFileSync(join(HERE, '..', 'events.json'), 'utf8'));
const udp = dgram.createSocket('udp4');
let failures = 0;
for (const event of events) {
  const { header, root, parent } = newTraceHeader();
  process.env._X_AMZN_TRACE_ID = header;
  const start = epochSeconds();
  let outcome;
  let failed = false;
  try {
    const result = await handler(event, newContext());
    outcome = `ok ${result.statusCode}`;
  } catch (err) {
    // The runtime reports it as the invocation's error.
    failed = true;
    failures += 1;
    outcome = `error ${err.name}: ${err.message}`;
    if (process.env.DEMO_VERBOSE) console.error(err);
  }
  await sendFunctionSegment(udp, root, parent, start, epochSeconds(), failed);
  console.log(`  ${FUNCTION_NAME} ${event.order_id} (trace ${root}): ${outcome}`);
}
udp.close();
console.log(`  ${FUNCTION_NAME}: ${events.length} invocations, ${failures} failed`);
