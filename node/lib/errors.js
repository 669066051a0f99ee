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
/** Longest message kept (characters): a longer one is cut, so that the exception itself fits. */
const MAX_MESSAGE = 8192;

/**
 * Error object → the exception recorded for it: its id and the entity that holds it.
 * @type {WeakMap<object, { id: string, handle: number }>}
 */
const recorded = new WeakMap();

/** Longest stack line parsed (a longer one is a hostile or garbled `stack`: skipped). */
const MAX_LINE = 4096;
const FRAME_START = /^\s*at /;
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
    const start = FRAME_START.exec(raw);
    if (start === null || raw.length > MAX_LINE) continue;
    if (frames.length >= MAX_FRAMES) {
      truncated++;
      continue;
    }
    frames.push(parseFrame(raw.slice(start[0].length)));
  }
  return { frames, truncated };
}

/**
 * `label (location)` or a bare `location`, by string search: a regular expression here would
 * take quadratic time on a hostile line full of ` (`.
 * @param {string} text a frame line after its `at `
 */
function parseFrame(text) {
  const open = text.endsWith(')') ? text.indexOf(' (') : -1;
  if (open < 0) return { label: 'anonymous', ...parseLocation(text) };
  return { label: text.slice(0, open), ...parseLocation(text.slice(open + 2, -1)) };
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
      // Only strings cross to the addon: a hostile `name` of another type must not throw there.
      typeName: nonEmptyString(name) ?? nonEmptyString(safeGet(safeGet(err, 'constructor'), 'name')),
      message: typeof message === 'string' ? cut(message) : undefined,
      remote,
      stack: frames,
      truncated,
      workingDirectory: workingDirectory(),
    };
  }
  let text;
  try {
    text = String(err);
  } catch {
    text = 'unprintable value';
  }
  return { typeName: undefined, message: cut(text), remote, stack: [], truncated: 0, workingDirectory: workingDirectory() };
}

/** @param {string} message */
function cut(message) {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…truncated` : message;
}

/** @param {unknown} v @returns {string | undefined} */
function nonEmptyString(v) {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The current directory, or undefined when it was removed (process.cwd() then throws). */
function workingDirectory() {
  try {
    return process.cwd();
  } catch {
    return undefined;
  }
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
    const earlier = recorded.get(/** @type {object} */ (err));
    // Recorded on this very entity already (addErrorAsMetadata, then close with the same
    // error): a reference to itself would replace the exception it refers to.
    if (earlier && earlier.handle === handle) return;
    if (earlier && native.setCauseRef(handle, earlier.id)) return;
  }
  const id = native.addException(handle, describeError(err, remote));
  if (id && isObject) recorded.set(/** @type {object} */ (err), { id, handle });
}

module.exports = { recordError, describeError, parseStack };
