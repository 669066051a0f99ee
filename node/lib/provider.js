'use strict';
/**
 * `tracer.provider`: the escape hatch Powertools exposes (its ProviderService), with
 * `captureAsyncFunc` / `captureFunc` and manual subsegments.
 */

const context = require('./context');
const logger = require('./logger');
const { Subsegment, DummySegment, releaseWhenCollected } = require('./segment');
const { toText } = require('./serialize');

class ProviderService {
  /** @param {import('./tracer').Tracer} tracer */
  constructor(tracer) {
    /** @private */
    this._tracer = tracer;
  }

  /**
   * Begins `name` under the current entity and runs `fcn(subsegment)` with it current.
   * @param {string} name
   * @param {(sub: any) => any} fcn
   * @param {boolean} closeIt
   */
  _capture(name, fcn, closeIt) {
    const tracer = this._tracer;
    if (!tracer.isTracingEnabled()) return fcn(new DummySegment(name));
    const native = /** @type {import('./native').Native} */ (tracer._native);
    const parent = context.currentStore();
    const text = toText(name, 'unnamed');
    const h = native.begin(parent !== null ? parent.h : context.ambientFacade(native), text);
    const sub = new Subsegment(native, h, text);
    releaseWhenCollected(native, sub, h);
    // The child of an unsampled entity is unsampled: traced calls inside it can skip everything.
    const unsampled = parent !== null ? parent.unsampled : context.ambientUnsampled();
    const store = context.newStore(h, text, sub, unsampled);
    let result;
    try {
      result = context.run(store, () => fcn(sub));
    } catch (err) {
      sub.close(err);
      throw err;
    }
    if (closeIt) sub.close();
    return result;
  }

  /**
   * The callback closes the subsegment (as in the X-Ray SDK); a synchronous throw closes it.
   * The third (parent) argument is ignored, as in Powertools.
   * @template T
   * @param {string} name
   * @param {(subsegment: any) => T} fcn
   * @returns {T}
   */
  captureAsyncFunc(name, fcn) {
    return this._capture(name, fcn, false);
  }

  /**
   * Runs `fcn(subsegment)` and closes the subsegment when it returns or throws.
   * @template T
   * @param {string} name
   * @param {(subsegment: any) => T} fcn
   * @returns {T}
   */
  captureFunc(name, fcn) {
    return this._capture(name, fcn, true);
  }

  getSegment() {
    return this._tracer.getSegment();
  }

  /** @param {any} segment */
  setSegment(segment) {
    this._tracer.setSegment(segment);
  }

  /** @param {string} key @param {string | number | boolean} value */
  putAnnotation(key, value) {
    this._tracer.putAnnotation(key, value);
  }

  /** @param {string} key @param {unknown} value @param {string} [namespace] */
  putMetadata(key, value, namespace) {
    this._tracer.putMetadata(key, value, namespace);
  }

  /** @template T @param {T} client @returns {T} */
  captureAWSv3Client(client) {
    return this._tracer.captureAWSv3Client(client);
  }

  /**
   * AWS SDK v2 is not supported: as {@link import('./tracer').Tracer#captureAWS}, a warning and
   * the argument back unchanged.
   * @template T @param {T} sdk @returns {T}
   */
  captureAWS(sdk) {
    return this._tracer.captureAWS(sdk);
  }

  /**
   * AWS SDK v2 is not supported: a warning and the client back unchanged.
   * @template T @param {T} client @returns {T}
   */
  captureAWSClient(client) {
    return this._tracer.captureAWSClient(client);
  }

  /** http/https are captured once per process by the first enabled Tracer; kept for compatibility. */
  captureHTTPsGlobal() {
    if (this._tracer.isTracingEnabled()) require('./instrument').httpAndFetch();
  }

  /** fetch is captured once per process by the first enabled Tracer; kept for compatibility. */
  instrumentFetch() {
    if (this._tracer.isTracingEnabled()) require('./instrument').httpAndFetch();
  }

  /** The AsyncLocalStorage holding the current entity (oxray uses no cls namespace). */
  getNamespace() {
    return context.als();
  }

  /** @param {import("./logger").LoggerLike} l */
  setLogger(l) {
    logger.setLogger(l);
  }

  /** Not supported at run time: set AWS_XRAY_DAEMON_ADDRESS before the first Tracer. */
  setDaemonAddress() {
    this._tracer._warn('setDaemonAddress() is not supported; set AWS_XRAY_DAEMON_ADDRESS before creating the Tracer');
  }

  /** Not supported at run time: set AWS_XRAY_CONTEXT_MISSING before the first Tracer. */
  setContextMissingStrategy() {
    this._tracer._warn('setContextMissingStrategy() is not supported; set AWS_XRAY_CONTEXT_MISSING before creating the Tracer');
  }
}

module.exports = { ProviderService };
