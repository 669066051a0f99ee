// tests/vectors/sampling_rules.json from Node: samplingRuleFor / samplingRuleOrder (local
// rule files and GetSamplingRules answers), the addon's beginSegment deciding by the same
// rules, and invalid rule files refused by tracer.loadSamplingRules naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { vectorsDir } from './helpers/paths.mjs';
import { setupServerMode } from './helpers/server.mjs';

await setupServerMode();
const { Tracer, samplingRuleFor, samplingRuleOrder } = await import('oxray');
const native = createRequire(import.meta.url)('oxray/native');
const VECTORS = JSON.parse(readFileSync(path.join(vectorsDir, 'sampling_rules.json'), 'utf8'));
const scratch = mkdtempSync(path.join(tmpdir(), 'oxray-sampling-'));

/** The vector's request as samplingRuleFor takes it. */
const asRequest = (r) => ({ host: r.host, method: r.method, urlPath: r.url_path, serviceName: r.service_name, serviceType: r.service_type });

test('local rule sets: the rule each request falls under', () => {
  let cases = 0;
  for (const set of VECTORS.local) {
    for (const c of set.cases) {
      assert.equal(samplingRuleFor(set.rules, asRequest(c.request)), c.rule, `${set.name}: ${JSON.stringify(c.request)}`);
      cases++;
    }
    const order = samplingRuleOrder(JSON.stringify(set.rules));
    assert.equal(order.at(-1), 'default');
    assert.equal(order.length, (set.rules.rules ?? []).length + 1);
  }
  assert.ok(cases >= 20, `${cases} cases`);
});

test('centralized rule sets (GetSamplingRules answers): rule chosen and rule order', () => {
  let cases = 0;
  for (const set of VECTORS.centralized) {
    assert.deepEqual(samplingRuleOrder(set.rules), set.usable, set.name);
    for (const c of set.cases) {
      assert.equal(samplingRuleFor(JSON.stringify(set.rules), asRequest(c.request)), c.rule, `${set.name}: ${JSON.stringify(c.request)}`);
      cases++;
    }
  }
  assert.ok(cases >= 5, `${cases} cases`);
});

test('rule files are read from a path too', () => {
  const [set] = VECTORS.local;
  const file = path.join(scratch, 'local.json');
  writeFileSync(file, JSON.stringify(set.rules));
  const [c] = set.cases;
  assert.equal(samplingRuleFor(file, asRequest(c.request)), c.rule);
  assert.throws(() => samplingRuleFor(path.join(scratch, 'missing.json')), { message: /cannot be read/ });
});

/** The rule file with every rule (and the default) never sampling except `chosen`. */
function only(rules, chosen) {
  const copy = structuredClone(rules);
  for (const rule of copy.rules ?? []) Object.assign(rule, { fixed_target: 0, rate: rule.description === chosen ? 1 : 0 });
  copy.default = { fixed_target: 0, rate: chosen === 'default' ? 1 : 0 };
  return copy;
}

test('local rule sets decide beginSegment: sampled exactly when the expected rule samples', () => {
  for (const set of VECTORS.local) {
    for (const c of set.cases) {
      assert.equal(native.init(JSON.stringify({ emit_mode: 'memory', sampling_rules: only(set.rules, c.rule) })), null);
      const h = native.beginSegment('svc', null, asRequest(c.request));
      assert.ok(native.isSampled(h), `${set.name}: ${JSON.stringify(c.request)} should fall under ${c.rule}`);
      native.release(h);
      // Every other rule alone leaves it unsampled.
      const other = c.rule === 'default' ? (set.rules.rules ?? [])[0]?.description : 'default';
      if (other === undefined) continue;
      native.init(JSON.stringify({ emit_mode: 'memory', sampling_rules: only(set.rules, other) }));
      const unsampled = native.beginSegment('svc', null, asRequest(c.request));
      assert.equal(native.isSampled(unsampled), false, `${set.name}: ${JSON.stringify(c.request)} not under ${other}`);
      native.release(unsampled);
    }
  }
});

test('an incoming Sampled=1 / Sampled=0 decides over the rules; Sampled=? asks them', () => {
  native.init(JSON.stringify({ emit_mode: 'memory', sampling_rules: { version: 2, rules: [], default: { fixed_target: 0, rate: 0 } } }));
  const root = '1-5759e988-bd862e3fe1be46a994272793';
  assert.equal(native.isSampled(native.beginSegment('svc', `Root=${root};Sampled=1`, {})), true);
  assert.equal(native.isSampled(native.beginSegment('svc', `Root=${root};Sampled=?`, {})), false);
  native.init(JSON.stringify({ emit_mode: 'memory', sampling_rules: { version: 2, rules: [], default: { fixed_target: 0, rate: 1 } } }));
  assert.equal(native.isSampled(native.beginSegment('svc', `Root=${root};Sampled=0`, {})), false);
  assert.equal(native.isSampled(native.beginSegment('svc', null, {})), true);
});

test('invalid rule files are refused by loadSamplingRules and samplingRuleFor, naming the field', () => {
  const tracer = new Tracer();
  assert.ok(VECTORS.invalid_local.length >= 10);
  for (const c of VECTORS.invalid_local) {
    const file = path.join(scratch, 'invalid.json');
    writeFileSync(file, JSON.stringify(c.rules));
    assert.throws(() => tracer.loadSamplingRules(file), (err) => err instanceof Error && err.message.startsWith(`${c.field}: `), c.name);
    assert.throws(() => samplingRuleFor(JSON.stringify(c.rules)), (err) => err.message.startsWith(`${c.field}: `), c.name);
  }
});
