// ESM entry: the same objects as the CommonJS entry (one module instance, one state).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cjs = require('./index.js');

export const { Tracer, Segment, Subsegment, DummySegment, parseTraceHeader, parseDaemonAddress, samplingRuleFor, samplingRuleOrder, VERSION } = cjs;
export default cjs;
