'use strict';
/**
 * Which entity is current: AsyncLocalStorage only (no async_hooks.createHook, no cls-hooked).
 *
 * The storage is created on the first traced call, so a process whose tracing is disabled
 * installs nothing. A store is `{ h, inv, seg }`: the current entity's native handle, the
 * invocation it belongs to (null outside a Lambda handler) and, once asked for, its
 * user-facing wrapper. Each traced call runs in a new store, so `Promise.all` siblings and
 * overlapping invocations never share one.
 *
 * Outside any store, the current entity is the Lambda facade of the trace header in effect
 * (`awslambda.InvokeStore`, then `_X_AMZN_TRACE_ID`), or what `setSegment()` put there.
 */

/** @typedef {{ facade: number, header: string | undefined, open: Set<number> }} Invocation */
/**
 * @typedef {{ h: number, inv: Invocation | null, seg?: object, name?: string, done?: boolean }} Store
 * `done` marks a store entered with enterWith (middy) after its invocation ended: it may
 * linger in the caller's async flow and must not be used any more.
 */

/** @type {import('node:async_hooks').AsyncLocalStorage<Store> | null} */
let storage = null;
/** @type {Store | null} set by setSegment() outside any traced call */
let rootStore = null;
/** @type {{ header: string | undefined, handle: number } | null} */
let ambient = null;

/** @returns {import('node:async_hooks').AsyncLocalStorage<Store>} */
function als() {
  if (storage === null) {
    const { AsyncLocalStorage } = require('node:async_hooks');
    storage = new AsyncLocalStorage();
  }
  return storage;
}

/** @returns {Store | null} */
function currentStore() {
  if (storage !== null) {
    const store = storage.getStore();
    if (store !== undefined && store.done !== true) return store;
  }
  return rootStore;
}

/**
 * Runs `fn` with `store` current.
 * @template R
 * @param {Store} store
 * @param {() => R} fn
 * @returns {R}
 */
function run(store, fn) {
  return als().run(store, fn);
}

/**
 * Makes `store` current for the rest of the current async flow (middy's before/after steps,
 * which cannot wrap the handler).
 * @param {Store | undefined} store
 */
function enter(store) {
  als().enterWith(/** @type {Store} */ (store));
}

/** @param {Store | null} store */
function setRootStore(store) {
  rootStore = store;
}

/**
 * The invocation's trace header: `awslambda.InvokeStore` (per invocation, concurrency-safe)
 * first, then `_X_AMZN_TRACE_ID`.
 * @returns {string | undefined}
 */
function invocationHeader() {
  try {
    /** @type {any} */
    const g = globalThis;
    const fromStore = g.awslambda?.InvokeStore?.getXRayTraceId?.();
    if (typeof fromStore === 'string' && fromStore) return fromStore;
  } catch {
    // A broken InvokeStore is treated as absent.
  }
  const env = process.env._X_AMZN_TRACE_ID;
  return env ? env : undefined;
}

/**
 * Handle of the facade for the header in effect outside any invocation (cached per header).
 * @param {typeof import('../binding')} native
 */
function ambientFacade(native) {
  const header = invocationHeader();
  if (ambient !== null && ambient.header === header && ambient.handle !== 0) return ambient.handle;
  if (ambient !== null) native.release(ambient.handle);
  ambient = { header, handle: native.facade(header ?? null) };
  return ambient.handle;
}

/**
 * Handle of the current entity.
 * @param {typeof import('../binding')} native
 */
function currentHandle(native) {
  const store = currentStore();
  return store !== null ? store.h : ambientFacade(native);
}

module.exports = { als, run, enter, currentStore, setRootStore, invocationHeader, ambientFacade, currentHandle };
