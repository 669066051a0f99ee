// Server mode with a real Express 5 app on 127.0.0.1, traced by the middleware:
// app.use(traceExpress(tracer)) first, traceExpressErrors after the routes (the suite is in
// helpers/express-suite.mjs, shared with server-express-app.test.mjs).
import { expressSuite } from './helpers/express-suite.mjs';

await expressSuite('middleware');
