'use strict';
/**
 * User-facing entity objects, shaped like the X-Ray SDK's `Segment`/`Subsegment` that
 * Powertools' `getSegment()` returns: `addNewSubsegment`, `addAnnotation`, `addMetadata`,
 * `addError`, flags, `close`. They wrap a native handle.
 *
 * A subsegment created through this API and then dropped without `close()` is released when
 * garbage-collected: the core sends it as in-progress, so its completed children are kept.
 */

// Loaded on first use: constructing a Tracer does not need them.
const record = () => require('./record');
const errors = () => require('./errors');

/** @type {FinalizationRegistry<number> | null} */
let registry = null;

/**
 * @param {import('./native').Native} native
 * @param {object} owner
 * @param {number} handle
 */
function releaseWhenCollected(native, owner, handle) {
  registry ??= new FinalizationRegistry((h) => native.release(h));
  registry.register(owner, handle, owner);
}

class Subsegment {
  /**
   * @param {import('./native').Native} native
   * @param {number} handle
   * @param {string} name
   */
  constructor(native, handle, name) {
    /** @protected */
    this._native = native;
    /** The native handle (0 if nothing is recorded). */
    this.handle = handle;
    this.name = name;
  }

  get id() {
    return this._native.entityId(this.handle) ?? undefined;
  }

  get trace_id() {
    return this._native.traceId(this.handle) ?? undefined;
  }

  get parent_id() {
    return this._native.parentId(this.handle) ?? undefined;
  }

  /** True when this trace is not sampled (nothing is recorded). */
  get notTraced() {
    return !this._native.isSampled(this.handle);
  }

  /** @param {string} name */
  addNewSubsegment(name) {
    const text = require('./serialize').toText(name, 'unnamed');
    const child = new Subsegment(this._native, this._native.begin(this.handle, text), text);
    releaseWhenCollected(this._native, child, child.handle);
    return child;
  }

  /** @param {string} key @param {string | number | boolean} value */
  addAnnotation(key, value) {
    record().annotate(this._native, this.handle, key, value);
  }

  /** @param {string} key @param {unknown} value @param {string} [namespace] */
  addMetadata(key, value, namespace) {
    record().addMetadata(this._native, this.handle, key, value, namespace ?? 'default');
  }

  /** @param {unknown} err @param {boolean} [remote] */
  addError(err, remote = false) {
    errors().recordError(this._native, this.handle, err, remote);
  }

  addErrorFlag() {
    this._native.setFlags(this.handle, true, false, false);
  }

  addFaultFlag() {
    this._native.setFlags(this.handle, false, true, false);
  }

  addThrottleFlag() {
    this._native.setFlags(this.handle, false, false, true);
  }

  /** @param {unknown} [err] @param {boolean} [remote] */
  close(err, remote = false) {
    if (err !== undefined && err !== null) this.addError(err, remote);
    if (!this._native.end(this.handle) && this.handle !== 0) {
      this._native.warn(`subsegment ${JSON.stringify(this.name)} was already closed`);
    }
    // Ended: the handle table reclaims its slot by itself. Without this, each closed
    // subsegment would keep a registry cell until a major GC (heap growth under load).
    registry?.unregister(this);
  }

  isClosed() {
    return !this._native.isOpen(this.handle);
  }

  /** Kept for SDK compatibility: oxray sends on close and flushes per invocation. */
  flush() {}

  /**
   * The document as it stands (the X-Ray SDK's `toJSON()`): while open and sampled, what it
   * would send now (in progress, with the children closed so far), read from the core, which
   * sends nothing for it; otherwise (ended: its document was sent and is gone; unsampled; the
   * facade) its identity only.
   * @returns {Record<string, any>}
   */
  toJSON() {
    const text = this._native.documentNow(this.handle);
    if (text != null) return JSON.parse(text);
    return { id: this.id, name: this.name, trace_id: this.trace_id, parent_id: this.parent_id };
  }

  /** {@link toJSON} as JSON text (the X-Ray SDK's `format()`). */
  format() {
    return JSON.stringify(this.toJSON());
  }

  /** The annotations recorded so far (a copy; empty without a document, see {@link toJSON}). */
  get annotations() {
    return this.toJSON().annotations ?? {};
  }

  /** The metadata recorded so far, by namespace (a copy, as {@link annotations}). */
  get metadata() {
    return this.toJSON().metadata ?? {};
  }

  /** `aws` or `remote` when set; undefined for local work (oxray writes no `local`). */
  get namespace() {
    return this.toJSON().namespace;
  }
}

/** The Lambda function segment (facade): read-only, never sent. */
class Segment extends Subsegment {
  addAnnotation() {
    this._native.warn('You cannot annotate the main segment in a Lambda execution environment');
  }

  addMetadata() {
    this._native.warn('You cannot add metadata to the main segment in a Lambda execution environment');
  }

  addError() {
    this._native.warn('errors cannot be recorded on the Lambda function segment; use a subsegment');
  }

  addErrorFlag() {}

  addFaultFlag() {}

  addThrottleFlag() {}

  close() {}

  isClosed() {
    return false;
  }
}

/** What `getSegment()` returns while tracing is disabled: every method does nothing. */
class DummySegment {
  constructor(name = '## Dummy segment') {
    this.name = name;
    this.handle = 0;
    this.notTraced = true;
  }

  /** @param {string} name */
  addNewSubsegment(name) {
    return new DummySegment(name);
  }

  addAnnotation() {}

  addMetadata() {}

  addError() {}

  addErrorFlag() {}

  addFaultFlag() {}

  addThrottleFlag() {}

  close() {}

  flush() {}

  isClosed() {
    return false;
  }

  /** Nothing is recorded: the name only. */
  toJSON() {
    return { name: this.name };
  }

  format() {
    return JSON.stringify(this.toJSON());
  }

  get annotations() {
    return {};
  }

  get metadata() {
    return {};
  }

  get namespace() {
    return undefined;
  }
}

/**
 * The wrapper for a handle: a Segment for a facade, else a Subsegment.
 * @param {import('./native').Native} native
 * @param {number} handle
 * @param {string} [name] its name when the caller knows it (else read from its document)
 */
function wrap(native, handle, name) {
  const kind = native.kind(handle);
  if (kind === 'facade') return new Segment(native, handle, 'facade');
  return new Subsegment(native, handle, name ?? documentName(native, handle) ?? kind ?? 'unknown');
}

/**
 * The entity's name from its document, when it has one (open and sampled).
 * @param {import('./native').Native} native
 * @param {number} handle
 * @returns {string | undefined}
 */
function documentName(native, handle) {
  const text = native.documentNow(handle);
  return text != null ? JSON.parse(text).name : undefined;
}

module.exports = { Subsegment, Segment, DummySegment, wrap, releaseWhenCollected };
