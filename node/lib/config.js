'use strict';
/**
 * Tracer settings, resolved once at construction exactly as Powertools does: constructor
 * option, then `customConfigService` getters, then environment, then defaults.
 */

/**
 * @typedef {object} ConfigServiceLike
 * @property {() => string} [getTracingEnabled]
 * @property {() => string} [getTracingCaptureResponse]
 * @property {() => string} [getTracingCaptureError]
 * @property {() => string} [getCaptureHTTPsRequests]
 * @property {() => string} [getServiceName]
 */

/**
 * @param {ConfigServiceLike | undefined} custom
 * @param {keyof ConfigServiceLike} getter
 * @returns {string}
 */
function fromCustom(custom, getter) {
  try {
    const fn = custom?.[getter];
    const v = typeof fn === 'function' ? fn.call(custom) : undefined;
    return typeof v === 'string' ? v.trim() : '';
  } catch {
    return '';
  }
}

/** @param {string | undefined} v */
const env = (v) => (typeof v === 'string' ? v.trim() : '');
/** @param {string} v */
const isFalse = (v) => v.toLowerCase() === 'false';

/**
 * @param {{ enabled?: boolean, serviceName?: string, captureHTTPsRequests?: boolean, customConfigService?: ConfigServiceLike }} options
 * @param {NodeJS.ProcessEnv} e
 */
function resolveConfig(options, e) {
  const custom = options.customConfigService;
  const executionEnv = env(e.AWS_EXECUTION_ENV);
  const disabledExplicitly =
    options.enabled === false ||
    isFalse(fromCustom(custom, 'getTracingEnabled')) ||
    isFalse(env(e.POWERTOOLS_TRACE_ENABLED)) ||
    executionEnv === 'AWS_Lambda_amplify-mock' ||
    env(e.AWS_SAM_LOCAL) !== '';
  const tracingEnabled = !disabledExplicitly && executionEnv !== '';
  // Off only for running outside Lambda: server mode (oxray/middleware) turns it on.
  const offOutsideLambdaOnly = !disabledExplicitly && executionEnv === '';
  const captureResponse = !(
    isFalse(fromCustom(custom, 'getTracingCaptureResponse')) || isFalse(env(e.POWERTOOLS_TRACER_CAPTURE_RESPONSE))
  );
  const captureError = !(
    isFalse(fromCustom(custom, 'getTracingCaptureError')) || isFalse(env(e.POWERTOOLS_TRACER_CAPTURE_ERROR))
  );
  const captureHTTPsRequests = !(
    options.captureHTTPsRequests === false ||
    isFalse(fromCustom(custom, 'getCaptureHTTPsRequests')) ||
    isFalse(env(e.POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS))
  );
  const serviceName =
    (typeof options.serviceName === 'string' && options.serviceName.trim()) ||
    fromCustom(custom, 'getServiceName') ||
    env(e.POWERTOOLS_SERVICE_NAME) ||
    'service_undefined';
  const coldStart = env(e.AWS_LAMBDA_INITIALIZATION_TYPE) === 'on-demand';
  return { tracingEnabled, offOutsideLambdaOnly, captureResponse, captureError, captureHTTPsRequests, serviceName, coldStart };
}

module.exports = { resolveConfig };
