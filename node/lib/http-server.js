'use strict';
/**
 * `traceHttpServer(tracer, handler, options)`: a `request` listener for `http.createServer`
 * (or `https.createServer`) that traces each request as a segment and calls
 * `handler(req, res)` with that segment current. See request.js for what is recorded.
 */

const { beginRequest, answerFailure, segmentName } = require('./request');
const { startServerMode } = require('./server-mode');
const { isThenable } = require('./capture');

/**
 * @template {import('node:http').IncomingMessage} Req
 * @template {import('node:http').ServerResponse} Res
 * @param {import('./tracer').Tracer} tracer
 * @param {(req: Req, res: Res) => unknown} handler
 * @param {{ name?: string, samplingRules?: unknown }} [options]
 * @returns {(req: Req, res: Res) => void}
 */
function traceHttpServer(tracer, handler, options) {
  if (typeof handler !== 'function') throw new TypeError('traceHttpServer(tracer, handler): handler must be a function');
  startServerMode(tracer, options?.samplingRules);
  const name = options?.name;
  return function tracedRequestListener(req, res) {
    const traced = beginRequest(tracer, req, res, segmentName(tracer, name), undefined);
    let result;
    try {
      result = Reflect.apply(handler, this, [req, res]);
    } catch (err) {
      answerFailure(traced, res, err);
      return;
    }
    // A rejected promise is answered like a throw (never an unhandled rejection).
    if (isThenable(result)) result.then(undefined, (err) => answerFailure(traced, res, err));
  };
}

module.exports = { traceHttpServer };
