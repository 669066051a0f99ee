// Server mode with a real Express 4 app on 127.0.0.1 (the dev dependency `express4`, an npm
// alias of express@4), traced by the middleware: the shared suite of helpers/express-suite.mjs,
// as server-express.test.mjs runs it for Express 5.
import { expressSuite } from './helpers/express-suite.mjs';

await expressSuite('middleware', 'express4');
