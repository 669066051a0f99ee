'use strict';
/**
 * `Tracer`: the Powertools for AWS Lambda (TypeScript) Tracer API on the oxray core.
 *
 * Constructing a Tracer loads only its configuration and the native addon; the modules for
 * tracing work (context, decorators, serialization, entity objects, HTTP capture) load when
 * first used, which keeps cold start short.
 */

const { resolveConfig } = require('./config');
const nativeLoader = require('./native');
const logger = require('./logger');

/** @typedef {import('./context').Store} Store */
/** @typedef {import('./native').Native} Native */

/** Lazily loaded modules (see the module docs). */
const lazy = {
  /** @type {typeof import('./context') | null} */ context: null,
  /** @type {typeof import('./record') | null} */ record: null,
  /** @type {typeof import('./segment') | null} */ segment: null,
  /** @type {typeof import('./capture') | null} */ capture: null,
  /** @type {typeof import('./instrument') | null} */ instrument: null,
};
const context = () => (lazy.context ??= require('./context'));
const record = () => (lazy.record ??= require('./record'));
const entities = () => (lazy.segment ??= require('./segment'));
const capture = () => (lazy.capture ??= require('./capture'));

class Tracer {
  /**
   * @param {{ enabled?: boolean, serviceName?: string, captureHTTPsRequests?: boolean, customConfigService?: import('./config').ConfigServiceLike }} [options]
   */
  constructor(options = {}) {
    const config = resolveConfig(options ?? {}, process.env);
    /** Resolved settings (internal: read by capture.js). */
    this._config = config;
    this.serviceName = config.serviceName;
    /** @private */
    this._coldStart = config.coldStart;
    /** @type {Native | null} */
    this._native = null;
    /** @private */
    this._enabled = false;
    /** @private interned id of `_serviceNameInterned` (the namespace of captured results) */
    this._serviceNameId = 0;
    /** @private */
    this._serviceNameInterned = '';
    /** @private */
    this._provider = null;
    /**
     * @private see _invocationNames
     * @type {{ handler: string | undefined, service: string, name: string, nameId: number, serviceId: number } | null}
     */
    this._names = null;
    if (config.tracingEnabled) this._enable();
    else if (config.offOutsideLambdaOnly) {
      const mode = require('./mode');
      if (mode.inServerMode()) this._enable();
      else mode.waitForServerMode(this);
    }
  }

  /** Turns tracing on (at construction, or when server mode begins: see mode.js). */
  _enable() {
    this._native = nativeLoader.recorder();
    this._enabled = this._native !== null;
    if (this._enabled && this._config.captureHTTPsRequests) {
      lazy.instrument = require('./instrument');
      lazy.instrument.httpAndFetch();
    }
  }

  /** Powertools' ProviderService equivalent (made on first use; may be replaced, as there). */
  get provider() {
    if (this._provider === null) {
      const { ProviderService } = require('./provider');
      this._provider = new ProviderService(this);
    }
    return this._provider;
  }

  set provider(value) {
    this._provider = value;
  }

  isTracingEnabled() {
    return this._enabled;
  }

  /** @private @returns {Native} */
  get _n() {
    return /** @type {Native} */ (this._native);
  }

  /** The current entity: a subsegment inside traced code, else the Lambda facade. */
  getSegment() {
    if (!this._enabled) return new (entities().DummySegment)();
    const store = context().currentStore();
    if (store === null) return entities().wrap(this._n, context().ambientFacade(this._n));
    store.seg ??= entities().wrap(this._n, store.h, store.name);
    return store.seg;
  }

  /**
   * Makes `segment` current for the rest of the current traced call.
   * @param {any} segment a value returned by getSegment() or addNewSubsegment()
   */
  setSegment(segment) {
    if (!this._enabled) return;
    const handle = handleOf(segment);
    if (handle === undefined) {
      this._warn('setSegment() needs a segment returned by getSegment() or addNewSubsegment(); ignored');
      return;
    }
    const store = context().currentStore();
    if (store !== null) {
      store.h = handle;
      store.seg = segment;
      // Not known any more (the segment may belong to another trace).
      store.unsampled = false;
    } else {
      context().setRootStore(context().newStore(handle, undefined, segment));
    }
  }

  /**
   * The current subsegment's handle, or 0: at the facade (with the Powertools warning), and
   * in an unsampled trace (nothing would be recorded: the value is not even serialized).
   * @private
   * @param {string} refusal
   */
  _writableHandle(refusal) {
    const store = context().currentStore();
    if (store === null || (store.seg !== undefined && store.seg instanceof entities().Segment)) {
      this._warn(refusal);
      return 0;
    }
    return store.unsampled ? 0 : store.h;
  }

  /** @param {string} key @param {string | number | boolean} value */
  putAnnotation(key, value) {
    if (!this._enabled) return;
    const h = this._writableHandle('You cannot annotate the main segment in a Lambda execution environment');
    if (h !== 0) record().annotate(this._n, h, key, value);
  }

  /** @param {string} key @param {unknown} value @param {string} [namespace] defaults to the service name */
  putMetadata(key, value, namespace) {
    if (!this._enabled) return;
    const h = this._writableHandle('You cannot add metadata to the main segment in a Lambda execution environment');
    if (h !== 0) record().addMetadata(this._n, h, key, value, namespace ?? this.serviceName);
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
    const store = context().currentStore();
    if (store === null || (store.seg !== undefined && store.seg instanceof entities().Segment)) return;
    this._recordError(store.h, error, remote);
  }

  /** The `Root` of the invocation's trace header (not gated by `enabled`). */
  getRootXrayTraceId() {
    const header = context().invocationHeader();
    // Server mode: the trace of the request being handled.
    if (!header) return this._enabled ? (this._n.traceId(context().currentStore()?.h ?? 0) ?? undefined) : undefined;
    if (!header.includes('=')) return header;
    for (const part of header.split(';')) {
      const [k, v] = part.split('=');
      if (k.trim() === 'Root') return v?.trim() || undefined;
    }
    return undefined;
  }

  isTraceSampled() {
    if (!this._enabled) return false;
    const header = context().invocationHeader();
    // Server mode: the decision of the request being handled.
    if (header === undefined) return this._n.isSampled(context().currentStore()?.h ?? 0);
    return /(?:^|;)\s*Sampled=1\s*(?:;|$)/.test(header);
  }

  /**
   * Traces every call of an AWS SDK v3 client as an `aws` subsegment. Returns the client.
   * @template T
   * @param {T} client
   * @returns {T}
   */
  captureAWSv3Client(client) {
    // A Tracer off only for running outside Lambda is turned on if server mode begins later:
    // its clients are instrumented now (their calls pass through untouched until then).
    if (!this._enabled && !this._config.offOutsideLambdaOnly) return client;
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
    const { decorator, runHandler } = capture();
    return decorator(
      this,
      (handler) => {
        const tracer = this;
        return function tracedHandler(/** @type {unknown[]} */ ...args) {
          if (!tracer._enabled) return Reflect.apply(handler, this, args);
          return runHandler(tracer, handler, this, args, captureResponse);
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
    const { decorator, runMethod, CallSite } = capture();
    return decorator(
      this,
      (method, name) => {
        const tracer = this;
        const site = new CallSite(options?.subSegmentName ?? `### ${name}`, (options?.captureResponse ?? true) ? `${name} response` : null);
        return function tracedMethod(/** @type {unknown[]} */ ...args) {
          if (!tracer._enabled) return Reflect.apply(method, this, args);
          return runMethod(tracer, method, this, args, site);
        };
      },
      'captureMethod',
    );
  }

  /**
   * Samples new traces of this thread by local rules (X-Ray SDK rule file, version 1 or 2):
   * an object, JSON text or a file path (the same as `AWS_XRAY_SAMPLING_RULES`). Invalid
   * rules throw an Error naming the field and the reason, and the rules in force stay. An
   * incoming `Sampled=1`/`Sampled=0` still decides; in Lambda the invocation's header does.
   * @param {unknown} rules
   */
  loadSamplingRules(rules) {
    require('./sampling').loadRules(rules);
  }

  /**
   * Adds the X-Ray service's sampling rules (through the daemon's TCP proxy, polled by a
   * background thread) on top of the local rules, which stay the fallback. Returns false, with
   * a warning, where it does not apply (in Lambda, with tracing disabled).
   */
  enableCentralizedSampling() {
    return require('./sampling').enableCentralized(this);
  }

  /** What centralized sampling is doing (all zero / false while it is off). */
  getSamplingStatus() {
    return require('./sampling').status();
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
    if (this._config.captureError) require('./errors').recordError(this._n, h, err, remote);
    else this._n.setFlags(h, true, false, false);
  }

  /** @param {number} h @param {unknown} value @param {string} key */
  _recordResponse(h, value, key) {
    if (value === undefined || !this._config.captureResponse) return;
    record().addMetadata(this._n, h, key, value, this.serviceName);
  }

  /** The interned id of the service name (the namespace of captured responses). */
  _namespaceId() {
    if (this._serviceNameId === 0 || this._serviceNameInterned !== this.serviceName) {
      this._serviceNameInterned = this.serviceName;
      this._serviceNameId = this._n.internName(String(this.serviceName));
    }
    return this._serviceNameId;
  }

  /**
   * Begins `## <_HANDLER>` under the facade of this invocation's trace header, annotated with
   * ColdStart and Service, and holds the context storage until {@link Tracer#_endInvocation}.
   * @param {string | undefined} handlerName the `_HANDLER` setting
   * @returns {Store | null}
   */
  _beginInvocation(handlerName) {
    let h = 0;
    let name = '';
    try {
      lazy.instrument?.wrapLoadedHttp();
      const names = this._invocationNames(handlerName);
      name = names.name;
      const header = context().nativeHeader();
      h =
        names.nameId !== 0 && names.serviceId !== 0
          ? this._n.beginInvocationNamed(header, names.nameId, this.getColdStart(), names.serviceId)
          : this._n.beginInvocation(header, names.name, this.getColdStart(), names.service);
    } catch (err) {
      this._internalError(err);
    }
    if (h === 0) return null;
    context().hold();
    const store = context().newStore(h, name, undefined, !this._n.sampledFast(h));
    store.handler = h;
    return store;
  }

  /**
   * The handler subsegment's name and the service name, interned (worked out again only when
   * `_HANDLER` or the service name changes).
   * @private
   * @param {string | undefined} handlerName
   */
  _invocationNames(handlerName) {
    const service = String(this.serviceName);
    let names = this._names;
    if (names === null || names.handler !== handlerName || names.service !== service) {
      const name = `## ${handlerName}`;
      names = { handler: handlerName, service, name, nameId: this._n.internName(name), serviceId: this._n.internName(service) };
      this._names = names;
    }
    return names;
  }

  /**
   * Records the outcome on the handler subsegment, ends it (children still open are sent as
   * in-progress) and sends everything before returning. Never throws.
   * @param {Store} store
   * @param {boolean} failed
   * @param {unknown} outcome
   * @param {string | null} responseKey
   */
  _endInvocation(store, failed, outcome, responseKey) {
    // The handler subsegment, even if setSegment() made another entity current meanwhile.
    const h = store.handler !== 0 ? store.handler : store.h;
    try {
      if (failed) this._recordError(h, outcome);
      else if (responseKey !== null) this._recordResponse(h, outcome, responseKey);
      this._n.endInvocationFast(h, capture().FLUSH_TIMEOUT_MS);
    } catch (err) {
      this._internalError(err);
    }
    context().release();
  }
}

/**
 * The native handle of a value given to setSegment(), or undefined if it is not a segment
 * (reading `handle` may throw: a revoked Proxy, a throwing getter).
 * @param {any} segment
 * @returns {number | undefined}
 */
function handleOf(segment) {
  if (segment === null || typeof segment !== 'object') return undefined;
  try {
    const handle = segment.handle;
    return typeof handle === 'number' ? handle : undefined;
  } catch {
    return undefined;
  }
}

module.exports = { Tracer };
