'use strict';
/**
 * Express (4 and 5): each request traced as a segment (see request.js), two ways.
 * - `traceExpressApp(tracer, app, options)` wraps the app's entry (`app.handle`, which the app
 *   function calls for every request, `app.listen` included): the request is begun before
 *   Express's router runs and before Express changes the prototypes of `req` and `res`, so
 *   oxray reads Node's objects with plain loads, and no router layer is added. The cheaper way.
 * - `app.use(traceExpress(tracer, options))` before the routes: a middleware (one more layer
 *   for Express's router to walk on every request, and `req` / `res` read generically).
 * `app.use(traceExpressErrors(tracer))` after the routes records a route's error as the
 * segment's cause and passes it on unchanged. Without it a failed request is still recorded,
 * from its status, without cause.
 */

const { IncomingMessage } = require('node:http');
const { beginRequest, recordFailure, segmentName } = require('./request');
const { startServerMode } = require('./server-mode');
const context = require('./context');
const { generic, appEntry } = require('./access');

/** Marks an `app.handle` that is already traceExpressApp's wrapper. */
const WRAPPED = Symbol('oxray.traceExpressApp');

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
 * Wraps `app.handle` in place and returns `app`. Wrapping an app twice keeps one wrapper.
 * @template {Function & { handle: Function }} App
 * @param {import('./tracer').Tracer} tracer
 * @param {App} app an Express application
 * @param {{ name?: string, samplingRules?: unknown }} [options]
 * @returns {App}
 */
function traceExpressApp(tracer, app, options) {
  if (typeof app !== 'function' || typeof app.handle !== 'function') throw new TypeError('traceExpressApp(tracer, app): app must be an Express application (a function with a handle method)');
  startServerMode(tracer, options?.samplingRules);
  const handle = /** @type {any} */ (app.handle);
  if (handle[WRAPPED] === true) return app;
  const name = options?.name;
  /** @this {unknown} @param {any} req @param {any} res @param {unknown} callback */
  function tracedHandle(req, res, callback) {
    // Traced already: by an outer app or wrapper (this app mounted in it), or the previous
    // request on this connection is still open (pipelining: this request is traced, as in
    // traceExpress).
    const open = context.currentStore()?.request;
    /** @type {import('./request').Traced | null} */ let traced = null;
    if (open?.res !== res) {
      // At a server's request event Node's own objects; mounted in another Express app they
      // already have Express's prototypes, and the path is what follows the mount point.
      const fresh = Object.getPrototypeOf(req) === IncomingMessage.prototype;
      const url = fresh ? undefined : Reflect.get(req, 'originalUrl');
      traced = beginRequest(tracer, req, res, segmentName(tracer, name), url, fresh ? appEntry : generic);
    }
    try {
      return Reflect.apply(handle, this, [req, res, callback]);
    } catch (err) {
      // Express's own entry threw (its routes' errors are answered by Express): recorded, and
      // thrown on as it would be without tracing.
      if (traced !== null) recordFailure(traced, err);
      throw err;
    }
  }
  Object.defineProperty(tracedHandle, WRAPPED, { value: true });
  app.handle = tracedHandle;
  return app;
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

module.exports = { traceExpress, traceExpressApp, traceExpressErrors };
