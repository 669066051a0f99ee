import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Tracer, CaptureLambdaHandlerOptions, SamplingRules } from './index';

/** A middy middleware object (before / after / onError). */
export interface MiddlewareLikeObj {
  before: (request: any) => void;
  after: (request: any) => void;
  onError: (request: any) => void;
}

export declare function captureLambdaHandler(target: Tracer, options?: CaptureLambdaHandlerOptions): MiddlewareLikeObj;

/** Options of the server-mode entry points. */
export interface ServerTracingOptions {
  /**
   * The segment name; default: the Tracer's service name if one was set, else the request's
   * Host name. `AWS_XRAY_TRACING_NAME` wins over both.
   */
  name?: string;
  /** Local sampling rules loaded for the process now (as `tracer.loadSamplingRules`); invalid ones throw. */
  samplingRules?: SamplingRules;
}

/**
 * Wraps an `http.createServer` request listener: each request is a segment (continuing an
 * incoming `X-Amzn-Trace-Id`, sampled by the rules), current while `handler` runs, ended when
 * the response is done or the connection closes first. A throwing or rejecting handler is
 * recorded as the fault and its cause, answered with 500 (if nothing was sent) and logged.
 */
export declare function traceHttpServer<Req extends IncomingMessage = IncomingMessage, Res extends ServerResponse = ServerResponse>(
  tracer: Tracer,
  handler: (req: Req, res: Res) => unknown,
  options?: ServerTracingOptions,
): (req: Req, res: Res) => void;

/**
 * Traces an Express app from its entry: wraps `app.handle` in place (so `app.listen` and
 * `http.createServer(app)` both trace) and returns the app. A segment per request, begun before
 * Express's router runs; no middleware layer is added. The cheaper way to trace Express.
 */
export declare function traceExpressApp<App extends ((req: any, res: any, next?: any) => void) & { handle: (...args: any[]) => unknown }>(
  tracer: Tracer,
  app: App,
  options?: ServerTracingOptions,
): App;

/** Express middleware (`app.use(traceExpress(tracer))` before the routes): a segment per request. */
export declare function traceExpress(tracer: Tracer, options?: ServerTracingOptions): (req: any, res: any, next: (err?: unknown) => void) => void;

/** Express error middleware (`app.use(traceExpressErrors(tracer))` after the routes): records a route's error as the cause, then passes it on. */
export declare function traceExpressErrors(tracer: Tracer): (err: unknown, req: any, res: any, next: (err?: unknown) => void) => void;
