// Types for the vibetensor Node package (js/index.js over csrc/node).

export type DType =
  | 'bool' | 'uint8' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'float16' | 'bfloat16' | 'float32' | 'float64';
/** "cpu", "cuda" (the current device) or "cuda:N"; a number N means "cuda:N". */
export type Device = string | number;

/** What toTypedArray() gives per dtype (float16/bfloat16 come out as float32; bool as 0/1 bytes). */
export type HostArray = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | BigInt64Array;

/** An argument to an op: tensors, numbers (integral ones are ints), BigInts, booleans, int lists,
 * tensor lists, dtype and device strings, other strings, null for None. */
export type OpArg = Tensor | number | bigint | boolean | string | null | undefined | number[] | (Tensor | null)[];
/** Keyword arguments, last: {dim: 1, keepdim: true}; camelCase names are accepted (roundingMode). */
export type Kwargs = { [name: string]: OpArg };
/** One result; several come as an array that also has the schema's names ({values, indices}). */
export type OpResult = any;

export declare class Tensor {
  private constructor();
  readonly shape: number[];
  readonly strides: number[];
  readonly dtype: DType;
  readonly device: string;
  readonly numel: number;
  readonly ndim: number;
  readonly itemsize: number;
  readonly storageOffset: number;
  readonly isContiguous: boolean;
  /** A fresh contiguous copy of the values on the host. */
  toTypedArray(): Promise<HostArray>;
  /** Nested arrays of the values (int64 as Numbers, bool as booleans). */
  toArray(): Promise<any>;
  /** The value of a one-element tensor. */
  item(): Promise<number | boolean | bigint>;
  /** A copy on another device and/or with another dtype. */
  to(target: Device | DType | { device?: Device; dtype?: DType }): Promise<Tensor>;
  toString(): string;
  /** The op table's methods: x.add(y), x.sum({dim: 1}), x.logSoftmax(1), x.add_(1) ... */
  [method: string]: any;
}

export interface TensorOptions {
  shape?: number[];
  dtype?: DType;
  device?: 'cpu';
}
/** A new CPU tensor holding a copy of a typed array, a nested array or a number. */
export declare function tensor(
  data: ArrayBufferView | number | bigint | boolean | any[],
  options?: TensorOptions,
): Tensor;

type AsyncOp = (...args: (OpArg | Kwargs)[]) => Promise<OpResult>;
type SyncOp = (...args: (OpArg | Kwargs)[]) => OpResult;
/** Every op of the core by name (snake_case and camelCase); each returns a Promise. */
export declare const ops: { readonly [name: string]: AsyncOp };
/** The same ops, run inline: only CPU calls within the inline limit (else they throw). */
export declare const opsSync: { readonly [name: string]: SyncOp };
export declare function call(name: string, ...args: (OpArg | Kwargs)[]): Promise<OpResult>;
export declare function opNames(): string[];
export interface OpInfo {
  name: string; base: string; schema: string; function: boolean; method: boolean; factory: boolean;
  random: boolean; inplace: boolean; view: boolean; args: string[]; kernels: string[];
}
export declare function opTable(): OpInfo[];

export interface FactoryOptions { dtype?: DType; device?: Device }
type Sizes = number[] | number;
export declare function zeros(...args: (Sizes | FactoryOptions)[]): Promise<Tensor>;
export declare function ones(...args: (Sizes | FactoryOptions)[]): Promise<Tensor>;
export declare function empty(...args: (Sizes | FactoryOptions)[]): Promise<Tensor>;
export declare function full(size: number[], fillValue: number | boolean, options?: FactoryOptions): Promise<Tensor>;
export declare function arange(...args: (number | FactoryOptions)[]): Promise<Tensor>;
export declare function linspace(start: number, end: number, steps: number, options?: FactoryOptions): Promise<Tensor>;
export declare function eye(n: number, m?: number | FactoryOptions, options?: FactoryOptions): Promise<Tensor>;
export declare function rand(...args: (Sizes | FactoryOptions)[]): Promise<Tensor>;
export declare function randn(...args: (Sizes | FactoryOptions)[]): Promise<Tensor>;
export declare function randint(...args: (number | number[] | FactoryOptions)[]): Promise<Tensor>;
export declare function randperm(n: number, options?: FactoryOptions): Promise<Tensor>;
/** Seeds every device's default generator (vt.manual_seed in Python). */
export declare function manualSeed(seed: number | bigint): void;
export declare function initialSeed(): bigint;

export declare const dtypes: { readonly [D in DType]: D };
export declare const bool: 'bool', uint8: 'uint8', int8: 'int8', int16: 'int16', int32: 'int32', int64: 'int64';
export declare const float16: 'float16', bfloat16: 'bfloat16', float32: 'float32', float64: 'float64';
/** "cpu" and each visible GPU ("cuda:0" ...). */
export declare function devices(): string[];

export interface InflightStats {
  current: number; peak: number; queued: number; max: number; completed: number; inlineMaxElements: number;
}
/** Heavy calls handed to the thread pool now, the most at once, and those waiting for a slot. */
export declare function inflight(): InflightStats;
export declare function resetPeakInflight(): void;
export declare function configure(options: { maxInflight?: number; inlineMaxElements?: number }): void;
export declare const addonPath: string;
export declare const settings: { readonly [envVar: string]: { type: string; default: unknown; doc: string } };

export declare namespace cuda {
  function isAvailable(): boolean;
  function deviceCount(): number;
  function whyUnavailable(): string;
  function currentDevice(): number;
  function setDevice(index: number): void;
  /** Waits (on the thread pool) for all work on the device. */
  function synchronize(device?: number): Promise<void>;
  function deviceProperties(device?: number): {
    name: string; major: number; minor: number; multiProcessorCount: number; totalMemory: number; pciBusId: string;
  };
  function streamFromPool(device?: number, priority?: number): Stream;
  function currentStream(device?: number): Stream;
  function defaultStream(device?: number): Stream;
  /** Ops issued from JS after this run on `stream` (captured per call, whichever pool thread runs it). */
  function setCurrentStream(stream: Stream): void;
  class Stream {
    private constructor();
    readonly device: number;
    readonly priority: number;
    readonly id: bigint;
    query(): boolean;
    synchronize(): Promise<void>;
    equals(other: Stream): boolean;
  }
  class Event {
    constructor(options?: { enableTiming?: boolean; interprocess?: boolean });
    readonly recorded: boolean;
    record(stream?: Stream): this;
    wait(stream?: Stream): void;
    query(): boolean;
    synchronize(): Promise<void>;
    elapsedTime(end: Event): number;
  }
}

export declare namespace fabric {
  interface TopologyGraph {
    format: 'vibetensor-topology';
    version: number;
    graph: { [key: string]: unknown };
    nodes: Array<{ id: string; type: string; [key: string]: unknown }>;
    edges: Array<{ source: string; target: string; role: string; [key: string]: unknown }>;
  }
  /** The graph `vibetensor-topo --json` prints (runs that CLI through Python). */
  function topology(options?: { from?: string; python?: string }): Promise<TopologyGraph>;
}
