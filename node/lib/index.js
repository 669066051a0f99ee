'use strict';
/**
 * oxray for Node.js: `const { Tracer } = require('oxray')`, a drop-in for
 * `@aws-lambda-powertools/tracer`, on a Rust core.
 */

const { Tracer } = require('./tracer');

/**
 * Parses an `X-Amzn-Trace-Id` value (never throws; `valid: false` with `error` when refused).
 * @param {string} text
 */
function parseTraceHeader(text) {
  return require('./native').addon().parseTraceHeader(String(text));
}

/**
 * Parses an `AWS_XRAY_DAEMON_ADDRESS` value (never throws).
 * @param {string} text
 */
function parseDaemonAddress(text) {
  return require('./native').addon().parseDaemonAddress(String(text));
}

const VERSION = require('./version');

module.exports = { Tracer, parseTraceHeader, parseDaemonAddress, VERSION };
// The entity classes load on first access (constructing a Tracer does not need them).
for (const name of /** @type {const} */ (['Segment', 'Subsegment', 'DummySegment'])) {
  Object.defineProperty(module.exports, name, { enumerable: true, get: () => require('./segment')[name] });
}
