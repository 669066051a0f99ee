// A child process for server-names.test.mjs: server mode with the environment it was started
// with (AWS_XRAY_TRACING_NAME is read once, when the recorder starts, so each setting needs
// its own process). Serves one Tracer three ways on 127.0.0.1 (traceHttpServer,
// traceExpressApp, traceExpress), prints their ports as one JSON line, and exits when its
// stdin closes. Its documents go to the parent's UDP daemon stand-in (AWS_XRAY_DAEMON_ADDRESS).
// OXRAY_NAMES_OPTIONS (JSON): { serviceName?: string, name?: string } (the middleware's option).
// Without it (run as a file of its own, as `node --test test/` runs every file under test/)
// it does nothing.
import http from 'node:http';
import { createRequire } from 'node:module';

if (process.env.OXRAY_NAMES_OPTIONS === undefined) process.exit(0);
const require = createRequire(import.meta.url);
const options = JSON.parse(process.env.OXRAY_NAMES_OPTIONS);
const { Tracer } = await import('oxray');
const { traceHttpServer, traceExpressApp, traceExpress } = await import('oxray/middleware');
const express = require('express');

const ALWAYS = { version: 2, rules: [], default: { fixed_target: 0, rate: 1 } };
const tracer = new Tracer(options.serviceName === undefined ? {} : { serviceName: options.serviceName });
const middlewareOptions = { samplingRules: ALWAYS, ...(options.name === undefined ? {} : { name: options.name }) };

/** Answers with the Tracer's service name; `/set-env?to=x` changes AWS_XRAY_TRACING_NAME first. */
function answer(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/set-env') {
    const to = url.searchParams.get('to');
    if (to === null) delete process.env.AWS_XRAY_TRACING_NAME;
    else process.env.AWS_XRAY_TRACING_NAME = to;
  }
  res.end(String(tracer.serviceName));
}

const plain = http.createServer(traceHttpServer(tracer, answer, middlewareOptions));
const app = traceExpressApp(tracer, express(), middlewareOptions);
app.use(answer);
const viaMiddleware = express();
viaMiddleware.use(traceExpress(tracer, middlewareOptions));
viaMiddleware.use(answer);

const servers = { plain, app: http.createServer(app), middleware: http.createServer(viaMiddleware) };
const ports = {};
for (const [key, server] of Object.entries(servers)) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  ports[key] = server.address().port;
}
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  for (const server of Object.values(servers)) server.close();
  // Sends what is queued (native.js flushes at exit).
  process.exit(0);
});
