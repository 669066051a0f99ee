// tests/vectors/entity_scripts.json through the native API (oxray/native) in memory mode.
// Runs in its own process: the recorder here keeps documents in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { vectorsDir } from './helpers/paths.mjs';
import { validateDocument } from './helpers/validate.mjs';

const native = (await import('oxray/native')).default ?? (await import('oxray/native'));
assert.equal(native.init('{"emit_mode":"memory"}'), null);
const scripts = JSON.parse(readFileSync(path.join(vectorsDir, 'entity_scripts.json'), 'utf8'));
const camel = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c) => c.toUpperCase()), v]));

function runScript(script) {
  const entities = new Map();
  const exceptions = new Map();
  const h = (name) => entities.get(name);
  for (const op of script.ops) {
    const { op: kind, entity, as, ...rest } = op;
    switch (kind) {
      case 'begin_segment':
        entities.set(as, native.beginSegment(op.name, op.header ?? null));
        break;
      case 'lambda_facade':
        entities.set(as, native.facade(op.header ?? null));
        break;
      case 'begin_subsegment':
        entities.set(as, native.begin(h(op.parent), op.name));
        break;
      case 'annotation':
        if (typeof op.value === 'string') native.annotateStr(h(entity), op.key, op.value);
        else if (typeof op.value === 'number') native.annotateNum(h(entity), op.key, op.value);
        else native.annotateBool(h(entity), op.key, op.value);
        break;
      case 'metadata':
        native.metadata(h(entity), op.namespace ?? null, op.key, JSON.stringify(op.value));
        break;
      case 'namespace':
        native.setNamespace(h(entity), op.value);
        break;
      case 'http_request':
        native.httpRequest(h(entity), camel(rest));
        break;
      case 'http_response':
        native.httpResponse(h(entity), op.status ?? null, op.content_length ?? null);
        break;
      case 'aws':
        native.setAws(h(entity), op.key, JSON.stringify(op.value));
        break;
      case 'sql':
        native.setSql(h(entity), camel(rest));
        break;
      case 'exception': {
        const id = native.addException(h(entity), { typeName: op.type, message: op.message, remote: op.remote, stack: op.stack });
        if (as) exceptions.set(as, id);
        break;
      }
      case 'cause_ref':
        native.setCauseRef(h(entity), exceptions.get(op.exception));
        break;
      case 'error':
        native.setFlags(h(entity), true, false, false);
        break;
      case 'fault':
        native.setFlags(h(entity), false, true, false);
        break;
      case 'throttle':
        native.setFlags(h(entity), false, false, true);
        break;
      case 'end':
        native.end(h(entity));
        break;
      case 'flush':
        native.flush(1000);
        break;
      default:
        assert.fail(`unknown op ${kind}`);
    }
  }
  return { entities, exceptions };
}

/** Subset match with the $id/$trace/$exception/$absent placeholders. */
function match(actual, expected, refs, where) {
  if (typeof expected === 'string' && expected.startsWith('$')) {
    const [kind, name] = expected.split(':');
    if (kind === '$id') return assert.equal(actual, native.entityId(refs.entities.get(name)), where);
    if (kind === '$trace') return assert.equal(actual, native.traceId(refs.entities.get(name)), where);
    if (kind === '$exception') return assert.equal(actual, refs.exceptions.get(name), where);
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: array`);
    assert.equal(actual.length, expected.length, `${where}: length`);
    expected.forEach((e, i) => match(actual[i], e, refs, `${where}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${where}: object`);
    for (const [k, v] of Object.entries(expected)) {
      if (k === 'start_time' || k === 'end_time') continue;
      if (v === '$absent') assert.ok(!(k in actual), `${where}.${k} absent`);
      else match(actual[k], v, refs, `${where}.${k}`);
    }
    return;
  }
  assert.deepEqual(actual, expected, where);
}

for (const script of scripts) {
  test(`entity script: ${script.name}`, () => {
    native.takeDocuments();
    const refs = runScript(script);
    const docs = native.takeDocuments().map((text) => {
      const doc = JSON.parse(text.slice(text.indexOf('\n') + 1));
      validateDocument(doc);
      return doc;
    });
    assert.equal(docs.length, script.expect.length, JSON.stringify(docs).slice(0, 2000));
    script.expect.forEach((e, i) => match(docs[i], e, refs, `doc[${i}]`));
  });
}
