// A child process for server-http.test.mjs: one traceHttpServer on 127.0.0.1 whose handler,
// once its response has closed, ends the process (`process.exit` in a `close` listener of its
// own: in the very turn of the event loop in which oxray noted the response's end). Prints its
// port as one JSON line. Its documents go to the parent's UDP daemon stand-in
// (AWS_XRAY_DAEMON_ADDRESS). Without OXRAY_EXIT_AFTER_RESPONSE (run as a file of its own, as
// `node --test test/` runs every file under test/) it does nothing.
import http from 'node:http';

if (process.env.OXRAY_EXIT_AFTER_RESPONSE === undefined) process.exit(0);
const { Tracer } = await import('oxray');
const { traceHttpServer } = await import('oxray/middleware');

const ALWAYS = { version: 2, rules: [], default: { fixed_target: 0, rate: 1 } };
const tracer = new Tracer({ serviceName: 'exits' });
const server = http.createServer(
  traceHttpServer(
    tracer,
    (req, res) => {
      res.on('close', () => process.exit(0));
      res.end('bye');
    },
    { samplingRules: ALWAYS },
  ),
);
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
