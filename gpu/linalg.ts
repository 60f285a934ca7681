/** @file Matrix products and dense layers whose gradients never hit tfjs-wasm's transposed-operand slow path.
 * On wasm every product is distillery's own (DistilleryMatMul, gpu/kernels/gemm.ts), which reads Aᵀ and Bᵀ in place:
 * the input gradient dy·Wᵀ and the weight gradient xᵀ·dy need no transposed copy. Elsewhere tfjs's matMul runs, and
 * since tfjs-wasm's transposed layouts ran 7–15× slower than the plain one (docs/performance.md), every backward
 * product there transposes explicitly (a fused blocked copy) and multiplies in the plain layout.
 * A dense layer is one fused node: x·W + b (→ SiLU) forward; backward, the activation gradient and the bias gradient
 * in one kernel, and only the products whose gradients the update needs. */
import type { Tensor, TF } from './lower/context.ts';
import type * as tfns from '@tensorflow/tfjs';
import { columnSum, gemm, gemmSilu, gemmSiluOut, keepForBackward, matMul, ownGemm, siluForward, siluGradBias, transpose2d } from './fused.ts';

type T2 = tfns.Tensor2D;

export type Activation = 'linear' | 'silu';
export interface DenseOptions {
  act?: Activation;
  /** what this layer's backward pass must produce; `undefined`: everything */
  grad?: { weights: boolean; input: boolean };
}

type Dense = (x: Tensor, w: Tensor, b: Tensor) => Tensor;
interface Fns {
  matmul: (a: Tensor, b: Tensor) => Tensor;
  dense: (x: Tensor, w: Tensor, b: Tensor, o?: DenseOptions) => Tensor;
}
const cache = new WeakMap<TF, Fns>();

function build(tf: TF): Fns {
  const matmul = tf.customGrad(((a: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
    save([a, b]);
    return {
      value: ownGemm() ? gemm(a, b) : matMul(a, b),
      gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) => [inputGrad(dy, sb!), weightGrad(sa!, dy)],
    };
  }) as never) as unknown as (a: Tensor, b: Tensor) => Tensor;

  // xᵀ·da. tfjs-wasm packs the right operand of every product it has not seen (≈ 0.2 ms for 256×256): with few
  // input features (a first layer) (daᵀ·x)ᵀ packs the small x instead, and its extra transposes are cheaper
  const weightGrad = (x: Tensor, da: Tensor) =>
    ownGemm() ? gemm(x, da, { transposeA: true }) : x.shape[1]! < da.shape[1]! ? transpose2d(matMul(transpose2d(da), x)) : matMul(transpose2d(x), da);
  // da·Wᵀ
  const inputGrad = (da: Tensor, w: Tensor) => (ownGemm() ? gemm(da, w, { transposeB: true }) : matMul(da, transpose2d(w)));
  const forward = (x: Tensor, w: Tensor, b: Tensor) => (ownGemm() ? gemm(x, w, { bias: b }) : tf.fused.matMul({ a: x as T2, b: w as T2, bias: b }));
  // [a, y, s]: the pre-activation, the output and σ(a) (s undefined without an activation)
  const forwardAct = (x: Tensor, w: Tensor, b: Tensor, act: Activation): [Tensor, Tensor, Tensor | undefined] => {
    if (act === 'linear') {
      const a = forward(x, w, b);
      return [a, a, undefined];
    }
    const fused = ownGemm() ? gemmSilu(x, w, b) : undefined;
    if (fused) return fused;
    const a = forward(x, w, b);
    return [a, ...siluForward(a)];
  };
  // one differentiable layer per (activation, weight gradient?, input gradient?): a gradient nobody reads is a zero fill
  const layers = new Map<string, Dense>();
  const layer = (act: Activation, gw: boolean, gx: boolean): Dense => {
    const key = `${act}${+gw}${+gx}`;
    let f = layers.get(key);
    if (!f) {
      f = tf.customGrad(((x: Tensor, w: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
        const [a, y, s] = forwardAct(x, w, b, act);
        // inside a backwardScope what the gradient reads is kept by reference (tfjs's save clones it: a kernel call each)
        const kept = s ? [x, a, s] : [x];
        const byRef = keepForBackward(kept);
        if (!byRef) save([x, w, ...kept.slice(1)]);
        return {
          value: y,
          gradFunc: (dy: Tensor, saved: Tensor[]) => {
            const [sx, sw, sa, ss] = byRef ? [x, w, a, s] : saved;
            // the pre-activation gradient, and its column sums: the bias gradient
            const [da, db] = ss ? siluGradBias(dy, sa!, ss) : [dy, gw ? columnSum(dy) : undefined];
            return [gx ? inputGrad(da, sw!) : tf.zerosLike(sx!), gw ? weightGrad(sx!, da) : tf.zerosLike(sw!), gw ? db! : tf.zerosLike(b)];
          },
        };
      }) as never) as unknown as Dense;
      layers.set(key, f);
    }
    return f;
  };

  const dense = (x: Tensor, w: Tensor, b: Tensor, o: DenseOptions = {}) => {
    const act = o.act ?? 'linear';
    const g = o.grad ?? { weights: true, input: true };
    if (!g.weights && !g.input) {
      const out = act === 'silu' ? gemmSiluOut(x, w, b) : undefined;
      if (out) return out;
      const [a, y, s] = forwardAct(x, w, b, act);
      if (s) tf.dispose([a, s]);
      return y;
    }
    return layer(act, g.weights, g.input)(x, w, b);
  };
  return { matmul, dense };
}

export function linalg(tf: TF): Fns {
  let fns = cache.get(tf);
  if (!fns) cache.set(tf, (fns = build(tf)));
  return fns;
}
