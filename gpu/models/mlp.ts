/** @file The MLP on TensorFlow.js: dense layers from gpu/linalg.ts, the Fourier embeddings as one fused kernel. */
import type { TfjsModel } from './model.ts';
import type { Tensor, TF } from '../lower/context.ts';
import { linalg } from '../linalg.ts';
import { fourier, untaped } from '../fused.ts';
import { fourierDirectionMatrix, fourierLines, mlpWidths, type MlpConfig } from '../../ops/models/mlp.ts';

/** [sin(2πkt), cos(2πkt)] for k = 1..n along the last axis (`base` replaces 2π): one fused kernel */
export function timeEmbedding(_tf: TF, t: Tensor, n: number, base = 2 * Math.PI): Tensor {
  return fourier(t, n, base);
}

export const mlpBody: TfjsModel<MlpConfig> = {
  apply(tf, weights, ins, c, env) {
    const { dense } = linalg(tf);
    // on a gradient tape, the embedding of an input no gradient reaches is not recorded (labels never need one)
    const grad = env.grad;
    const taped = <T>(needs: boolean, f: () => T): T => (!grad || needs ? f() : untaped(f));
    const parts = [ins[0]!];
    if (c.fourier > 0) {
      const n = fourierLines(c);
      // the coordinates, or their projections on the directions u_d
      parts.push(taped(!!grad?.inputs[0], () => {
        const lines = c.fourierDirections > 0 ? tf.matMul(ins[0]!, tf.tensor2d(fourierDirectionMatrix(n))) : ins[0]!;
        return timeEmbedding(tf, lines.reshape([-1, n, 1]), c.fourier, 1).reshape([-1, 2 * c.fourier * n]);
      }));
    }
    if (c.time) parts.push(taped(!!grad?.inputs[1], () => timeEmbedding(tf, ins[1]!, c.frequencies)));
    if (c.classes > 0) parts.push(taped(false, () => tf.cast(tf.oneHot(ins[ins.length - 1]!, c.classes), 'float32')));
    const inputs = grad ? grad.inputs.some(Boolean) : true;
    let h = parts.length > 1 ? taped(inputs, () => tf.concat(parts, 1)) : parts[0]!;
    // 'features' stops after the last hidden layer (its SiLU applied)
    const n = mlpWidths(c).length - (env.output === 'features' ? 2 : 1);
    const silu = (i: number) => i + 1 < n || env.output === 'features';
    // the first layer's input gradient only when an input needs one; later layers' whenever anything upstream does
    const weights_ = grad?.weights ?? true;
    for (let i = 0; i < n; i++)
      h = dense(h, weights[`l${i}.weight`]!, weights[`l${i}.bias`]!, {
        act: silu(i) ? 'silu' : 'linear',
        grad: { weights: weights_, input: i === 0 ? inputs : weights_ || inputs },
      });
    return h;
  },
};
