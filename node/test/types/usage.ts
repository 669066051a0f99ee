// Type-checked (not run) by node/test.sh against the installed package, once with
// experimentalDecorators and once with standard decorators.
import http from 'node:http';
import { Tracer, samplingRuleFor, samplingRuleOrder, type Subsegment, type SamplingStatus } from 'oxray';
import { captureLambdaHandler, traceHttpServer, traceExpress, traceExpressApp, traceExpressErrors } from 'oxray/middleware';

const tracer = new Tracer({ serviceName: 'types', captureHTTPsRequests: true });

export class Lambda {
  @tracer.captureLambdaHandler({ captureResponse: false })
  public async handler(event: { id: string }, _context: unknown): Promise<{ ok: boolean }> {
    tracer.putAnnotation('id', event.id);
    tracer.putMetadata('event', event, 'custom');
    return { ok: this.sync(1) > 0 };
  }

  @tracer.captureMethod({ subSegmentName: '### sync' })
  public sync(n: number): number {
    return n + 1;
  }
}

const seg = tracer.getSegment();
const child = seg?.addNewSubsegment('### manual');
child?.addAnnotation('k', true);
child?.close();
const n: number = tracer.provider.captureFunc('### f', (s: Subsegment) => {
  s.addMetadata('k', { a: 1 });
  return 1;
});
export const middleware = captureLambdaHandler(tracer, { captureResponse: true });
export const root: string | undefined = tracer.getRootXrayTraceId();
export const sampled: boolean = tracer.isTraceSampled() && n === 1;

// Server mode and sampling.
tracer.loadSamplingRules({ version: 2, rules: [], default: { fixed_target: 1, rate: 0.1 } });
tracer.loadSamplingRules('/etc/xray/rules.json');
export const centralized: boolean = tracer.enableCentralizedSampling();
export const status: SamplingStatus = tracer.getSamplingStatus();
export const rule: string | null = samplingRuleFor('{"version":2,"default":{"fixed_target":1,"rate":0.1}}', { host: 'example.com', urlPath: '/' });
export const order: string[] = samplingRuleOrder({ version: 2, default: { fixed_target: 1, rate: 0.1 } });
export const server = http.createServer(
  traceHttpServer(tracer, async (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.end(req.url);
  }, { name: 'api', samplingRules: '/etc/xray/rules.json' }),
);
export const expressMiddleware = [traceExpress(tracer, { name: 'api' }), traceExpressErrors(tracer)];
// An Express-like app (a request function with `handle`): the same app comes back, typed as given.
const expressLike = Object.assign((_req: http.IncomingMessage, _res: http.ServerResponse) => {}, { handle: (..._args: unknown[]) => undefined, locals: { answer: 42 } });
export const tracedApp: typeof expressLike = traceExpressApp(tracer, expressLike, { name: 'api' });
export const answer: number = tracedApp.locals.answer;

// `oxray/types` under Powertools' names (`@aws-lambda-powertools/tracer/types`).
import type { TracerInterface, TracerOptions as PtTracerOptions, CaptureMethodOptions as PtCaptureMethodOptions, HandlerMethodDecorator, MethodDecorator as PtMethodDecorator, AnyClass } from 'oxray/types';
const asInterface: TracerInterface = tracer;
const ptOptions: PtTracerOptions = { serviceName: 'types', enabled: true };
const ptMethodOptions: PtCaptureMethodOptions = { subSegmentName: '### typed', captureResponse: false };
const handlerDecorator: HandlerMethodDecorator = asInterface.captureLambdaHandler();
const methodDecorator: PtMethodDecorator<AnyClass> = asInterface.captureMethod(ptMethodOptions);
void [new Tracer(ptOptions), handlerDecorator, methodDecorator];
