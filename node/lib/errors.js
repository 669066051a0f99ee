'use strict';
/**
 * Errors as X-Ray exceptions: `cause.exceptions[{type, message, stack[{path, line, label}],
 * remote, id}]`.
 *
 * Stack frames are parsed from `err.stack`. ESM frames (`file:///…`) keep their real file path
 * and line number. When an ancestor sees the same Error object a descendant already recorded,
 * it refers to that exception by id instead of copying it.
 */

const { fileURLToPath } = require('node:url');

/** Frames kept per exception. */
const MAX_FRAMES = 100;

/** Error object → id of the exception recorded for it. */
const recorded = new WeakMap();

const FRAME_WITH_LABEL = /^\s*at (.*?) \((.*)\)$/;
const FRAME_BARE = /^\s*at (.*)$/;
const LOCATION = /^(.*?):(\d+)(?::\d+)?$/;

/**
 * @param {string} location e.g. `file:///app/x.mjs:12:5`, `/app/x.js:3:1`, `native`
 * @returns {{ path?: string, line?: number }}
 */
function parseLocation(location) {
  const m = LOCATION.exec(location);
  let path = m ? m[1] : location;
  const line = m ? Number(m[2]) : undefined;
  if (path.startsWith('file://')) {
    try {
      path = fileURLToPath(path);
    } catch {
      // Keep the URL text.
    }
  }
  return { path, line: line !== undefined && Number.isSafeInteger(line) && line <= 0xffffffff ? line : undefined };
}

/**
 * @param {unknown} stack
 * @returns {{ frames: {path?: string, line?: number, label?: string}[], truncated: number }}
 */
function parseStack(stack) {
  /** @type {{path?: string, line?: number, label?: string}[]} */
  const frames = [];
  let truncated = 0;
  if (typeof stack !== 'string') return { frames, truncated };
  for (const raw of stack.split('\n')) {
    if (!/^\s*at /.test(raw)) continue;
    if (frames.length >= MAX_FRAMES) {
      truncated++;
      continue;
    }
    const withLabel = FRAME_WITH_LABEL.exec(raw);
    if (withLabel) {
      frames.push({ label: withLabel[1], ...parseLocation(withLabel[2]) });
    } else {
      const bare = FRAME_BARE.exec(raw);
      if (bare) frames.push({ label: 'anonymous', ...parseLocation(bare[1]) });
    }
  }
  return { frames, truncated };
}

/**
 * Reads a property that may be a throwing getter.
 * @param {any} obj
 * @param {string} key
 */
function safeGet(obj, key) {
  try {
    return obj[key];
  } catch {
    return undefined;
  }
}

/**
 * The exception record for a thrown value (an Error or anything else).
 * @param {unknown} err
 * @param {boolean} remote
 */
function describeError(err, remote) {
  if (err !== null && typeof err === 'object') {
    const name = safeGet(err, 'name');
    const message = safeGet(err, 'message');
    const { frames, truncated } = parseStack(safeGet(err, 'stack'));
    return {
      typeName: typeof name === 'string' && name ? name : safeGet(safeGet(err, 'constructor'), 'name') || undefined,
      message: typeof message === 'string' ? message : undefined,
      remote,
      stack: frames,
      truncated,
      workingDirectory: process.cwd(),
    };
  }
  let text;
  try {
    text = String(err);
  } catch {
    text = 'unprintable value';
  }
  return { typeName: undefined, message: text, remote, stack: [], truncated: 0, workingDirectory: process.cwd() };
}

/**
 * Records `err` on the entity `handle`: as a new exception, or as a reference to the
 * exception a descendant already recorded for the same Error object.
 * @param {import('./native').Native} native
 * @param {number} handle
 * @param {unknown} err
 * @param {boolean} remote
 */
function recordError(native, handle, err, remote) {
  const isObject = err !== null && (typeof err === 'object' || typeof err === 'function');
  if (isObject) {
    const id = recorded.get(/** @type {object} */ (err));
    if (id && native.setCauseRef(handle, id)) return;
  }
  const id = native.addException(handle, describeError(err, remote));
  if (id && isObject) recorded.set(/** @type {object} */ (err), id);
}

module.exports = { recordError, describeError, parseStack };
