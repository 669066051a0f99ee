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
const { generic } = require('./access');

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
    const open = context.currentStore()?.request;
    // Express gives each request's req and res hidden classes of their own: read generically.
    if (open?.res !== res) beginRequest(tracer, req, res, segmentName(tracer, name), Reflect.get(req, 'originalUrl'), generic);
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
    const traced = context.currentStore()?.request;
    if (traced && !traced.failed) recordFailure(traced, err);
    next(err);
  };
}

module.exports = { traceExpress, traceExpressErrors };
