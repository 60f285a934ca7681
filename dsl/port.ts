/** @file Ports: typed handles on graph values. They carry dtype and shape in their types; no tensor is touched. */
import type { DType, Shape, TensorType } from './types.ts';
import type { OpKind } from '../ops/kinds.ts';

export interface NodeSink {
  op(kind: OpKind, inputs: readonly PortLike[], params?: Record<string, unknown>): Port;
  typeOf(id: string): TensorType;
}

export type PortLike = Port | number;
type Same<D extends DType, S extends Shape> = Port<D, S>;

/** A value in the graph. `_` holds type-only information and is never read at run time. */
export class Port<D extends DType = DType, S extends Shape = Shape> {
  declare readonly _: { dtype: D; shape: S };
  constructor(
    readonly graph: NodeSink,
    readonly id: string,
  ) {}

  get type(): TensorType {
    return this.graph.typeOf(this.id);
  }

  private un(kind: OpKind): Same<D, S> {
    return this.graph.op(kind, [this]) as Same<D, S>;
  }
  private bin(kind: OpKind, o: PortLike): Same<D, S> {
    return this.graph.op(kind, [this, o]) as Same<D, S>;
  }

  add(o: PortLike) { return this.bin('add', o); }
  sub(o: PortLike) { return this.bin('sub', o); }
  mul(o: PortLike) { return this.bin('mul', o); }
  div(o: PortLike) { return this.bin('div', o); }
  pow(o: PortLike) { return this.bin('pow', o); }
  maximum(o: PortLike) { return this.bin('maximum', o); }
  minimum(o: PortLike) { return this.bin('minimum', o); }
  neg() { return this.un('neg'); }
  abs() { return this.un('abs'); }
  square() { return this.un('square'); }
  sqrt() { return this.un('sqrt'); }
  exp() { return this.un('exp'); }
  log() { return this.un('log'); }
  sin() { return this.un('sin'); }
  cos() { return this.un('cos'); }
  tanh() { return this.un('tanh'); }
  sigmoid() { return this.un('sigmoid'); }
  silu() { return this.un('silu'); }
  relu() { return this.un('relu'); }
  /** log(1 + eˣ), numerically stable */
  softplus() { return this.un('softplus'); }
  /** log σ(x) = −softplus(−x), numerically stable */
  logSigmoid() { return this.un('log_sigmoid'); }
  nanToNum() { return this.un('nan_to_num'); }
  /** softmax / log-softmax over the last axis */
  softmax() { return this.un('softmax'); }
  logSoftmax() { return this.un('log_softmax'); }
  /** the same value, through which no gradient flows */
  stopGradient() { return this.un('stop_gradient'); }

  gt(o: PortLike): Port<'bool', S> { return this.graph.op('greater', [this, o]) as Port<'bool', S>; }
  lt(o: PortLike): Port<'bool', S> { return this.graph.op('less', [this, o]) as Port<'bool', S>; }
  eq(o: PortLike): Port<'bool', S> { return this.graph.op('equal', [this, o]) as Port<'bool', S>; }
  reshape<const S2 extends Shape>(shape: S2): Port<D, S2> { return this.graph.op('reshape', [this], { shape: [...shape] }) as Port<D, S2>; }
  cast<T extends DType>(dtype: T): Port<T, S> { return this.graph.op('cast', [this], { dtype }) as Port<T, S>; }

  /** reduce over every axis → a scalar; over `axes` → a smaller tensor */
  mean(): Port<D, []>;
  mean(axes: number[], keepDims?: boolean): Port<D, Shape>;
  mean(axes?: number[], keepDims = false) { return this.graph.op('mean', [this], { axes, keepDims }); }
  sum(): Port<D, []>;
  sum(axes: number[], keepDims?: boolean): Port<D, Shape>;
  sum(axes?: number[], keepDims = false) { return this.graph.op('sum', [this], { axes, keepDims }); }
  max(): Port<D, []>;
  max(axes: number[], keepDims?: boolean): Port<D, Shape>;
  max(axes?: number[], keepDims = false) { return this.graph.op('max', [this], { axes, keepDims }); }
  min(): Port<D, []>;
  min(axes: number[], keepDims?: boolean): Port<D, Shape>;
  min(axes?: number[], keepDims = false) { return this.graph.op('min', [this], { axes, keepDims }); }
}

export type Scalar = Port<'f32', []>;
