// Both decorator conventions, compiled by the real TypeScript compiler: legacy
// (experimentalDecorators) and TC39 standard decorators.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import ts from 'typescript';
import { setupLambda, invoke, fakeContext, byName } from './helpers/lambda.mjs';

const sink = await setupLambda();
const require = createRequire(import.meta.url);

const SOURCE = `
import { Tracer } from 'oxray';
export const tracer = new Tracer({ serviceName: 'ts' });
export class Lambda {
  @tracer.captureLambdaHandler()
  public async handler(event: { n: number }, _context: unknown): Promise<number> {
    return this.double(event.n) + (await this.later(1));
  }
  @tracer.captureMethod()
  public double(n: number): number {
    return n * 2;
  }
  @tracer.captureMethod({ subSegmentName: '### custom' })
  public async later(n: number): Promise<number> {
    return n;
  }
}
`;

/** Compiles SOURCE to CommonJS and loads it (resolving 'oxray' from this package). */
function load(experimentalDecorators) {
  const { outputText, diagnostics } = ts.transpileModule(SOURCE, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, experimentalDecorators },
    reportDiagnostics: true,
  });
  assert.deepEqual(diagnostics, []);
  const module = { exports: {} };
  new Function('require', 'module', 'exports', outputText)(require, module, module.exports);
  return module.exports;
}

for (const [label, legacy] of [['experimentalDecorators', true], ['standard (TC39) decorators', false]]) {
  test(`${label}: handler, sync method stays sync, custom name`, async () => {
    const { Lambda } = load(legacy);
    const lambda = new Lambda();
    const { result } = await invoke(() => lambda.handler({ n: 2 }, fakeContext()));
    assert.equal(result, 5);
    const docs = await sink.take(1);
    assert.equal(docs[0].name, '## index.handler');
    assert.deepEqual(byName(docs, '### double').metadata, { ts: { 'double response': 4 } });
    assert.deepEqual(byName(docs, '### custom').metadata, { ts: { 'later response': 1 } });
    const direct = lambda.double(3);
    assert.equal(direct, 6, 'a sync method returns its value, not a Promise');
    await sink.take(1);
  });
}
