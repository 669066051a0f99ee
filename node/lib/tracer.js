'use strict';
/**
 * `Tracer`: the Powertools for AWS Lambda (TypeScript) Tracer API on the oxray core.
 */

const { resolveConfig } = require('./config');
const nativeLoader = require('./native');
const context = require('./context');
const logger = require('./logger');
const { annotate, addMetadata } = require('./record');
const { recordError } = require('./errors');
const { Segment, DummySegment, wrap } = require('./segment');
const capture = require('./capture');
const { ProviderService } = require('./provider');
const instrument = require('./instrument');

/** @typedef {import('./context').Store} Store */

class Tracer {
  /**
   * @param {{ enabled?: boolean, serviceName?: string, captureHTTPsRequests?: boolean, customConfigService?: import('./config').ConfigServiceLike }} [options]
   */
  constructor(options = {}) {
    const config = resolveConfig(options ?? {}, process.env);
    /** @private */
    this._config = config;
    this.serviceName = config.serviceName;
    /** @private */
    this._coldStart = config.coldStart;
    /** @type {typeof import('../binding') | null} */
    this._native = null;
    /** @private */
    this._enabled = false;
    if (config.tracingEnabled) {
      this._native = nativeLoader.recorder();
      this._enabled = this._native !== null;
    }
    if (this._enabled && config.captureHTTPsRequests) instrument.httpAndFetch();
    this.provider = new ProviderService(this);
  }

  isTracingEnabled() {
    return this._enabled;
  }

  /** @private @returns {typeof import('../binding')} */
  get _n() {
    return /** @type {typeof import('../binding')} */ (this._native);
  }

  /** The current entity: a subsegment inside traced code, else the Lambda facade. */
  getSegment() {
    if (!this._enabled) return new DummySegment();
    const store = context.currentStore();
    if (store === null) return wrap(this._n, context.ambientFacade(this._n));
    store.seg ??= wrap(this._n, store.h);
    return store.seg;
  }

  /**
   * Makes `segment` current for the rest of the current traced call.
   * @param {any} segment a value returned by getSegment() or addNewSubsegment()
   */
  setSegment(segment) {
    if (!this._enabled) return;
    if (segment === null || typeof segment !== 'object' || typeof segment.handle !== 'number') {
      this._warn('setSegment() needs a segment returned by getSegment() or addNewSubsegment(); ignored');
      return;
    }
    const store = context.currentStore();
    if (store !== null) {
      store.h = segment.handle;
      store.seg = segment;
    } else {
      context.setRootStore({ h: segment.handle, inv: null, seg: segment });
    }
  }

  /**
   * The current subsegment's handle, or 0 (with the Powertools warning) at the facade.
   * @private
   * @param {string} refusal
   */
  _writableHandle(refusal) {
    const store = context.currentStore();
    if (store === null || store.seg instanceof Segment) {
      this._warn(refusal);
      return 0;
    }
    return store.h;
  }

  /** @param {string} key @param {string | number | boolean} value */
  putAnnotation(key, value) {
    if (!this._enabled) return;
    const h = this._writableHandle('You cannot annotate the main segment in a Lambda execution environment');
    if (h !== 0) annotate(this._n, h, key, value);
  }

  /** @param {string} key @param {unknown} value @param {string} [namespace] defaults to the service name */
  putMetadata(key, value, namespace) {
    if (!this._enabled) return;
    const h = this._writableHandle('You cannot add metadata to the main segment in a Lambda execution environment');
    if (h !== 0) addMetadata(this._n, h, key, value, namespace ?? this.serviceName);
  }

  /** True on this Tracer's first call when the initialization type is on-demand. */
  getColdStart() {
    if (this._coldStart) {
      this._coldStart = false;
      return true;
    }
    return false;
  }

  annotateColdStart() {
    if (this._enabled) this.putAnnotation('ColdStart', this.getColdStart());
  }

  addServiceNameAnnotation() {
    if (this._enabled) this.putAnnotation('Service', this.serviceName);
  }

  /** @param {unknown} [data] @param {string} [methodName] */
  addResponseAsMetadata(data, methodName) {
    if (data === undefined || !this._config.captureResponse || !this._enabled) return;
    this.putMetadata(`${methodName} response`, data);
  }

  /** @param {unknown} error @param {boolean} [remote] */
  addErrorAsMetadata(error, remote = false) {
    if (!this._enabled) return;
    const store = context.currentStore();
    if (store === null || store.seg instanceof Segment) return;
    this._recordError(store.h, error, remote);
  }

  /** The `Root` of the invocation's trace header (not gated by `enabled`). */
  getRootXrayTraceId() {
    const header = context.invocationHeader();
    if (!header) return undefined;
    if (!header.includes('=')) return header;
    for (const part of header.split(';')) {
      const [k, v] = part.split('=');
      if (k.trim() === 'Root') return v?.trim() || undefined;
    }
    return undefined;
  }

  isTraceSampled() {
    if (!this._enabled) return false;
    const header = context.invocationHeader() ?? '';
    return /(?:^|;)\s*Sampled=1\s*(?:;|$)/.test(header);
  }

  /**
   * Traces every call of an AWS SDK v3 client as an `aws` subsegment. Returns the client.
   * @template T
   * @param {T} client
   * @returns {T}
   */
  captureAWSv3Client(client) {
    if (!this._enabled) return client;
    try {
      require('./aws-sdk').instrumentClient(client, this);
    } catch (err) {
      this._internalError(err);
    }
    return client;
  }

  /**
   * AWS SDK v2 is not supported (end of support 2025-09-08): the argument is returned unchanged.
   * @template T
   * @param {T} sdk
   * @returns {T}
   */
  captureAWS(sdk) {
    this._warn('captureAWS() (AWS SDK v2) is not supported by oxray; use captureAWSv3Client()');
    return sdk;
  }

  /**
   * @template T
   * @param {T} client
   * @returns {T}
   */
  captureAWSClient(client) {
    this._warn('captureAWSClient() (AWS SDK v2) is not supported by oxray; use captureAWSv3Client()');
    return client;
  }

  /**
   * Decorator for a Lambda handler method (legacy and standard decorators).
   * @param {{ captureResponse?: boolean }} [options]
   */
  captureLambdaHandler(options) {
    const captureResponse = options?.captureResponse ?? true;
    return capture.decorator(
      this,
      (handler) => {
        const tracer = this;
        return function tracedHandler(/** @type {unknown[]} */ ...args) {
          if (!tracer._enabled) return Reflect.apply(handler, this, args);
          return capture.runHandler(tracer, handler, this, args, captureResponse);
        };
      },
      'captureLambdaHandler',
    );
  }

  /**
   * Decorator for a method: `### <name>` (or `subSegmentName`). Sync methods stay sync.
   * @param {{ subSegmentName?: string, captureResponse?: boolean }} [options]
   */
  captureMethod(options) {
    return capture.decorator(
      this,
      (method, name) => {
        const tracer = this;
        const subsegment = options?.subSegmentName ?? `### ${name}`;
        const responseKey = (options?.captureResponse ?? true) ? `${name} response` : null;
        return function tracedMethod(/** @type {unknown[]} */ ...args) {
          if (!tracer._enabled) return Reflect.apply(method, this, args);
          return capture.runMethod(tracer, method, this, args, subsegment, responseKey);
        };
      },
      'captureMethod',
    );
  }

  /** Counters of documents sent, dropped, truncated and streamed, and of warnings (oxray extra). */
  getCounters() {
    return this._native?.counters() ?? null;
  }

  // ---- internals shared with capture.js, the middleware and instrumentation ----

  /** @param {string} message */
  _warn(message) {
    if (this._native !== null) this._native.warn(message);
    else logger.warn(message);
  }

  /** @param {unknown} err */
  _internalError(err) {
    this._warn(`internal tracing error (ignored): ${err instanceof Error ? err.stack : String(err)}`);
  }

  /** @param {number} h @param {unknown} err @param {boolean} [remote] */
  _recordError(h, err, remote = false) {
    if (this._config.captureError) recordError(this._n, h, err, remote);
    else this._n.setFlags(h, true, false, false);
  }

  /** @param {number} h @param {unknown} value @param {string} key */
  _recordResponse(h, value, key) {
    if (value === undefined || !this._config.captureResponse) return;
    addMetadata(this._n, h, key, value, this.serviceName);
  }

  /** @param {number} h */
  _annotateInvocation(h) {
    annotate(this._n, h, 'ColdStart', this.getColdStart());
    annotate(this._n, h, 'Service', this.serviceName);
  }

  /**
   * Begins `## <_HANDLER>` under the facade of this invocation's trace header.
   * @returns {Store | null}
   */
  _beginInvocation() {
    const n = this._n;
    instrument.wrapLoadedHttp();
    const header = context.invocationHeader();
    const facade = n.facade(header ?? null);
    const name = `## ${process.env._HANDLER}`;
    const h = n.begin(facade, name);
    if (h === 0) {
      n.release(facade);
      return null;
    }
    return { h, inv: { facade, header, open: new Set() }, name };
  }

  /**
   * Ends the handler subsegment, marks children still open as in-progress, and flushes.
   * @param {Store} store
   * @param {boolean} failed
   * @param {unknown} outcome
   * @param {string | null} responseKey
   */
  _endInvocation(store, failed, outcome, responseKey) {
    const n = this._n;
    try {
      if (failed) this._recordError(store.h, outcome);
      else if (responseKey !== null) this._recordResponse(store.h, outcome, responseKey);
      n.end(store.h);
      const inv = /** @type {import('./context').Invocation} */ (store.inv);
      // A child still running is sent now as in-progress; its final document replaces it.
      for (const open of inv.open) n.sendInProgress(open);
      n.flush(capture.FLUSH_TIMEOUT_MS);
      n.release(inv.facade);
    } catch (err) {
      this._internalError(err);
    }
  }
}

module.exports = { Tracer };
