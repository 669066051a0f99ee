// ESM entry of oxray/middleware: the same objects as the CommonJS entry.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const { captureLambdaHandler, traceHttpServer, traceExpress, traceExpressApp, traceExpressErrors } = require('./middleware.js');
