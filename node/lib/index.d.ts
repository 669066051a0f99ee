// Hand-written types for the oxray package (the generated binding.d.ts covers oxray/native).

/** Powertools' ConfigServiceInterface subset read by the Tracer (getters return strings). */
export interface ConfigServiceInterface {
  getTracingEnabled?(): string;
  getTracingCaptureResponse?(): string;
  getTracingCaptureError?(): string;
  getCaptureHTTPsRequests?(): string;
  getServiceName?(): string;
  [key: string]: unknown;
}

export interface TracerOptions {
  /** `false` disables tracing; `true` cannot enable it outside Lambda (same as Powertools). */
  enabled?: boolean;
  serviceName?: string;
  captureHTTPsRequests?: boolean;
  customConfigService?: ConfigServiceInterface;
}

export interface CaptureLambdaHandlerOptions {
  captureResponse?: boolean;
}

export interface CaptureMethodOptions {
  subSegmentName?: string;
  captureResponse?: boolean;
}

type AnyMethod = (this: any, ...args: any[]) => any;

/**
 * A method decorator usable both as a TypeScript `experimentalDecorators` decorator and as a
 * standard (TC39) decorator.
 */
export interface MethodDecorator {
  <T extends AnyMethod>(target: object, propertyKey: string | symbol, descriptor: TypedPropertyDescriptor<T>): TypedPropertyDescriptor<T> | void;
  <T extends AnyMethod>(value: T, context: ClassMethodDecoratorContext<any, T>): T | void;
}

export type AnnotationValue = string | number | boolean;

/** The SDK-shaped entity objects returned by getSegment() and addNewSubsegment(). */
export declare class Subsegment {
  readonly handle: number;
  name: string;
  readonly id: string | undefined;
  readonly trace_id: string | undefined;
  readonly parent_id: string | undefined;
  readonly notTraced: boolean;
  addNewSubsegment(name: string): Subsegment;
  addAnnotation(key: string, value: AnnotationValue): void;
  addMetadata(key: string, value: unknown, namespace?: string): void;
  addError(error: unknown, remote?: boolean): void;
  addErrorFlag(): void;
  addFaultFlag(): void;
  addThrottleFlag(): void;
  close(error?: unknown, remote?: boolean): void;
  isClosed(): boolean;
  flush(): void;
  /**
   * The document as it stands: while open and sampled, what it would send now (in progress,
   * with the children closed so far; reading sends nothing); otherwise its identity only.
   */
  toJSON(): { id?: string; name: string; trace_id?: string; parent_id?: string; [field: string]: unknown };
  /** toJSON() as JSON text. */
  format(): string;
  /** The annotations recorded so far (a copy; empty without a document). */
  readonly annotations: Record<string, AnnotationValue>;
  /** The metadata recorded so far, by namespace (a copy). */
  readonly metadata: Record<string, Record<string, unknown>>;
  /** `aws` or `remote` when set; undefined for local work. */
  readonly namespace: string | undefined;
}

/** The Lambda function segment (facade): read-only, never sent. */
export declare class Segment extends Subsegment {}

/** Returned by getSegment() while tracing is disabled: every method does nothing. */
export declare class DummySegment {
  constructor(name?: string);
  readonly handle: 0;
  name: string;
  readonly notTraced: true;
  addNewSubsegment(name: string): DummySegment;
  addAnnotation(key: string, value: AnnotationValue): void;
  addMetadata(key: string, value: unknown, namespace?: string): void;
  addError(error: unknown, remote?: boolean): void;
  addErrorFlag(): void;
  addFaultFlag(): void;
  addThrottleFlag(): void;
  close(error?: unknown, remote?: boolean): void;
  isClosed(): boolean;
  flush(): void;
  /** Nothing is recorded: the name only. */
  toJSON(): { name: string };
  format(): string;
  readonly annotations: Record<string, AnnotationValue>;
  readonly metadata: Record<string, Record<string, unknown>>;
  readonly namespace: undefined;
}

export type AnySegment = Segment | Subsegment | DummySegment;

export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export declare class ProviderService {
  captureAsyncFunc<T>(name: string, fcn: (subsegment: Subsegment) => T, parent?: unknown): T;
  captureFunc<T>(name: string, fcn: (subsegment: Subsegment) => T, parent?: unknown): T;
  getSegment(): AnySegment;
  setSegment(segment: AnySegment): void;
  putAnnotation(key: string, value: AnnotationValue): void;
  putMetadata(key: string, value: unknown, namespace?: string): void;
  captureAWSv3Client<T>(client: T): T;
  /** @deprecated AWS SDK v2 is not supported: returns the argument unchanged. */
  captureAWS<T>(aws: T): T;
  /** @deprecated AWS SDK v2 is not supported: returns the argument unchanged. */
  captureAWSClient<T>(client: T): T;
  captureHTTPsGlobal(): void;
  instrumentFetch(): void;
  getNamespace(): import('node:async_hooks').AsyncLocalStorage<unknown>;
  setLogger(logger: Logger): void;
  setDaemonAddress(address: string): void;
  setContextMissingStrategy(strategy: unknown): void;
}

export interface Counters {
  sent: number;
  dropped: number;
  truncated: number;
  streamed: number;
  sendErrors: number;
  warnings: number;
  handles: number;
}

export declare class Tracer {
  constructor(options?: TracerOptions);
  readonly serviceName: string;
  readonly provider: ProviderService;
  isTracingEnabled(): boolean;
  getSegment(): AnySegment | undefined;
  setSegment(segment: AnySegment): void;
  putAnnotation(key: string, value: AnnotationValue): void;
  putMetadata(key: string, value: unknown, namespace?: string): void;
  getColdStart(): boolean;
  annotateColdStart(): void;
  addServiceNameAnnotation(): void;
  addResponseAsMetadata(data?: unknown, methodName?: string): void;
  addErrorAsMetadata(error: Error | unknown, remote?: boolean): void;
  getRootXrayTraceId(): string | undefined;
  isTraceSampled(): boolean;
  captureAWSv3Client<T>(client: T): T;
  /** @deprecated AWS SDK v2 is not supported: returns the argument unchanged. */
  captureAWS<T>(aws: T): T;
  /** @deprecated AWS SDK v2 is not supported: returns the argument unchanged. */
  captureAWSClient<T>(client: T): T;
  captureLambdaHandler(options?: CaptureLambdaHandlerOptions): MethodDecorator;
  captureMethod(options?: CaptureMethodOptions): MethodDecorator;
  /** oxray extra: counters of the process recorder, or null when tracing never started. */
  getCounters(): Counters | null;
  /**
   * Samples new traces of this thread by local rules (X-Ray SDK format, version 1 or 2): an
   * object, JSON text or a file path. Throws an Error naming the field and the reason when
   * they are invalid; the rules in force then stay.
   */
  loadSamplingRules(rules: SamplingRules): void;
  /** Adds the X-Ray service's rules (through the daemon's proxy); false where it does not apply (Lambda, tracing disabled). */
  enableCentralizedSampling(): boolean;
  getSamplingStatus(): SamplingStatus;
}

/** Local rules (or, for samplingRuleFor/samplingRuleOrder, a GetSamplingRules answer): an object, JSON text, or a file path. */
export type SamplingRules = string | URL | Record<string, unknown>;

/** The request attributes rules match on; absent ones match any pattern. */
export interface SamplingRequest {
  host?: string;
  method?: string;
  urlPath?: string;
  /** Centralized rules only. */
  serviceName?: string;
  /** Centralized rules only. */
  serviceType?: string;
}

/** What centralized sampling is doing (all zero / false while it is off). */
export interface SamplingStatus {
  centralized: boolean;
  polling: boolean;
  rulesCached: number;
  usingServiceRules: boolean;
  ruleFetches: number;
  targetFetches: number;
  errors: number;
  lastError?: string;
  clientId: string;
}

/**
 * The rule `request` falls under, without sampling: a local rule's `description` (`rules[i]`
 * without one) or `"default"`; a GetSamplingRules answer's `RuleName`, or null when no usable
 * rule matches. Throws when the rules are invalid.
 */
export declare function samplingRuleFor(rules: SamplingRules, request?: SamplingRequest): string | null;
/** The rules in the order they are tried, named as samplingRuleFor names them. */
export declare function samplingRuleOrder(rules: SamplingRules): string[];

export interface ParsedTraceHeader {
  valid: boolean;
  error?: string;
  message?: string;
  root?: string;
  parent?: string;
  sampled?: string;
  lineage?: string;
  extras: string[][];
  formatted?: string;
}

export interface ParsedDaemonAddress {
  valid: boolean;
  udp?: string;
  tcp?: string;
  message?: string;
}

export declare function parseTraceHeader(text: string): ParsedTraceHeader;
export declare function parseDaemonAddress(text: string): ParsedDaemonAddress;
export declare const VERSION: string;
