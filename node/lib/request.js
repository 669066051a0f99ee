'use strict';
/**
 * One incoming HTTP request in server mode, shared by `traceHttpServer` and `traceExpress`.
 *
 * {@link beginRequest} reads the request (trace header, host, method, path, client) into one
 * native call that continues or starts the trace, samples it and records `http.request`;
 * answers with the `X-Amzn-Trace-Id` response header; makes the segment current for the
 * request; and ends it when the response is done or the connection closes first.
 *
 * Making it current. The handler runs synchronously from the server's `request` event, but
 * the request's body events (`data`, `end`, which run Express's next middleware after a body
 * parser) are emitted later by the connection's HTTP parser, in the async context of that
 * connection, not of anything the handler started. `AsyncLocalStorage.enterWith` from inside
 * the `request` event sets the store on exactly that context, so both see the segment. The
 * next request on a kept-alive connection replaces it; until then the ended request's store
 * is marked `done`, so nothing later on that connection mistakes it for current.
 *
 * The segment ends on the response's `close` event, which Node emits after the response was
 * handed to the connection (`finish`) and also when the connection closes before that: a
 * client that went away is recorded (error flag, cause `ClientClosedRequest`), not lost. A
 * sampled request's end time is taken then; the core ends and sends it on the next turn of
 * the event loop, with every request that ended in the same turn (`endRequestLater`,
 * `flushRequests`: see `bindings/node/src/server.rs` for why), or at exit.
 */

const context = require('./context');
const logger = require('./logger');
const { setTraceHeader } = require('./response-header');
const access = require('./access');

/** @typedef {import('./tracer').Tracer} Tracer */
/** @typedef {import('node:http').IncomingMessage} IncomingMessage */
/** @typedef {import('node:http').ServerResponse} ServerResponse */
/** @typedef {import('./access').Access} Access */

/** What the traced request keeps until its end. */
class Traced {
  /**
   * @param {Tracer} tracer
   * @param {import('./context').Store} store
   * @param {ServerResponse} res
   * @param {Access} read how `res` is read at the end
   */
  constructor(tracer, store, res, read) {
    this.tracer = tracer;
    this.store = store;
    this.res = res;
    this.read = read;
    /** The request's segment (the store's handle may be changed by `setSegment`). */
    this.h = store.h;
    /** The handler failed and that was recorded: a closed connection is no news then. */
    this.failed = false;
  }
}

/**
 * The segment name asked for: the option, else the Tracer's service name when one was set;
 * without either the core names the segment after the Host.
 * @param {Tracer} tracer
 * @param {string | undefined} name
 */
function segmentName(tracer, name) {
  if (typeof name === 'string' && name !== '') return name;
  const service = tracer.serviceName;
  return service !== 'service_undefined' ? service : undefined;
}

/**
 * True when the raw header name `key` is `lower` in any case (the usual spellings are
 * compared first, without making a lower-case copy).
 * @param {string} key
 * @param {string} lower
 * @param {string} usual e.g. `User-Agent`
 */
const named = (key, lower, usual) => key === usual || key === lower || key.toLowerCase() === lower;

/**
 * The request headers oxray reads, found in `rawHeaders` (the lazily built `req.headers`
 * object is left alone: building it costs more than this scan). Repeated values are joined
 * with `, ` as Node joins them.
 * @param {string[]} raw name, value, name, value, …
 */
function readHeaders(raw) {
  /** @type {string | undefined} */ let trace;
  /** @type {string | undefined} */ let host;
  /** @type {string | undefined} */ let agent;
  /** @type {string | undefined} */ let forwarded;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i];
    const value = raw[i + 1];
    switch (key.length) {
      case 4:
        if (host === undefined && named(key, 'host', 'Host')) host = value;
        break;
      case 10:
        if (agent === undefined && named(key, 'user-agent', 'User-Agent')) agent = value;
        break;
      case 15:
        if (named(key, 'x-amzn-trace-id', 'X-Amzn-Trace-Id')) trace = trace === undefined ? value : `${trace}, ${value}`;
        else if (named(key, 'x-forwarded-for', 'X-Forwarded-For')) forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
        break;
      default:
        break;
    }
  }
  return { trace, host, agent, forwarded };
}

/** The addon last seen, and its `serverSlots` ([handle, sampled] of the last `serveRequest`). */
/** @type {any} */ let slotsOf = null;
/** @type {Uint32Array | null} */ let slots = null;
/** Segment names interned in that addon (`internName`): a request passes a small integer. */
/** @type {Map<string, number>} */ const nameIds = new Map();

/**
 * Finds (or installs, once per thread: `installServerFast`) the addon's `serveRequest`.
 * @param {any} native
 */
function bindAddon(native) {
  slotsOf = native;
  slots = null;
  nameIds.clear();
  if (typeof native.serveRequest !== 'function' && typeof native.installServerFast === 'function') native.installServerFast(native);
  if (typeof native.serveRequest === 'function' && native.serverSlots instanceof Uint32Array) slots = native.serverSlots;
}

/**
 * The name argument of `serveRequest`: the interned id of `name`, or the text when the table
 * is full, or undefined (the Host's name).
 * @param {any} native
 * @param {string | undefined} name
 */
function nameArg(native, name) {
  if (name === undefined) return undefined;
  let id = nameIds.get(name);
  if (id === undefined) {
    id = /** @type {number} */ (native.internName(name));
    if (nameIds.size < 1024) nameIds.set(name, id);
  }
  return id !== 0 ? id : name;
}

/**
 * The peer's address. `socket.remoteAddress` asks the connection once and keeps the answer
 * in `_peername`; on a kept-alive connection later requests read what it kept (the getter's
 * checks cost about 500 instructions per request).
 * @param {import('node:net').Socket | null | undefined} socket
 * @returns {string | undefined}
 */
function remoteAddress(socket) {
  if (socket == null) return undefined;
  const kept = /** @type {any} */ (socket)._peername;
  return kept != null && typeof kept.address === 'string' ? kept.address : socket.remoteAddress;
}

/**
 * Begins tracing `req`; returns null when it is not traced (tracing off). Never throws.
 * @param {Tracer} tracer
 * @param {IncomingMessage} req
 * @param {ServerResponse} res
 * @param {string | undefined} name segment name (see {@link segmentName})
 * @param {string | undefined} url the URL to record (Express: `originalUrl`), else `req.url`
 * @param {Access} [read] how `req` and `res` are read (access.js; Express: `generic`)
 * @returns {Traced | null}
 */
function beginRequest(tracer, req, res, name, url, read = access.direct) {
  if (!tracer.isTracingEnabled()) return null;
  const native = /** @type {any} */ (tracer._native);
  /** The segment once begun: ended here if what follows fails, so it is sent, not left open. */
  let begun = 0;
  try {
    if (native !== slotsOf) bindAddon(native);
    const { trace, host, agent, forwarded } = readHeaders(read.rawHeaders(req));
    const target = url ?? read.url(req) ?? '/';
    const query = target.indexOf('?');
    const socket = read.socket(req);
    const path = query === -1 ? target : target.slice(0, query);
    /** @type {number} */ let h;
    /** @type {string | null | undefined} */ let answer;
    let unsampled = false;
    if (slots !== null) {
      // One crossing: the handle and the sampling decision come back in `slots`. The details
      // after the path are read by the addon only when the request is sampled.
      answer = native.serveRequest(nameArg(native, name), trace, host, read.method(req), path, /** @type {any} */ (socket)?.encrypted === true, agent, remoteAddress(socket), forwarded);
      if (answer === undefined) return null;
      h = begun = slots[0];
      unsampled = slots[1] === 0;
    } else {
      h = native.beginRequest(
        name,
        trace,
        host,
        read.method(req),
        path,
        /** @type {any} */ (socket)?.encrypted ? 'https' : 'http',
        agent,
        socket?.remoteAddress,
        forwarded,
      );
      if (h === 0) return null;
      begun = h;
      answer = native.responseHeader(h);
    }
    if (answer !== null && !read.headersSent(res)) {
      try {
        setTraceHeader(res, answer, read);
      } catch (err) {
        // A replaced `setHeader` that throws: the request is traced, answered without the header.
        tracer._internalError(err);
      }
    }
    const traced = new Traced(tracer, context.newStore(h, name, undefined, unsampled), res, read);
    // The store knows its request while it is open (Express's error middleware and a mounted
    // app find it there: no map from stores to requests to keep up per request).
    traced.store.request = traced;
    // A closure rather than a property added to `res` (whose shape oxray leaves alone).
    read.onClose(res, () => endRequest(traced));
    context.enter(traced.store);
    return traced;
  } catch (err) {
    tracer._internalError(err);
    if (begun !== 0) {
      try {
        native.endRequest(begun, 0, undefined);
      } catch (endErr) {
        tracer._internalError(endErr);
      }
    }
    return null;
  }
}

/**
 * The response's length. Node keeps it in `_contentLength` once the headers are sent: the
 * Content-Length header's value (`+value`, set while writing the headers) or, without one, the
 * length it computed itself when `end(body)` came first. Else (a chunked response, or a
 * response class that does not keep it) the Content-Length header, if any. Reading the field
 * first spares `getHeader`'s lower-casing and table look-up on every request.
 * @param {ServerResponse} res
 * @param {Access} read
 * @returns {number | undefined}
 */
function contentLength(res, read) {
  const computed = read.contentLength(res);
  if (typeof computed === 'number') return computed;
  const declared = res.getHeader('content-length');
  return declared !== undefined ? Number(declared) : undefined;
}

/**
 * The response is done, or the connection closed first: records it and ends the segment.
 * @param {Traced} traced
 */
function endRequest(traced) {
  const { tracer, store, res, read } = traced;
  if (store.done) return;
  store.done = true;
  // The store may stay referenced (by the connection, by promises made in the request) after
  // the end: it must not keep the response alive.
  store.request = null;
  const native = /** @type {import('./native').Native} */ (tracer._native);
  // What could be read of the response is recorded; a read that throws (a response class or a
  // framework replacing `getHeader`, say) is logged, and the segment is still ended and sent.
  // An unsampled request records nothing, so nothing of its response is read (under Express
  // each read is a lookup without inline cache, see access.js).
  let status = 0;
  /** @type {number | undefined} */ let length;
  if (!store.unsampled) {
    try {
      if (!read.writableFinished(res) && !traced.failed) {
        native.setFlags(traced.h, true, false, false);
        native.addException(traced.h, {
          typeName: 'ClientClosedRequest',
          message: 'the connection closed before the response was complete',
          remote: true,
          stack: [],
        });
      }
      if (read.headersSent(res)) {
        status = read.statusCode(res);
        length = contentLength(res, read);
      }
    } catch (err) {
      tracer._internalError(err);
    }
  }
  try {
    // A sampled request is ended at this time by the flush at the next turn of the event loop,
    // together with the other requests that end in this turn (server.rs says why). An unsampled
    // one has next to nothing to end: it ends now, sparing it the flush's scheduling.
    if (store.unsampled) native.endRequest(traced.h, 0, undefined);
    else if (native.endRequestLater(traced.h, status, length)) setImmediate(flushRequests, tracer);
  } catch (err) {
    tracer._internalError(err);
  }
}

/**
 * Ends the requests whose ends were noted (`endRequestLater`). Never throws.
 * @param {Tracer} tracer
 */
function flushRequests(tracer) {
  try {
    /** @type {import('./native').Native} */ (tracer._native).flushRequests();
  } catch (err) {
    tracer._internalError(err);
  }
}

/**
 * Records an error of the request's handler: a status below 500 carried by the error
 * (`status`/`statusCode`, as Express and http-errors set it) marks a client error, else a
 * fault; the error becomes the segment's cause. Never throws.
 * @param {Traced} traced
 * @param {unknown} err
 */
function recordFailure(traced, err) {
  const { tracer, store } = traced;
  // Already ended: the connection closed first (a body read then fails with `aborted`), and
  // that was recorded as the client's doing.
  if (store.done) return;
  traced.failed = true;
  try {
    const status = statusOf(err);
    if (status !== undefined && status >= 400 && status < 500) /** @type {import('./native').Native} */ (tracer._native).setFlags(traced.h, true, false, status === 429);
    tracer._recordError(traced.h, err);
  } catch (problem) {
    tracer._internalError(problem);
  }
}

/** @param {unknown} err @returns {number | undefined} */
function statusOf(err) {
  if (err === null || typeof err !== 'object') return undefined;
  try {
    const e = /** @type {any} */ (err);
    const status = e.status ?? e.statusCode;
    return Number.isInteger(status) ? status : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A plain handler failed: records it (when traced) and answers 500 if nothing was sent yet,
 * else ends the response, so the client is never left waiting. The error is logged, not
 * rethrown: a throwing `request` listener would end the process.
 * @param {Traced | null} traced
 * @param {ServerResponse} res
 * @param {unknown} err
 */
function answerFailure(traced, res, err) {
  if (traced !== null) recordFailure(traced, err);
  logger.error(`request handler failed: ${err instanceof Error ? err.stack : String(err)}`);
  try {
    if (!res.headersSent) {
      res.statusCode = 500;
      res.end();
    } else if (!res.writableEnded) {
      res.end();
    }
  } catch {
    res.destroy();
  }
}

module.exports = { Traced, beginRequest, recordFailure, answerFailure, segmentName };
