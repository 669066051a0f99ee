'use strict';
/**
 * `oxray/middleware`: the middy middleware `captureLambdaHandler(tracer, { captureResponse })`,
 * producing the same document as the decorator; and, for server mode (outside Lambda), the
 * `http.createServer` wrapper `traceHttpServer` (http-server.js) and, for Express, the app
 * wrapper `traceExpressApp` and the middleware `traceExpress` / `traceExpressErrors` (express.js).
 *
 * Middy cannot wrap the handler, so `before` makes the handler subsegment current with
 * AsyncLocalStorage.enterWith for the rest of the invocation's async flow; `after`/`onError`
 * end it, flush, and retire that store so it cannot leak into later work.
 */

const context = require('./context');

const STATE_KEY = 'oxray.tracer';
/** The key Powertools' cleanupMiddlewares() calls when another middleware returns early. */
const CLEANUP_KEY = 'powertools-for-aws.tracer';

/**
 * @param {import('./tracer').Tracer} tracer
 * @param {{ captureResponse?: boolean }} [options]
 */
function captureLambdaHandler(tracer, options) {
  const captureResponse = options?.captureResponse ?? true;

  /**
   * @param {any} request
   * @param {boolean} failed
   * @param {unknown} outcome
   */
  const close = (request, failed, outcome) => {
    const internal = request?.internal;
    const state = internal?.[STATE_KEY];
    if (!state) return;
    delete internal[STATE_KEY];
    const key = captureResponse && !failed ? `${process.env._HANDLER} response` : null;
    tracer._endInvocation(state.store, failed, outcome, key);
    state.store.done = true;
  };

  return {
    /** @param {any} request */
    before(request) {
      if (!tracer.isTracingEnabled()) return;
      try {
        const store = tracer._beginInvocation(process.env._HANDLER);
        if (store === null) return;
        if (request.internal === undefined || request.internal === null) request.internal = {};
        request.internal[STATE_KEY] = { store };
        request.internal[CLEANUP_KEY] = () => close(request, false, undefined);
        context.enter(store);
      } catch (err) {
        tracer._internalError(err);
      }
    },
    /** @param {any} request */
    after(request) {
      if (tracer.isTracingEnabled()) close(request, false, request?.response);
    },
    /** @param {any} request */
    onError(request) {
      if (tracer.isTracingEnabled()) close(request, true, request?.error);
    },
  };
}

module.exports = { captureLambdaHandler };
// Server mode (loaded on first use: a Lambda handler using middy does not need them).
Object.defineProperties(module.exports, {
  traceHttpServer: { enumerable: true, get: () => require('./http-server').traceHttpServer },
  traceExpress: { enumerable: true, get: () => require('./express').traceExpress },
  traceExpressApp: { enumerable: true, get: () => require('./express').traceExpressApp },
  traceExpressErrors: { enumerable: true, get: () => require('./express').traceExpressErrors },
});
