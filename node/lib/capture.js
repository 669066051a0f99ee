'use strict';
/**
 * Running user functions inside subsegments: traced methods, the Lambda handler, and the
 * adapter that lets one decorator serve both calling conventions (TypeScript
 * `experimentalDecorators` and TC39 standard decorators).
 *
 * A traced synchronous method stays synchronous; a thenable result is awaited before its
 * subsegment ends. The handler flushes everything before its promise settles.
 */

const context = require('./context');
const { annotate } = require('./record');

/** How long a handler may wait for the sender to drain at its end. */
const FLUSH_TIMEOUT_MS = 2000;

/**
 * @typedef {import('./tracer').Tracer} Tracer
 * @typedef {import('./context').Store} Store
 * @typedef {import('./context').Invocation} Invocation
 */

/** @param {unknown} v @returns {v is PromiseLike<unknown>} */
function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (/** @type {any} */ (v).then) === 'function';
}

/** @param {Function} fn @param {unknown} thisArg @param {unknown[]} args */
const apply = (fn, thisArg, args) => Reflect.apply(fn, thisArg, args);

/**
 * Ends a traced call's subsegment after recording its outcome.
 * @param {Tracer} tracer
 * @param {Store} store
 * @param {boolean} failed
 * @param {unknown} outcome the result, or the thrown value
 * @param {string | null} responseKey metadata key for the result, null when not captured
 */
function finish(tracer, store, failed, outcome, responseKey) {
  try {
    if (failed) tracer._recordError(store.h, outcome);
    else if (responseKey !== null) tracer._recordResponse(store.h, outcome, responseKey);
    tracer._native.end(store.h);
    if (store.inv !== null) store.inv.open.delete(store.h);
  } catch (err) {
    tracer._internalError(err);
  }
}

/**
 * Calls `method` in a new subsegment `name` under the current entity.
 * @param {Tracer} tracer
 * @param {Function} method
 * @param {unknown} thisArg
 * @param {unknown[]} args
 * @param {string} name
 * @param {string | null} responseKey
 */
function runMethod(tracer, method, thisArg, args, name, responseKey) {
  const native = tracer._native;
  const parent = context.currentStore();
  const h = native.begin(parent !== null ? parent.h : context.ambientFacade(native), name);
  if (h === 0) return Reflect.apply(method, thisArg, args);
  const inv = parent !== null ? parent.inv : null;
  if (inv !== null) inv.open.add(h);
  /** @type {Store} */
  const store = { h, inv, name };
  let result;
  try {
    result = context.als().run(store, apply, method, thisArg, args);
  } catch (err) {
    finish(tracer, store, true, err, null);
    throw err;
  }
  if (!isThenable(result)) {
    finish(tracer, store, false, result, responseKey);
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      finish(tracer, store, false, value, responseKey);
      return value;
    },
    (err) => {
      finish(tracer, store, true, err, null);
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
  const store = tracer._beginInvocation();
  if (store === null) return Promise.resolve().then(() => Reflect.apply(handler, thisArg, args));
  return context.als().run(store, handlerBody, tracer, store, handler, thisArg, args, captureResponse);
}

/**
 * @param {Tracer} tracer
 * @param {Store} store
 * @param {Function} handler
 * @param {unknown} thisArg
 * @param {unknown[]} args
 * @param {boolean} captureResponse
 */
async function handlerBody(tracer, store, handler, thisArg, args, captureResponse) {
  let failed = false;
  let outcome;
  try {
    tracer._annotateInvocation(store.h);
    outcome = await Reflect.apply(handler, thisArg, args);
    return outcome;
  } catch (err) {
    failed = true;
    outcome = err;
    throw err;
  } finally {
    const key = captureResponse ? `${process.env._HANDLER} response` : null;
    tracer._endInvocation(store, failed, outcome, key);
  }
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

module.exports = { runMethod, runHandler, decorator, annotate, isThenable, FLUSH_TIMEOUT_MS };
