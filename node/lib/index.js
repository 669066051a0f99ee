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

/**
 * The rule a request falls under, without sampling anything (see sampling.js).
 * @param {unknown} rules
 * @param {{ host?: string, method?: string, urlPath?: string, serviceName?: string, serviceType?: string }} [request]
 */
function samplingRuleFor(rules, request) {
  return require('./sampling').ruleFor(rules, request);
}

/**
 * The rules in the order they are tried, named as samplingRuleFor names them.
 * @param {unknown} rules
 */
function samplingRuleOrder(rules) {
  return require('./sampling').ruleOrder(rules);
}

const VERSION = require('./version');

module.exports = { Tracer, parseTraceHeader, parseDaemonAddress, samplingRuleFor, samplingRuleOrder, VERSION };
// The entity classes load on first access (constructing a Tracer does not need them).
for (const name of /** @type {const} */ (['Segment', 'Subsegment', 'DummySegment'])) {
  Object.defineProperty(module.exports, name, { enumerable: true, get: () => require('./segment')[name] });
}
