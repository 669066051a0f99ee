'use strict';
/**
 * Loads the native addon and its per-thread recorder, once, on first need.
 *
 * Nothing native is loaded while tracing is disabled. If the addon cannot be loaded (no
 * binary for this platform) tracing is reported as unavailable and stays off: importing
 * oxray never throws.
 *
 * The binary built for this platform is loaded directly when it sits in the package (the
 * common case, and about 1.5 ms faster at cold start); the generated loader `binding.js`,
 * which also knows musl, other platforms and NAPI_RS_NATIVE_LIBRARY_PATH, is the fallback.
 */

const logger = require('./logger');
const VERSION = require('./version');

/**
 * The hot-path functions the addon registers by hand (see bindings/node/src/fast.rs); the
 * generated `binding.d.ts` does not list them.
 * @typedef {object} FastPath
 * @property {(parent: number, nameId: number) => number} beginNamed begins a subsegment named by an `internName` id; 0 if none
 * @property {(header: string | null, nameId: number, coldStart: boolean, serviceId: number) => number} beginInvocationNamed beginInvocation with the handler and service names interned; 0 if not begun
 * @property {(handle: number) => boolean} sampledFast whether the entity's trace is recorded (false for a stale handle)
 * @property {(handle: number, timeoutMs: number) => boolean} endInvocationFast endInvocation without napi-rs's per-call bookkeeping
 * @property {(handle: number) => boolean} endFast ends the entity now
 * @property {(handle: number, namespaceId: number, keyId: number, json: string) => boolean} endWithMetadata records one metadata value (interned namespace and key; namespace 0 is `default`), then ends the entity
 * @property {(handle: number, key: string, value: string | number | boolean) => boolean} annotateFast adds an annotation
 * @property {(handle: number, namespace: string | null, key: string, json: string) => boolean} metadataFast adds a metadata value (JSON text from serialize.js); a null namespace is `default`
 * @property {(handle: number, keyId: number, value: string | number | boolean) => boolean} annotateNamed annotateFast with the key interned (`internName`)
 * @property {(handle: number, namespaceId: number, keyId: number, json: string) => boolean} metadataNamed metadataFast with the namespace and key interned (namespace 0 is `default`)
 * @property {(name?: string, traceHeader?: string, host?: string, method?: string, path?: string, scheme?: string, userAgent?: string, remoteAddr?: string, forwardedFor?: string) => number} beginRequest begins the segment of an incoming request (server mode); 0 when tracing is off
 * @property {(handle: number) => string | null} responseHeader the `X-Amzn-Trace-Id` to answer a request with
 * @property {(handle: number, status: number, contentLength?: number) => boolean} endRequest records the response (status 0: unknown) and ends the request's segment
 * @property {(handle: number, status: number, contentLength?: number) => boolean} endRequestLater endRequest with the segment ended, at this call's time, by the next flushRequests; true when that flush is to be scheduled
 * @property {() => number} flushRequests ends the requests noted by endRequestLater; how many ended
 */
/** @typedef {typeof import('../binding') & FastPath} Native */

/** @type {Native | null} */
let binding = null;
let state = 'unloaded'; // unloaded | ready | failed
/** Sampling set up before the recorder existed, applied when it starts (see sampling.js). */
const pendingSampling = { rules: /** @type {string | null} */ (null), centralized: false };

/** The addon: this platform's binary if present, else through the generated loader. */
function loadAddon() {
  if (!process.env.NAPI_RS_NATIVE_LIBRARY_PATH && process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')) {
    try {
      // A glibc build; on musl it fails to load and the generated loader takes over.
      return require(`../oxray.linux-${process.arch}-gnu.node`);
    } catch {
      // Not shipped for this platform, or not loadable here.
    }
  }
  return require('../binding.js');
}

/**
 * The addon with its recorder initialized, or null if it is unavailable.
 * @returns {Native | null}
 */
function recorder() {
  if (state === 'ready') return binding;
  if (state === 'failed') return null;
  try {
    const b = /** @type {Native} */ (loadAddon());
    if (typeof b.beginNamed !== 'function' || typeof b.sampledFast !== 'function' || typeof b.endInvocationFast !== 'function') {
      throw new Error('the native addon does not match this version of oxray (rebuild it)');
    }
    b.installDiagnostics((level, message) => logger.log(level, message), logger.levelName());
    // Documents go to a queue drained by a sender thread, so a traced call never waits for
    // send(); a full queue is drained by the caller (never dropped), and the end of a Lambda
    // invocation sends what is queued from the caller before the handler returns.
    // OXRAY_EMIT_MODE=udp sends every document from the caller instead; OXRAY_QUEUE_CAPACITY
    // sets the queue's length (default 16384).
    const mode = process.env.OXRAY_EMIT_MODE || 'background';
    /** @type {Record<string, unknown>} */
    const config = { sdk_name: 'oxray for Node.js', sdk_version: VERSION, emit_mode: mode };
    const capacity = Number(process.env.OXRAY_QUEUE_CAPACITY);
    if (Number.isSafeInteger(capacity) && capacity > 0) config.queue_capacity = capacity;
    if (pendingSampling.rules !== null) config.sampling_rules = pendingSampling.rules;
    if (pendingSampling.centralized) config.centralized_sampling = true;
    const problem = b.init(JSON.stringify(config));
    if (problem) {
      logger.error(`recorder configuration refused (${problem}); using defaults`);
      b.init(null);
    }
    // What init() reported (an invalid AWS_XRAY_DAEMON_ADDRESS, …) reaches the logger on a
    // later turn of the event loop; this turn makes sure there is one, even in a script that
    // would otherwise exit first.
    setImmediate(noop);
    // What is still queued when the process (or this worker thread) exits is sent first,
    // waiting at most EXIT_FLUSH_MS: a script that ends right after traced work loses nothing.
    process.once('exit', () => flushAtExit(b));
    binding = b;
    state = 'ready';
    return b;
  } catch (err) {
    state = 'failed';
    logger.error(`native addon unavailable, tracing disabled: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
}

function noop() {}

/** Longest wait for the sender thread when the process exits. */
const EXIT_FLUSH_MS = 1000;

/** @param {Native} b */
function flushAtExit(b) {
  try {
    // Requests whose responses ended in this last turn (server mode ends them a turn later).
    b.flushRequests();
    b.flush(EXIT_FLUSH_MS);
  } catch {
    // Nothing can be reported any more.
  }
}

/** True once the addon is loaded (without loading it). */
function isLoaded() {
  return state === 'ready';
}

module.exports = { recorder, isLoaded, addon: loadAddon, pendingSampling };
