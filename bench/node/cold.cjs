// Cold start probe: load the tracer (require, or import with COLD_ESM=1), construct it, and
// report the in-process time to ready and the RSS. With no TRACER_MODULE: bare node, which with
// COLD_ESM=1 imports an empty ES module (the ESM loader's own start-up, paid by any ESM code).
'use strict';
const t0 = process.hrtime.bigint();
async function main() {
  const mod = process.env.TRACER_MODULE;
  const esm = process.env.COLD_ESM === '1';
  if (mod) {
    const { Tracer } = esm ? await import(process.env.TRACER_MODULE_ESM || mod) : require(mod);
    new Tracer();
  } else if (esm) {
    await import('./empty.mjs');
  }
  const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(`${JSON.stringify({ readyMs, rssMiB: process.memoryUsage().rss / 2 ** 20 })}\n`);
}
main();
