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
    /** Diagnostics from the native side arrive on the event loop: let them land. */
    async settle() {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return lines.splice(0);
    },
    restore() {
      Object.assign(console, original);
    },
  };
}
