// Where the shared schema and test vectors are: OXRAY_SHARED_DIR / OXRAY_VECTORS_DIR (set by
// node/test.sh when the tests run from a scratch project), else relative to this repository.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');

export const sharedDir = process.env.OXRAY_SHARED_DIR ?? path.resolve(repo, '..', 'shared');
export const vectorsDir = process.env.OXRAY_VECTORS_DIR ?? path.join(repo, 'tests', 'vectors');
export const schemaPath = path.join(sharedDir, 'spec', 'xray-segmentdocument-schema-v1.0.0.json');
