import type { Tracer, CaptureLambdaHandlerOptions } from './index';

/** A middy middleware object (before / after / onError). */
export interface MiddlewareLikeObj {
  before: (request: any) => void;
  after: (request: any) => void;
  onError: (request: any) => void;
}

export declare function captureLambdaHandler(target: Tracer, options?: CaptureLambdaHandlerOptions): MiddlewareLikeObj;
