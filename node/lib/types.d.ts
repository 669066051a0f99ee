// `oxray/types`: types only, under the names `@aws-lambda-powertools/tracer/types` exports, so
// that switching that import is enough too. (The runtime module is empty.)
import type { Tracer, MethodDecorator as OxrayMethodDecorator } from './index.js';

export type { TracerOptions, CaptureLambdaHandlerOptions, CaptureMethodOptions, ConfigServiceInterface } from './index.js';

export type AnyClassMethod = (...args: any[]) => any;
export type AnyClass = new (...args: any[]) => any;
/** oxray's decorators serve any class (Powertools' type names the class it decorates). */
export type MethodDecorator<_Class extends AnyClass = AnyClass> = OxrayMethodDecorator;
/** What `captureLambdaHandler()` returns. */
export type HandlerMethodDecorator = OxrayMethodDecorator;
/** A Tracer's public interface. */
export type TracerInterface = Tracer;
