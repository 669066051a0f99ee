'use strict';
/**
 * Server mode: once a request handler is traced (`oxray/middleware`'s `traceHttpServer` or
 * `traceExpress`), segments begin per request, so running outside Lambda no longer turns
 * tracing off. Tracers that were off only for that reason are turned on then (those made
 * earlier are remembered weakly until it happens; those made later start on). Tracers turned
 * off on purpose (`enabled: false`, `POWERTOOLS_TRACE_ENABLED=false`, SAM local) stay off.
 */

let serverMode = false;
/** @type {Set<WeakRef<{ _enable(): void }>>} Tracers waiting for server mode */
const waiting = new Set();

/** True once server mode was entered. */
function inServerMode() {
  return serverMode;
}

/**
 * Remembers a Tracer that is off only for running outside Lambda.
 * @param {{ _enable(): void }} tracer
 */
function waitForServerMode(tracer) {
  waiting.add(new WeakRef(tracer));
}

/** Enters server mode (idempotent): the waiting Tracers are turned on. */
function enterServerMode() {
  if (serverMode) return;
  serverMode = true;
  for (const ref of waiting) ref.deref()?._enable();
  waiting.clear();
}

module.exports = { inServerMode, waitForServerMode, enterServerMode };
