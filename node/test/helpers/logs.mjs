// Captures what oxray logs (console.warn/error), for asserting that problems are reported.
export function captureLogs() {
  const lines = [];
  const original = { warn: console.warn, error: console.error, debug: console.debug };
  for (const level of ['warn', 'error']) {
    console[level] = (...args) => {
      const text = args.map(String).join(' ');
      if (text.startsWith('oxray:')) lines.push(text);
      else original[level](...args);
    };
  }
  return {
    lines,
    /**
     * Diagnostics from the native side arrive on the event loop (a threadsafe function, run
     * in libuv's poll phase): let those already sent land. After a timer (the timers phase),
     * an immediate runs in the check phase of the same loop turn, after that turn's poll
     * phase, which delivers everything queued before: the wait ends after them however slow
     * the machine is (a timer alone can fire in the same turn just before the poll phase).
     */
    async settle() {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setImmediate(resolve));
      return lines.splice(0);
    },
    restore() {
      Object.assign(console, original);
    },
  };
}
