'use strict';
/**
 * Outgoing HTTP capture, installed once per process (two Tracers never double a subsegment
 * or a header): `http`/`https` `request`/`get` are wrapped (and ESM named imports synced),
 * `fetch` is observed through undici's diagnostics channels. Each call becomes a `remote`
 * subsegment named after the host, with method, URL (scheme, host, the port when it is not the
 * scheme's default, path; no query), status, flags and an injected `X-Amzn-Trace-Id`. (The X-Ray
 * Node SDK drops the port; Python's and Go's keep it, as do oxray's server-mode segments: without
 * it two services on one host are one URL.) Calls made outside traced code, or already carrying a trace
 * header (AWS SDK clients traced by captureAWSv3Client), are left alone.
 *
 * Subsegments end when the response headers arrive (or on error), for http and fetch alike.
 *
 * http/https loaded by the handler itself, after its invocation began (a lazy `import`), or a
 * `request` function taken from the module before it was wrapped: such a request is seen on
 * Node's `http.client.request.start` channel, once its headers are already written. It is
 * recorded all the same, without the trace header (too late for it), and the modules are
 * wrapped there and then, so the requests that follow carry the header.
 */

const nativeLoader = require('./native');

/** @type {typeof import('./context') | null} */
let contextModule = null;
/** The context module, loaded with the first request (installing capture does not need it). */
const context = () => (contextModule ??= require('./context'));
/** @type {(typeof import('./errors'))['recordError']} */
const recordError = (native, handle, err, remote) => require('./errors').recordError(native, handle, err, remote);

const HEADER = 'X-Amzn-Trace-Id';
let installed = false;

/** @typedef {{ h: number }} Pending */

/**
 * Begins a remote subsegment for a request under the current traced entity, or returns null.
 * @param {string} host
 * @param {string} method
 * @param {string} url
 * @returns {Pending | null}
 */
function beginRemote(host, method, url) {
  const store = context().currentStore();
  const native = nativeLoader.recorder();
  if (store === null || native === null) return null;
  const h = native.begin(store.h, host || 'Unknown host');
  if (h === 0) return null;
  native.setNamespace(h, 'remote');
  native.httpRequest(h, { method, url, traced: true });
  return { h };
}

/**
 * @param {Pending} p
 * @param {number | undefined} status
 * @param {number | undefined} length
 * @param {unknown} [error]
 * @param {boolean} [remoteError]
 */
function endRemote(p, status, length, error, remoteError = false) {
  const native = /** @type {import('./native').Native} */ (nativeLoader.recorder());
  if (status !== undefined) native.httpResponse(p.h, status, length ?? null);
  if (error !== undefined) recordError(native, p.h, error, remoteError);
  native.end(p.h);
}

/** @param {unknown} v */
function toLength(v) {
  const n = Number(Array.isArray(v) ? v[0] : v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

// ---- node:http / node:https ----

/** @type {WeakMap<object, Pending>} */
const httpPending = new WeakMap();

/** @param {any} req */
function instrumentClientRequest(req) {
  if (req.getHeader(HEADER) !== undefined) return;
  const path = String(req.path ?? '/').split('?')[0];
  const host = String(req.host ?? '');
  const p = beginRemote(host, String(req.method ?? 'GET'), `${req.protocol ?? 'http:'}//${authority(req, host)}${path}`);
  if (p === null) return;
  httpPending.set(req, p);
  if (!req.headersSent && !req._header) {
    const native = /** @type {import('./native').Native} */ (nativeLoader.recorder());
    req.setHeader(HEADER, native.outgoingHeader(p.h) ?? '');
  }
  const { errorMonitor } = require('node:events');
  req.on(errorMonitor, safe((/** @type {unknown} */ err) => {
    const pending = httpPending.get(req);
    if (pending === undefined) return;
    httpPending.delete(req);
    endRemote(pending, undefined, undefined, err, false);
  }));
  req.once('close', safe(() => {
    const pending = httpPending.get(req);
    if (pending === undefined) return;
    httpPending.delete(req);
    endRemote(pending, undefined, undefined);
  }));
}

/**
 * The request's authority as the server sees it: the Host header Node composed (bracketed IPv6,
 * `:port` only when not the agent's default port), or one the caller set; the bare host when
 * there is none (`setHost: false`).
 * @param {any} req
 * @param {string} host
 */
function authority(req, host) {
  const header = req.getHeader('host');
  return typeof header === 'string' && header !== '' ? header : host;
}

/** @param {any} message */
function onHttpResponse(message) {
  const pending = httpPending.get(message.request);
  if (pending === undefined) return;
  httpPending.delete(message.request);
  const res = message.response;
  endRemote(pending, res.statusCode, toLength(res.headers?.['content-length']));
}

/**
 * A client request on its way out (`http.client.request.start`): nothing to do for one the
 * wrappers saw; any other, made in traced code, is recorded without the header (see the
 * module docs), and the modules loaded meanwhile are wrapped.
 * @param {any} message
 */
function onHttpRequestStart({ request }) {
  if (httpPending.has(request)) return;
  wrapLoadedHttp();
  if (context().currentStore() !== null) instrumentClientRequest(request);
}

/** @param {any} mod node:http or node:https */
function wrapModule(mod) {
  const original = mod.request;
  /** @this {unknown} @param {unknown[]} args */
  mod.request = function request(...args) {
    const req = Reflect.apply(original, this, args);
    if (context().currentStore() !== null) {
      try {
        instrumentClientRequest(req);
      } catch (err) {
        nativeLoader.recorder()?.warn(`http capture failed (request left untraced): ${String(err)}`);
      }
    }
    return req;
  };
  /** @this {unknown} @param {unknown[]} args */
  mod.get = function get(...args) {
    const req = Reflect.apply(mod.request, this, args);
    req.end();
    return req;
  };
}

// ---- fetch (undici) ----

/** @type {WeakMap<object, Pending>} */
const fetchPending = new WeakMap();

/** @param {unknown} headers undici keeps them as a string or as an array */
function hasTraceHeader(headers) {
  if (typeof headers === 'string') return /(^|\r\n)x-amzn-trace-id:/i.test(headers);
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === 'x-amzn-trace-id') return true;
    }
  }
  return false;
}

/** @param {any} message */
function onFetchCreate({ request }) {
  try {
    if (request.method === 'CONNECT' || context().currentStore() === null) return;
    if (hasTraceHeader(request.headers)) return;
    const origin = new URL(String(request.origin));
    const path = String(request.path ?? '/').split('?')[0];
    // `origin.host` carries the port when it is not the scheme's default.
    const p = beginRemote(origin.hostname, String(request.method), `${origin.protocol}//${origin.host}${path}`);
    if (p === null) return;
    fetchPending.set(request, p);
    const native = /** @type {import('./native').Native} */ (nativeLoader.recorder());
    request.addHeader(HEADER, native.outgoingHeader(p.h) ?? '');
  } catch (err) {
    nativeLoader.recorder()?.warn(`fetch capture failed (request left untraced): ${String(err)}`);
  }
}

/** @param {any} message */
function onFetchHeaders({ request, response }) {
  const p = fetchPending.get(request);
  if (p === undefined) return;
  fetchPending.delete(request);
  let length;
  const raw = response.headers;
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i += 2) {
      if (String(raw[i]).toLowerCase() === 'content-length') length = toLength(String(raw[i + 1]));
    }
  }
  endRemote(p, response.statusCode, length);
}

/** @param {any} message */
function onFetchError({ request, error }) {
  const p = fetchPending.get(request);
  if (p === undefined) return;
  fetchPending.delete(request);
  endRemote(p, undefined, undefined, error, true);
}

/**
 * A diagnostics-channel subscriber that can never throw (a throwing subscriber would surface
 * as an uncaught exception in the user's process).
 * @param {(message: any) => void} fn
 */
function safe(fn) {
  return (/** @type {any} */ message) => {
    try {
      fn(message);
    } catch (err) {
      try {
        nativeLoader.recorder()?.warn(`http capture failed: ${String(err)}`);
      } catch {
        // Nothing more can be done.
      }
    }
  };
}

const wrapped = { http: false, https: false };
let seenModules = 0;

/**
 * Wraps node:http / node:https once something has loaded them: oxray never loads them itself
 * (node:https alone costs milliseconds and megabytes at cold start). Called at install, at
 * the start of every traced invocation and for a request the wrappers did not see; cheap when
 * nothing new was loaded.
 */
function wrapLoadedHttp() {
  if (!installed || (wrapped.http && wrapped.https)) return;
  const list = /** @type {string[]} */ (/** @type {any} */ (process).moduleLoadList ?? []);
  if (list.length === seenModules) return;
  seenModules = list.length;
  let changed = false;
  for (const name of /** @type {const} */ (['http', 'https'])) {
    if (!wrapped[name] && list.includes(`NativeModule ${name}`)) {
      wrapped[name] = true;
      wrapModule(require(`node:${name}`));
      changed = true;
    }
  }
  // ESM `import { request } from 'node:http'` sees the wrappers too.
  if (changed) require('node:module').syncBuiltinESMExports();
}

/** Installs http, https and fetch capture (idempotent). */
function httpAndFetch() {
  if (installed) return;
  installed = true;
  wrapLoadedHttp();
  const dc = require('node:diagnostics_channel');
  dc.subscribe('http.client.request.start', safe(onHttpRequestStart));
  dc.subscribe('http.client.response.finish', safe(onHttpResponse));
  dc.subscribe('undici:request:create', safe(onFetchCreate));
  dc.subscribe('undici:request:headers', safe(onFetchHeaders));
  dc.subscribe('undici:request:error', safe(onFetchError));
}

module.exports = { httpAndFetch, wrapLoadedHttp };
