// Every document a test sees goes through here: the X-Ray JSON schema (draft-04, with ajv)
// plus the stricter rules of PROTOCOL.md §6.5.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import Ajv from 'ajv-draft-04';
import { schemaPath } from './paths.mjs';

const ajv = new Ajv({ allErrors: true, strict: false });
const schemaCheck = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));

const ID = /^[0-9a-f]{16}$/;
const TRACE_ID = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/;
const SQL_URL = /^(.+\/\/.+)\/([^?]+)\??.*$/;
export const MAX_DOCUMENT_BYTES = 64000;

/**
 * @param {object} entity a document or an embedded subsegment
 * @param {boolean} top
 */
function strictRules(entity, top) {
  const where = `${entity.name} (${entity.id})`;
  assert.match(String(entity.id), ID, `${where}: id`);
  if ('parent_id' in entity) assert.match(String(entity.parent_id), ID, `${where}: parent_id`);
  if (top) {
    for (const key of ['name', 'id', 'start_time', 'trace_id']) assert.ok(key in entity, `${where}: ${key} missing`);
    assert.match(entity.trace_id, TRACE_ID, `${where}: trace_id`);
    if (entity.type === 'subsegment') assert.ok(ID.test(entity.parent_id ?? ''), `${where}: standalone subsegment needs parent_id`);
  }
  if ('namespace' in entity) assert.ok(['aws', 'remote'].includes(entity.namespace), `${where}: namespace ${entity.namespace}`);
  const ended = 'end_time' in entity;
  const inProgress = entity.in_progress === true;
  assert.ok(ended !== inProgress, `${where}: exactly one of end_time or in_progress:true`);
  for (const ex of entity.cause?.exceptions ?? []) assert.match(String(ex.id), ID, `${where}: exception id`);
  if (typeof entity.cause === 'string') assert.match(entity.cause, ID, `${where}: cause id`);
  if (entity.sql?.url !== undefined) assert.match(entity.sql.url, SQL_URL, `${where}: sql.url`);
  for (const child of entity.subsegments ?? []) strictRules(child, false);
}

/**
 * Validates one document (parsed JSON, with its raw text for the size bound).
 * @param {object} doc
 * @param {string} [raw]
 */
export function validateDocument(doc, raw = JSON.stringify(doc)) {
  assert.ok(Buffer.byteLength(raw) <= MAX_DOCUMENT_BYTES, `document of ${Buffer.byteLength(raw)} bytes`);
  if (!schemaCheck(doc)) {
    assert.fail(`schema: ${ajv.errorsText(schemaCheck.errors)}\n${raw.slice(0, 2000)}`);
  }
  strictRules(doc, true);
}
