'use strict';
/**
 * Checked writes of user values onto an entity. Refused values are logged and counted
 * (through the native recorder's warning counter), never thrown.
 */

const { toJson } = require('./serialize');

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
      return native.annotateFast(handle, key, value);
    case 'number':
      if (Number.isFinite(value)) return native.annotateFast(handle, key, value);
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
  return native.metadataFast(handle, /** @type {string | undefined} */ (namespace) ?? null, key, toJson(value));
}

module.exports = { annotate, addMetadata };
