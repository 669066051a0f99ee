// Server mode (outside Lambda): a UDP "daemon" on 127.0.0.1 and a small HTTP client over
// loopback. Import this (and await setupServerMode) BEFORE oxray.
import http from 'node:http';
import { UdpSink } from './lambda.mjs';

/** Clears the Lambda environment, points oxray at a new sink, and returns the sink. */
export async function setupServerMode(extra = {}) {
  const sink = new UdpSink();
  const address = await sink.start();
  for (const name of ['LAMBDA_TASK_ROOT', 'AWS_EXECUTION_ENV', '_X_AMZN_TRACE_ID', 'AWS_LAMBDA_FUNCTION_NAME', 'POWERTOOLS_SERVICE_NAME', 'AWS_XRAY_TRACING_NAME', 'AWS_XRAY_SAMPLING_RULES']) {
    delete process.env[name];
  }
  Object.assign(process.env, { AWS_XRAY_DAEMON_ADDRESS: address, AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR', ...extra });
  return sink;
}

/** Listens on 127.0.0.1 (an ephemeral port); returns the port. */
export async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

/**
 * One request over loopback; resolves with the status, headers and body.
 * @param {number} port
 * @param {{ method?: string, path?: string, headers?: Record<string, string>, body?: string, agent?: http.Agent }} [options]
 */
export function request(port, { method = 'GET', path = '/', headers = {}, body, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: agent ?? false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Local rules: every new trace sampled, or none. */
export const ALWAYS = { version: 2, rules: [], default: { fixed_target: 0, rate: 1 } };
export const NEVER = { version: 2, rules: [], default: { fixed_target: 0, rate: 0 } };
