'use strict';
/**
 * Sampling rules from JavaScript (`tracer.loadSamplingRules`, `enableCentralizedSampling`,
 * `getSamplingStatus`, and `samplingRuleFor` / `samplingRuleOrder` from `oxray`).
 *
 * Rules are given as an object, JSON text, or the path of a JSON file, in the X-Ray SDKs'
 * local rule format (version 1 or 2); `samplingRuleFor`/`samplingRuleOrder` also take a
 * `GetSamplingRules` answer. The core checks them and names the field and the reason of a
 * refusal (e.g. `rules[2].rate: must be a number from 0 to 1`).
 */

const { readFileSync } = require('node:fs');
const nativeLoader = require('./native');

/**
 * The rules as the core takes them: JSON text or a file path.
 * @param {unknown} rules
 * @returns {string}
 */
function source(rules) {
  if (typeof rules === 'string') return rules;
  if (rules instanceof URL) return require('node:url').fileURLToPath(rules);
  if (Array.isArray(rules)) throw new Error('sampling rules: must be a JSON object, not an array');
  if (rules !== null && typeof rules === 'object') return JSON.stringify(rules);
  throw new Error(`sampling rules must be an object, JSON text or a file path, not ${rules === null ? 'null' : typeof rules}`);
}

/**
 * The rules as JSON text (a file is read).
 * @param {unknown} rules
 */
function jsonText(rules) {
  const text = source(rules);
  if (text.trimStart().startsWith('{') || text.trimStart().startsWith('[')) return text;
  try {
    return readFileSync(text, 'utf8');
  } catch (err) {
    throw new Error(`sampling rules file ${JSON.stringify(text)}: cannot be read (${/** @type {Error} */ (err).message})`);
  }
}

/**
 * Makes `rules` the local rules of this thread's recorder (now, or when it starts). Throws
 * when they are invalid; the rules in force then stay.
 * @param {unknown} rules
 */
function loadRules(rules) {
  const text = source(rules);
  const problem = nativeLoader.addon().checkSamplingRules(text);
  if (problem) throw new Error(problem);
  if (nativeLoader.isLoaded()) {
    const refused = /** @type {import('./native').Native} */ (nativeLoader.recorder()).setSamplingRules(text);
    if (refused) throw new Error(refused);
  }
  // Kept for this thread's recorder if it starts later (or is made again).
  nativeLoader.pendingSampling.rules = text;
}

/**
 * @param {import('./tracer').Tracer} tracer
 * @returns {boolean}
 */
function enableCentralized(tracer) {
  const config = tracer._config;
  if (!config.tracingEnabled && !config.offOutsideLambdaOnly) {
    tracer._warn('centralized sampling not enabled: tracing is disabled');
    return false;
  }
  // Asked for explicitly: the recorder starts now, even before server mode turns tracing on.
  const native = nativeLoader.recorder();
  if (native === null) return false;
  const refused = native.enableCentralizedSampling();
  if (refused) {
    tracer._warn(`centralized sampling not enabled: ${refused}`);
    return false;
  }
  nativeLoader.pendingSampling.centralized = true;
  return true;
}

/** What centralized sampling is doing (off: all zero / false). */
function status() {
  if (nativeLoader.isLoaded()) return /** @type {import('./native').Native} */ (nativeLoader.recorder()).samplingStatus();
  return { centralized: false, polling: false, rulesCached: 0, usingServiceRules: false, ruleFetches: 0, targetFetches: 0, errors: 0, lastError: undefined, clientId: '' };
}

/**
 * The rule a request falls under, without sampling anything: for local rules the rule's
 * `description` (`rules[i]` without one) or `"default"`; for a `GetSamplingRules` answer the
 * `RuleName`, or null when no usable rule matches. Absent attributes match any rule.
 * @param {unknown} rules
 * @param {{ host?: string, method?: string, urlPath?: string, serviceName?: string, serviceType?: string }} [request]
 * @returns {string | null}
 */
function ruleFor(rules, request = {}) {
  const found = nativeLoader.addon().samplingRuleFor(jsonText(rules), request ?? {});
  if (!found.valid) throw new Error(found.error ?? 'sampling rules refused');
  return found.rule ?? null;
}

/**
 * The rules in the order they are tried, named as {@link ruleFor} names them.
 * @param {unknown} rules
 * @returns {string[]}
 */
function ruleOrder(rules) {
  const order = nativeLoader.addon().samplingRuleOrder(jsonText(rules));
  if (!order.valid) throw new Error(order.error ?? 'sampling rules refused');
  return order.rules;
}

module.exports = { loadRules, enableCentralized, status, ruleFor, ruleOrder };
