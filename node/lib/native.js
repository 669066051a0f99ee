'use strict';
/**
 * Loads the native addon and its per-thread recorder, once, on first need.
 *
 * Nothing native is loaded while tracing is disabled. If the addon cannot be loaded (no
 * binary for this platform) tracing is reported as unavailable and stays off: importing
 * oxray never throws.
 */

const logger = require('./logger');
const VERSION = require('./version');

/** @type {typeof import('../binding') | null} */
let binding = null;
let state = 'unloaded'; // unloaded | ready | failed

/**
 * The addon with its recorder initialized, or null if it is unavailable.
 * @returns {typeof import('../binding') | null}
 */
function recorder() {
  if (state === 'ready') return binding;
  if (state === 'failed') return null;
  try {
    binding = require('../binding.js');
    const b = /** @type {typeof import('../binding')} */ (binding);
    b.installDiagnostics((level, message) => logger.log(level, message), logger.levelName());
    // In Lambda a handler sends about one datagram per invocation and must flush before it
    // returns: sending on the caller's thread beats a hand-off to the sender thread and back.
    // Elsewhere the background sender keeps sockets off the hot path. OXRAY_EMIT_MODE overrides.
    const mode = process.env.OXRAY_EMIT_MODE || (process.env.LAMBDA_TASK_ROOT ? 'udp' : 'background');
    const config = { sdk_name: 'oxray for Node.js', sdk_version: VERSION, emit_mode: mode };
    const problem = b.init(JSON.stringify(config));
    if (problem) {
      logger.error(`recorder configuration refused (${problem}); using defaults`);
      b.init(null);
    }
    state = 'ready';
    return b;
  } catch (err) {
    state = 'failed';
    logger.error(`native addon unavailable, tracing disabled: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
}

/** True once the addon is loaded (without loading it). */
function isLoaded() {
  return state === 'ready';
}

module.exports = { recorder, isLoaded };
