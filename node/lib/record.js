'use strict';
/**
 * Checked writes of user values onto an entity. Refused values are logged and counted
 * (through the native recorder's warning counter), never thrown.
 */

const { toJson } = require('./serialize');

/**
 * Interned ids of annotation keys and metadata keys and namespaces: the usual constant keys
 * then cross into the addon as small integers instead of being converted from UTF-16 text at
 * every call. Bounded: past {@link MAX_KEYS} distinct keys (keys made per request, say) the
 * others cross as text, as does any key the addon's name table has no room for (id 0).
 */
const keyIds = new Map();
const MAX_KEYS = 4096;

/**
 * @param {import('./native').Native} native
 * @param {string} key
 * @returns {number} 0: pass the key as text
 */
function keyId(native, key) {
  let id = keyIds.get(key);
  if (id === undefined) {
    if (keyIds.size >= MAX_KEYS) return 0;
    id = native.internName(key);
    keyIds.set(key, id);
  }
  return id;
}

/**
 * @param {import('./native').Native} native
 * @param {number} handle
 * @param {unknown} key
 * @param {unknown} value
 */
function annotate(native, handle, key, value) {
  if (typeof key !== 'string') {
    native.warn(`annotation key must be a string, got ${typeof key}; annotation dropped`);
    return false;
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return annotateChecked(native, handle, key, value);
    case 'number':
      if (Number.isFinite(value)) return annotateChecked(native, handle, key, value);
      break;
    default:
      break;
  }
  native.warn(`failed to add annotation ${JSON.stringify(key)}: value must be a string, a finite number or a boolean (got ${value === null ? 'null' : typeof value})`);
  return false;
}

/**
 * @param {import('./native').Native} native
 * @param {number} handle
 * @param {string} key
 * @param {string | number | boolean} value checked by the caller
 */
function annotateChecked(native, handle, key, value) {
  const id = keyId(native, key);
  return id !== 0 ? native.annotateNamed(handle, id, value) : native.annotateFast(handle, key, value);
}

/**
 * @param {import('./native').Native} native
 * @param {number} handle
 * @param {unknown} key
 * @param {unknown} value
 * @param {unknown} namespace
 */
function addMetadata(native, handle, key, value, namespace) {
  if (typeof key !== 'string') {
    native.warn(`metadata key must be a string, got ${typeof key}; value dropped`);
    return false;
  }
  if (namespace !== undefined && namespace !== null && typeof namespace !== 'string') {
    native.warn(`metadata namespace must be a string, got ${typeof namespace}; value dropped`);
    return false;
  }
  const json = toJson(value);
  const ns = /** @type {string | null | undefined} */ (namespace) ?? null;
  const id = keyId(native, key);
  // Namespace id 0 is `default`, so an absent namespace needs no lookup.
  const namespaceId = ns === null ? 0 : keyId(native, ns);
  if (id !== 0 && (namespaceId !== 0 || ns === null)) return native.metadataNamed(handle, namespaceId, id, json);
  return native.metadataFast(handle, ns, key, json);
}

module.exports = { annotate, addMetadata };
