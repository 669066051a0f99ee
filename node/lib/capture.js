'use strict';
/**
 * Running user functions inside subsegments: traced methods, the Lambda handler, and the
 * adapter that lets one decorator serve both calling conventions (TypeScript
 * `experimentalDecorators` and TC39 standard decorators).
 *
 * A traced synchronous method stays synchronous; a thenable result is awaited before its
 * subsegment ends. The handler flushes everything before its promise settles.
 *
 * Cost per traced call: two native calls (begin with an interned name, end — with the result
 * as metadata when there is one), one store object and, for async methods, one `then`. Under
 * an unsampled trace: none of these (the method is called as it is).
 */

const context = require('./context');
const { toJson, toText } = require('./serialize');

/** How long a handler may wait for the sender to drain at its end. */
const FLUSH_TIMEOUT_MS = 2000;

/**
 * @typedef {import('./tracer').Tracer} Tracer
 * @typedef {import('./context').Store} Store
 * @typedef {import('./native').Native} Native
 */

/**
 * What one decorated method needs at each call, worked out once (names are interned in the
 * addon on first use).
 */
class CallSite {
  /**
   * @param {string} name subsegment name
   * @param {string | null} responseKey metadata key for the result, null when not captured
   */
  constructor(name, responseKey) {
    // A non-string `subSegmentName` would make the addon throw at every call.
    this.name = toText(name, 'unnamed');
    this.responseKey = responseKey;
    /** Interned ids (0: the addon's table is full; names then cross as strings). */
    this.nameId = 0;
    this.responseKeyId = 0;
    this.interned = false;
  }

  /** @param {Native} native */
  intern(native) {
    this.interned = true;
    this.nameId = native.internName(this.name);
    if (this.responseKey !== null) this.responseKeyId = native.internName(this.responseKey);
  }
}

/** @param {unknown} v @returns {v is PromiseLike<unknown>} */
function isThenable(v) {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return false;
  try {
    return typeof (/** @type {any} */ (v).then) === 'function';
  } catch {
    // A throwing `then` getter or a revoked Proxy: the caller gets the value untouched.
    return false;
  }
}

/**
 * Ends a traced call's subsegment after recording its outcome. Never throws.
 * @param {Tracer} tracer
 * @param {number} h
 * @param {CallSite} site
 * @param {boolean} failed
 * @param {unknown} outcome the result, or the thrown value
 */
function finish(tracer, h, site, failed, outcome) {
  const native = /** @type {Native} */ (tracer._native);
  let namespaceId = 0;
  try {
    if (failed) {
      try {
        tracer._recordError(h, outcome);
      } finally {
        // Ended even if recording the error failed: the subsegment is not left open.
        native.endFast(h);
      }
    } else if (outcome === undefined || site.responseKey === null || !tracer._config.captureResponse) {
      native.endFast(h);
    } else if (site.responseKeyId !== 0 && (namespaceId = tracer._namespaceId()) !== 0) {
      native.endWithMetadata(h, namespaceId, site.responseKeyId, toJson(outcome));
    } else {
      // The addon's name table is full: the slower way, with the names as strings.
      tracer._recordResponse(h, outcome, site.responseKey);
      native.endFast(h);
    }
  } catch (err) {
    tracer._internalError(err);
  }
}

/**
 * Calls `method` in a new subsegment under the current entity.
 * @param {Tracer} tracer
 * @param {Function} method
 * @param {unknown} thisArg
 * @param {unknown[]} args
 * @param {CallSite} site
 */
function runMethod(tracer, method, thisArg, args, site) {
  const native = /** @type {Native} */ (tracer._native);
  const parent = context.currentStore();
  let parentHandle;
  if (parent !== null) {
    if (parent.unsampled) return Reflect.apply(method, thisArg, args);
    parentHandle = parent.h;
  } else {
    parentHandle = context.ambientFacade(native);
    if (context.ambientUnsampled()) return Reflect.apply(method, thisArg, args);
  }
  if (!site.interned) site.intern(native);
  const h = site.nameId !== 0 ? native.beginNamed(parentHandle, site.nameId) : native.begin(parentHandle, site.name);
  if (h === 0) return Reflect.apply(method, thisArg, args);
  // Outside any invocation nothing else keeps the context storage enabled meanwhile.
  const holds = parent === null;
  if (holds) context.hold();
  let result;
  try {
    result = context.als().run(context.newStore(h, site.name), Reflect.apply, method, thisArg, args);
  } catch (err) {
    finish(tracer, h, site, true, err);
    if (holds) context.release();
    throw err;
  }
  if (!isThenable(result)) {
    finish(tracer, h, site, false, result);
    if (holds) context.release();
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      finish(tracer, h, site, false, value);
      if (holds) context.release();
      return value;
    },
    (err) => {
      finish(tracer, h, site, true, err);
      if (holds) context.release();
      throw err;
    },
  );
}

/**
 * Runs a Lambda handler in `## <_HANDLER>` under this invocation's facade and flushes before
 * the returned promise settles.
 * @param {Tracer} tracer
 * @param {Function} handler
 * @param {unknown} thisArg
 * @param {unknown[]} args
 * @param {boolean} captureResponse
 */
function runHandler(tracer, handler, thisArg, args, captureResponse) {
  const handlerName = process.env._HANDLER;
  const store = tracer._beginInvocation(handlerName);
  if (store === null) return Promise.resolve().then(() => Reflect.apply(handler, thisArg, args));
  const responseKey = captureResponse ? `${handlerName} response` : null;
  return context.als().run(store, handlerFlow, tracer, store, handler, thisArg, args, responseKey);
}

/**
 * The handler's call and the end of its invocation, run with the invocation's store current.
 * Not an async function: one `then` on the handler's result adds one promise where an
 * `await` in an async function adds two (its own and, under Node 20's promise hooks, the
 * await's), with the same timing: a sync throw ends the invocation at once, anything else
 * (a promise, a thenable, a plain value) one reaction after it settles.
 * @param {Tracer} tracer
 * @param {Store} store
 * @param {Function} handler
 * @param {unknown} thisArg
 * @param {unknown[]} args
 * @param {string | null} responseKey metadata key for the response, null when not captured
 * @returns {Promise<unknown>}
 */
function handlerFlow(tracer, store, handler, thisArg, args, responseKey) {
  let result;
  try {
    result = Reflect.apply(handler, thisArg, args);
  } catch (err) {
    tracer._endInvocation(store, true, err, null);
    return Promise.reject(err);
  }
  return Promise.resolve(result).then(
    (value) => {
      tracer._endInvocation(store, false, value, responseKey);
      return value;
    },
    (err) => {
      tracer._endInvocation(store, true, err, null);
      throw err;
    },
  );
}

/**
 * Adapts `wrap(method, name)` to both decorator conventions.
 * @param {Tracer} tracer
 * @param {(method: Function, name: string) => Function} wrap
 * @param {string} what decorator name, for messages
 */
function decorator(tracer, wrap, what) {
  /**
   * @param {any} target legacy: the prototype; TC39: the method
   * @param {any} keyOrContext legacy: the property key; TC39: the decorator context
   * @param {PropertyDescriptor} [descriptor] legacy only
   */
  return function oxrayDecorator(target, keyOrContext, descriptor) {
    if (keyOrContext !== null && typeof keyOrContext === 'object' && 'kind' in keyOrContext) {
      if (keyOrContext.kind !== 'method' || typeof target !== 'function') {
        tracer._warn(`${what}() decorates methods only, not a ${keyOrContext.kind}; left unchanged`);
        return undefined;
      }
      return wrap(target, String(keyOrContext.name));
    }
    if (descriptor && typeof descriptor.value === 'function') {
      descriptor.value = wrap(descriptor.value, String(keyOrContext));
      return descriptor;
    }
    tracer._warn(`${what}() decorates methods only; ${String(keyOrContext)} left unchanged`);
    return descriptor;
  };
}

module.exports = { CallSite, runMethod, runHandler, decorator, isThenable, FLUSH_TIMEOUT_MS };
