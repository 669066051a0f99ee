'use strict';
/**
 * The oxray logger: every tracing problem is reported here, never thrown into user code.
 *
 * Level, first match wins: `AWS_XRAY_DEBUG_MODE` (any value) → debug; `AWS_XRAY_LOG_LEVEL`;
 * `POWERTOOLS_LOG_LEVEL`; default `warn`. Levels: debug, info, warn, error, silent.
 * `setLogger()` (also `tracer.provider.setLogger()`) swaps the sink for any object with
 * debug/info/warn/error methods.
 */

/** @typedef {{ debug(...a: unknown[]): void, info(...a: unknown[]): void, warn(...a: unknown[]): void, error(...a: unknown[]): void }} LoggerLike */

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, critical: 40, silent: 100 };

/** @param {NodeJS.ProcessEnv} env @returns {keyof typeof LEVELS} */
function levelFromEnv(env) {
  if (env.AWS_XRAY_DEBUG_MODE) return 'debug';
  for (const name of ['AWS_XRAY_LOG_LEVEL', 'POWERTOOLS_LOG_LEVEL']) {
    const v = (env[name] || '').trim().toLowerCase();
    if (v in LEVELS) return /** @type {keyof typeof LEVELS} */ (v);
  }
  return 'warn';
}

/** @type {LoggerLike} */
const consoleSink = {
  debug: (...a) => console.debug(...a),
  info: (...a) => console.info(...a),
  warn: (...a) => console.warn(...a),
  error: (...a) => console.error(...a),
};

let level = LEVELS[levelFromEnv(process.env)];
/** @type {LoggerLike} */
let sink = consoleSink;

/**
 * Logs `message` at `name` (debug, info, warn/warning, error). Never throws.
 * @param {string} name
 * @param {string} message
 */
function log(name, message) {
  const method = name === 'warning' ? 'warn' : name;
  const value = LEVELS[/** @type {keyof typeof LEVELS} */ (method)] ?? LEVELS.warn;
  if (value < level) return;
  try {
    const fn = sink[/** @type {'debug'|'info'|'warn'|'error'} */ (method)] || sink.warn;
    fn.call(sink, `oxray: ${message}`);
  } catch {
    // A broken custom logger must not break tracing (nor the user's code).
  }
}

module.exports = {
  /** @param {string} m */
  debug: (m) => log('debug', m),
  /** @param {string} m */
  info: (m) => log('info', m),
  /** @param {string} m */
  warn: (m) => log('warn', m),
  /** @param {string} m */
  error: (m) => log('error', m),
  log,
  /** The current level name, for the native diagnostics bridge. */
  levelName() {
    return level <= LEVELS.debug ? 'debug' : level >= LEVELS.error ? 'error' : 'warn';
  },
  /** @param {LoggerLike} logger */
  setLogger(logger) {
    sink = logger && typeof logger.warn === 'function' ? logger : consoleSink;
  },
  /** Re-reads the level from the environment (tests). */
  refreshLevel() {
    level = LEVELS[levelFromEnv(process.env)];
  },
};
