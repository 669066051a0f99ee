'use strict';
/**
 * Which entity is current: AsyncLocalStorage only (no async_hooks.createHook, no cls-hooked).
 *
 * The storage is created on the first traced call, so a process whose tracing is disabled
 * installs nothing. A store is `{ h, seg, name, done, unsampled }`: the current entity's
 * native handle and, once asked for, its user-facing wrapper. Each traced call runs in a new
 * store, so `Promise.all` siblings and overlapping invocations never share one. Under a store
 * known to be unsampled, traced calls make no store and no subsegment at all (nothing would
 * be recorded): they cost about what a disabled tracer's do.
 *
 * The await tax. On Node 20 an enabled AsyncLocalStorage runs promise hooks on every promise
 * of the process, traced or not (plain `await` about 2× slower). So the storage is enabled
 * only while traced work is active: each invocation and each traced call begun outside one
 * holds it ({@link hold} / {@link release}), and once the last lets go the storage is
 * disabled and the hooks removed, at the next turn of the event loop if nothing took it again
 * meanwhile (the Lambda runtime always turns the loop between invocations). Switching the
 * hooks costs V8 several microseconds, so it is not done between back-to-back traced calls.
 * Overlapping invocations keep the storage enabled until the last one ends.
 * Work that cannot say when it ends (provider subsegments begun outside an invocation, a
 * middy invocation that never reaches `after`) holds it for good: tracing stays correct, only
 * the tax remains.
 *
 * Outside any store, the current entity is the Lambda facade of the trace header in effect
 * (`awslambda.InvokeStore`, then `_X_AMZN_TRACE_ID`), or what `setSegment()` put there.
 */

/**
 * @typedef {{ h: number, seg: object | undefined, name: string | undefined, done: boolean, unsampled: boolean, handler: number, request: import('./request').Traced | null }} Store
 * `done` marks a store entered with enterWith (middy) after its invocation ended: it may
 * linger in the caller's async flow and must not be used any more. `unsampled` is true only
 * when the entity is known not to be sampled (false: sampled, or not asked). `handler` is the
 * handle of an invocation's handler subsegment (0 in every other store): `h` may be changed
 * by setSegment(), the end of the invocation still ends the handler. `request` is the open
 * server-mode request (request.js `Traced`) whose segment the store is, else null.
 */

/** @type {import('node:async_hooks').AsyncLocalStorage<Store> | null} */
let storage = null;
/** Holders of the storage (see the module docs); it is disabled when this drops to 0. */
let holders = 0;
/** Set once something held the storage without a known end: it is never disabled again. */
let heldForGood = false;
/** A check for idleness is queued for the next turn of the event loop. */
let idleCheckQueued = false;
/** @type {Store | null} set by setSegment() outside any traced call */
let rootStore = null;
/** @type {{ header: string | undefined, handle: number, unsampled: boolean } | null} */
let ambient = null;

/**
 * What tells the addon "this invocation has no trace header". The addon reads
 * `_X_AMZN_TRACE_ID` from the process environment when given null: right on the main thread,
 * whose `process.env` that is, wrong in a worker thread, whose `process.env` is its own copy
 * (it would trace under the main thread's header). There an empty header is passed instead:
 * refused as malformed (logged and counted), nothing traced.
 */
const NO_HEADER = require('node:worker_threads').isMainThread ? null : '';

/** @returns {import('node:async_hooks').AsyncLocalStorage<Store>} */
function als() {
  if (storage === null) {
    const { AsyncLocalStorage } = require('node:async_hooks');
    storage = new AsyncLocalStorage();
  }
  return storage;
}

/**
 * A new store (always the same shape, which keeps property access fast).
 * @param {number} h
 * @param {string} [name]
 * @param {object} [seg]
 * @param {boolean} [unsampled] true only when `h` is known not to be sampled
 * @returns {Store}
 */
function newStore(h, name, seg, unsampled = false) {
  return { h, seg, name, done: false, unsampled, handler: 0, request: null };
}

/** Keeps the storage enabled until the matching {@link release}. */
function hold() {
  holders++;
}

/**
 * Lets go of one {@link hold}. When none is left, the storage (and its promise hooks) is
 * disabled at the next turn of the event loop unless it is held again by then.
 */
function release() {
  if (holders > 0) holders--;
  if (holders === 0 && !heldForGood && storage !== null && !idleCheckQueued) {
    idleCheckQueued = true;
    setImmediate(disableIfIdle).unref();
  }
}

function disableIfIdle() {
  idleCheckQueued = false;
  if (holders === 0 && !heldForGood && storage !== null) storage.disable();
}

/** Keeps the storage enabled for the rest of the process. */
function holdForGood() {
  heldForGood = true;
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
  // Nothing says when work begun outside any holder ends: keep the storage for good.
  if (holders === 0) holdForGood();
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
  const fromStore = invokeStoreHeader();
  if (fromStore !== undefined) return fromStore;
  const env = process.env._X_AMZN_TRACE_ID;
  return env ? env : undefined;
}

/**
 * The header `awslambda.InvokeStore` holds for this invocation, if any.
 * @returns {string | undefined}
 */
function invokeStoreHeader() {
  try {
    /** @type {any} */
    const g = globalThis;
    const fromStore = g.awslambda?.InvokeStore?.getXRayTraceId?.();
    if (typeof fromStore === 'string' && fromStore) return fromStore;
  } catch {
    // A broken InvokeStore is treated as absent.
  }
  return undefined;
}

/**
 * Handle of the facade for the header in effect outside any invocation (cached per header).
 * @param {import('./native').Native} native
 */
function ambientFacade(native) {
  const header = invocationHeader();
  if (ambient !== null && ambient.header === header && ambient.handle !== 0) return ambient.handle;
  if (ambient !== null) native.release(ambient.handle);
  const handle = native.facade(header ?? NO_HEADER);
  ambient = { header, handle, unsampled: !native.sampledFast(handle) };
  return handle;
}

/**
 * True when the facade {@link ambientFacade} last returned is known not to be sampled (no
 * header, `Sampled=0`, an unusable header).
 */
function ambientUnsampled() {
  return ambient !== null && ambient.unsampled;
}

/**
 * Handle of the current entity.
 * @param {import('./native').Native} native
 */
function currentHandle(native) {
  const store = currentStore();
  return store !== null ? store.h : ambientFacade(native);
}

/**
 * The invocation's trace header as the addon should get it (see {@link NO_HEADER}). On the
 * main thread `_X_AMZN_TRACE_ID` is left to the addon (null), which reads the same process
 * environment without making a JavaScript string of it first (Node's `process.env` getter
 * costs about 0.3 µs per read).
 * @returns {string | null}
 */
function nativeHeader() {
  const fromStore = invokeStoreHeader();
  if (fromStore !== undefined) return fromStore;
  if (NO_HEADER === null) return null;
  return process.env._X_AMZN_TRACE_ID || NO_HEADER;
}

module.exports = { als, run, enter, newStore, hold, release, holdForGood, currentStore, setRootStore, invocationHeader, nativeHeader, ambientFacade, ambientUnsampled, currentHandle };
