'use strict';
/**
 * User values to JSON text, safely: this never throws and always returns one valid JSON value.
 *
 * Fast path: `JSON.stringify`. If it throws (cycles, BigInt, a getter or `toJSON` that throws)
 * or yields text over {@link MAX_CHARS}, the value is copied into plain data first: cycles
 * become "[Circular]", BigInt and Symbol become strings, typed arrays become arrays, Map and
 * Set become an object and an array, Errors keep name/message/stack, throwing getters and
 * `toJSON` are replaced by a note, and the copy stops at a size budget with a "…truncated"
 * marker. The core bounds the whole document again (≤ 64,000 bytes).
 */

/** Largest JSON text (characters) handed to the core for one value. */
const MAX_CHARS = 64000;
const MAX_DEPTH = 64;
const TRUNCATED = '…truncated';
/** Strings up to this length are stringified directly (their JSON cannot exceed MAX_CHARS). */
const SHORT_STRING = 10000;
/** Typed arrays and DataViews over this many bytes skip JSON.stringify (their text is cut). */
const LARGE_BINARY = MAX_CHARS / 4;

/**
 * @param {unknown} value
 * @returns {string} JSON text
 */
function toJson(value) {
  // Primitives, the usual results of traced calls, need no walk and cannot throw.
  switch (typeof value) {
    case 'undefined':
      return 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'string':
      if (value.length <= SHORT_STRING) return JSON.stringify(value);
      break;
    default:
      if (value === null) return 'null';
  }
  // A large binary value: JSON.stringify would spell out every element (about 0.4 s per MB
  // of a Uint8Array) only for the text to be cut; the copy takes the first elements.
  if (ArrayBuffer.isView(value) && value.byteLength > LARGE_BINARY) return copied(value);
  try {
    const text = JSON.stringify(value);
    if (text !== undefined && text.length <= MAX_CHARS) return text;
  } catch {
    // Fall through to the safe copy.
  }
  return copied(value);
}

/**
 * The safe copy's JSON text.
 * @param {unknown} value
 */
function copied(value) {
  try {
    const copy = new Copier().copy(value, 0, true);
    return JSON.stringify(copy === undefined ? null : copy);
  } catch (err) {
    // Only a hostile object (e.g. a revoked Proxy at top level) gets here.
    return JSON.stringify(`[unserializable: ${describe(err)}]`);
  }
}

/**
 * `value` as a string (names of entities): `String(value)` unless that throws (a revoked
 * Proxy, a throwing `toString`), then `fallback`.
 * @param {unknown} value
 * @param {string} fallback
 */
function toText(value, fallback) {
  if (typeof value === 'string') return value;
  try {
    return String(value);
  } catch {
    return fallback;
  }
}

/** @param {unknown} err */
function describe(err) {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    return 'unknown error';
  }
}

class Copier {
  constructor() {
    /** Characters spent so far (approximate size of the output). */
    this.spent = 0;
    this.full = false;
    /** @type {Set<object>} objects on the current path (for cycle detection) */
    this.path = new Set();
  }

  /** @param {number} n */
  spend(n) {
    this.spent += n;
    if (this.spent > MAX_CHARS) this.full = true;
    return !this.full;
  }

  /**
   * @param {unknown} v
   * @param {number} depth
   * @param {boolean} top values JSON would drop are kept as text at top level
   * @returns {unknown}
   */
  copy(v, depth, top = false) {
    switch (typeof v) {
      case 'string':
        if (v.length + 2 > MAX_CHARS - this.spent) {
          const room = Math.max(0, MAX_CHARS - this.spent - 16);
          this.spend(room + 16);
          return v.slice(0, room) + TRUNCATED;
        }
        this.spend(v.length + 2);
        return v;
      case 'number':
        this.spend(8);
        return Number.isFinite(v) ? v : String(v);
      case 'boolean':
        this.spend(5);
        return v;
      case 'bigint':
        this.spend(8);
        return v.toString();
      case 'symbol':
        this.spend(8);
        return v.toString();
      case 'function':
        return top ? `[Function: ${v.name || 'anonymous'}]` : undefined;
      case 'undefined':
        return undefined;
      default:
        if (v === null) {
          this.spend(4);
          return null;
        }
        return this.copyObject(/** @type {object} */ (v), depth);
    }
  }

  /**
   * @param {object} obj
   * @param {number} depth
   * @returns {unknown}
   */
  copyObject(obj, depth) {
    if (this.path.has(obj)) return '[Circular]';
    if (depth >= MAX_DEPTH) return '[Object: too deep]';
    this.path.add(obj);
    try {
      return this.copyKnown(obj, depth);
    } catch (err) {
      return `[unserializable: ${describe(err)}]`;
    } finally {
      this.path.delete(obj);
    }
  }

  /**
   * @param {any} obj
   * @param {number} depth
   * @returns {unknown}
   */
  copyKnown(obj, depth) {
    if (typeof obj.toJSON === 'function') {
      let replaced;
      try {
        replaced = obj.toJSON();
      } catch (err) {
        return `[toJSON threw: ${describe(err)}]`;
      }
      if (replaced !== obj) return this.copy(replaced, depth + 1);
    }
    if (ArrayBuffer.isView(obj)) {
      if (obj instanceof DataView) return `[DataView: ${obj.byteLength} bytes]`;
      return this.copyList(Array.prototype.slice.call(obj, 0, 4096), depth, /** @type {any} */ (obj).length > 4096);
    }
    if (obj instanceof ArrayBuffer) return `[ArrayBuffer: ${obj.byteLength} bytes]`;
    if (Array.isArray(obj)) return this.copyList(obj, depth, false);
    if (obj instanceof Set) return this.copyList(Array.from(obj), depth, false);
    if (obj instanceof Map) {
      /** @type {Record<string, unknown>} */
      const out = Object.create(null);
      for (const [k, val] of obj) {
        if (!this.spend(String(k).length + 4)) {
          out[TRUNCATED] = true;
          break;
        }
        const c = this.copy(val, depth + 1);
        if (c !== undefined) out[String(k)] = c;
      }
      return out;
    }
    if (obj instanceof Error) {
      const out = Object.create(null);
      out.name = obj.name;
      out.message = obj.message;
      out.stack = obj.stack;
      return this.copyEntries(obj, depth, out);
    }
    // Null prototype: a "__proto__" key is then an ordinary key.
    return this.copyEntries(obj, depth, Object.create(null));
  }

  /**
   * @param {unknown[]} list
   * @param {number} depth
   * @param {boolean} cut the list was already shortened
   */
  copyList(list, depth, cut) {
    const out = [];
    for (let i = 0; i < list.length; i++) {
      if (!this.spend(1)) {
        cut = true;
        break;
      }
      const c = this.copy(list[i], depth + 1);
      out.push(c === undefined ? null : c);
    }
    if (cut) out.push(TRUNCATED);
    return out;
  }

  /**
   * Own enumerable string keys, reading each value in a try: a throwing getter becomes a note.
   * @param {any} obj
   * @param {number} depth
   * @param {Record<string, unknown>} out
   */
  copyEntries(obj, depth, out) {
    for (const key of Object.keys(obj)) {
      if (!this.spend(key.length + 4)) {
        out[TRUNCATED] = true;
        break;
      }
      let val;
      try {
        val = obj[key];
      } catch (err) {
        out[key] = `[getter threw: ${describe(err)}]`;
        continue;
      }
      const c = this.copy(val, depth + 1);
      if (c !== undefined) out[key] = c;
    }
    return out;
  }
}

module.exports = { toJson, toText, MAX_CHARS, TRUNCATED };
