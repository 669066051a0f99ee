'use strict';
/**
 * What every server-mode entry point does once when it is made: load the sampling rules it
 * was given (invalid rules throw here, at start-up, not per request), turn on the Tracers
 * that were off only for running outside Lambda (mode.js), and keep the context storage
 * enabled for the life of the process: requests arrive on fresh event-loop turns, so
 * switching its promise hooks off between them would cost several microseconds each.
 */

/**
 * @param {import('./tracer').Tracer} tracer
 * @param {unknown} samplingRules
 */
function startServerMode(tracer, samplingRules) {
  if (tracer === null || typeof tracer !== 'object' || typeof tracer.isTracingEnabled !== 'function') {
    throw new TypeError('oxray server mode needs the Tracer as its first argument');
  }
  if (samplingRules !== undefined && samplingRules !== null) tracer.loadSamplingRules(samplingRules);
  require('./mode').enterServerMode();
  if (tracer.isTracingEnabled()) require('./context').holdForGood();
}

module.exports = { startServerMode };
