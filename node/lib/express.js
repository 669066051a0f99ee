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
 * The traced requests whose response is not done yet, by context store: for the error
 * middleware, and for an app mounted in a traced app (one segment per request). A Map whose
 * entries are removed when the request ends (request.js), not a WeakMap: each WeakMap entry
 * is an ephemeron the garbage collector must process (about 1 µs per request in a loop
 * here). Not a property of `req` or `res` either: a computed-key property added to an object
 * with as many properties as a response turns it into a slow dictionary-mode object.
 * @type {Map<object, import('./request').Traced>}
 */
const requests = new Map();

/**
 * @param {import('./tracer').Tracer} tracer
 * @param {{ name?: string, samplingRules?: unknown }} [options]
 * @returns {(req: any, res: any, next: (err?: unknown) => void) => void}
 */
function traceExpress(tracer, options) {
  startServerMode(tracer, options?.samplingRules);
  const name = options?.name;
  return function oxrayTraceExpress(req, res, next) {
    // Mounted twice (an app inside an app): the first one traces the request. The current
    // store may also be that of the previous request on this connection, still open when the
    // client pipelines requests: that one is another response, and this request is traced.
    const current = context.currentStore();
    if (current === null || requests.get(current)?.res !== res) {
      const traced = beginRequest(tracer, req, res, segmentName(tracer, name), req.originalUrl, requests);
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
