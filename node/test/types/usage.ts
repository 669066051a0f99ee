// Type-checked (not run) by node/test.sh against the installed package, once with
// experimentalDecorators and once with standard decorators.
import { Tracer, type Subsegment } from 'oxray';
import { captureLambdaHandler } from 'oxray/middleware';

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
