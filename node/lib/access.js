'use strict';
/**
 * How request.js reads an incoming request and its response: two ways with the same names.
 *
 * `direct`: plain property loads. Node gives every IncomingMessage and ServerResponse of a
 * kind the same hidden class (V8 map), so these loads hit V8's inline caches: a few
 * instructions each. `traceHttpServer` uses it.
 *
 * `generic`: `Reflect.get`. Express sets the prototype of every request's `req` and `res`,
 * then adds properties to them, and V8 does not share maps made after a prototype change: each
 * request's objects get maps of their own, never seen before, so every named load on them
 * misses the inline cache and V8's megamorphic stub cache and goes to the runtime (about 3,500
 * instructions each, counted with callgrind in `bench/node/profile-server.mjs`; Express's own
 * code and Node's http internals pay the same on these objects). `Reflect.get` looks the
 * property up without an inline cache: the same answer for a fraction of that. `traceExpress`
 * uses it.
 *
 * `appEntry`: `direct` for what is read at the begin, `generic` for what is read at the end.
 *
 * Each function reads one property; none of them throws for Node's own objects.
 */

/** @typedef {typeof direct} Access */

const direct = {
  /** @param {any} req */ rawHeaders: (req) => req.rawHeaders,
  /** @param {any} req */ url: (req) => req.url,
  /** @param {any} req */ method: (req) => req.method,
  /** @param {any} req */ socket: (req) => req.socket,
  /** @param {any} res */ headersSent: (res) => res.headersSent,
  /** @param {any} res */ writableFinished: (res) => res.writableFinished,
  /** @param {any} res */ statusCode: (res) => res.statusCode,
  /** @param {any} res */ contentLength: (res) => res._contentLength,
  /** @param {any} res */ setHeader: (res) => res.setHeader,
  /** @param {any} res @param {symbol} key */ symbol: (res, key) => res[key],
  /** Calls `fn` once the response is closed (`res.on('close', fn)`). @param {any} res @param {() => void} fn */
  onClose: (res, fn) => res.on('close', fn),
};

const get = Reflect.get;

/**
 * `headersSent` and `writableFinished` are getters on Node's prototypes whose own loads on the
 * response would miss as above: the fields they read are read here instead (Node 18–24:
 * `_header` is null until the headers are written; `finished` is set by `end()`, `outputSize`
 * counts what waits to be written), and the getter is asked when a field is not as expected.
 */
/** @param {any} res */
function headersSent(res) {
  const header = get(res, '_header');
  // The getter is `!!this._header`.
  return header === null ? false : typeof header === 'string' ? header !== '' : get(res, 'headersSent');
}

/** @param {any} res */
function writableFinished(res) {
  const finished = get(res, 'finished');
  const outputSize = get(res, 'outputSize');
  if (typeof finished !== 'boolean' || typeof outputSize !== 'number') return get(res, 'writableFinished');
  if (!finished || outputSize !== 0) return false;
  const socket = get(res, 'socket');
  return !socket || socket.writableLength === 0;
}

/** @type {Access} */
const generic = {
  rawHeaders: (req) => get(req, 'rawHeaders'),
  url: (req) => get(req, 'url'),
  method: (req) => get(req, 'method'),
  socket: (req) => get(req, 'socket'),
  headersSent,
  writableFinished,
  statusCode: (res) => get(res, 'statusCode'),
  contentLength: (res) => get(res, '_contentLength'),
  setHeader: (res) => get(res, 'setHeader'),
  symbol: (res, key) => get(res, key),
  onClose: (res, fn) => get(res, 'on').call(res, 'close', fn),
};

/**
 * An Express app's entry (`traceExpressApp`): the request is begun before Express changes the
 * prototypes, while `req` and `res` still have Node's shared maps (plain loads, as `direct`);
 * the response is read at its end, after that change, as `generic` reads it.
 * @type {Access}
 */
const appEntry = {
  ...direct,
  headersSent,
  writableFinished,
  statusCode: generic.statusCode,
  contentLength: generic.contentLength,
};

module.exports = { direct, generic, appEntry };
