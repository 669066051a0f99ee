'use strict';
/**
 * Express (4 and 5) middleware: `app.use(traceExpress(tracer, options))` before the routes
 * traces each request as a segment (see request.js); `app.use(traceExpressErrors(tracer))`
 * after them records a route's error as the segment's cause and passes it on unchanged.
 * Without the second one a failed request is still recorded, from its status, without cause.
 */

const { beginRequest, recordFailure, segmentName } = require('./request');
const { startServerMode } = require('./server-mode');
const context = require('./context');

/**
 * The traced request of each request's context store, for the error middleware: found from
 * the context rather than from a property added to `req` (Express replaced the prototype of
 * its request objects; oxray leaves their shape alone).
 * @type {WeakMap<object, import('./request').Traced>}
 */
const requests = new WeakMap();

/**
 * @param {import('./tracer').Tracer} tracer
 * @param {{ name?: string, samplingRules?: unknown }} [options]
 * @returns {(req: any, res: any, next: (err?: unknown) => void) => void}
 */
function traceExpress(tracer, options) {
  startServerMode(tracer, options?.samplingRules);
  const name = options?.name;
  return function oxrayTraceExpress(req, res, next) {
    // Mounted twice (an app inside an app): the first one traces the request.
    const current = context.currentStore();
    if (current === null || !requests.has(current)) {
      const traced = beginRequest(tracer, req, res, segmentName(tracer, name), req.originalUrl);
      if (traced !== null) requests.set(traced.store, traced);
    }
    next();
  };
}

/**
 * @param {import('./tracer').Tracer} tracer
 * @returns {(err: unknown, req: any, res: any, next: (err?: unknown) => void) => void}
 */
function traceExpressErrors(tracer) {
  startServerMode(tracer, undefined);
  return function oxrayTraceExpressErrors(err, req, res, next) {
    const store = context.currentStore();
    const traced = store !== null ? requests.get(store) : undefined;
    if (traced !== undefined && !traced.failed) recordFailure(traced, err);
    next(err);
  };
}

module.exports = { traceExpress, traceExpressErrors };
