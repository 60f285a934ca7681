/** @file DMD2's GAN head in the DSL's primitives: a classifier D on features F(x_t, t) of a network (DMD2: the fake
 * score's last hidden activations), trained to tell noised data from noised student samples. */
import type { Port, Scalar } from '../port.ts';
import type { GraphBuilder, Model } from '../builder.ts';
import type { Schedule } from '../ir/schema.ts';
import type { ScheduleName } from '../../ops/schedules.ts';
import type { Shape } from '../types.ts';

export interface GanHead {
  /** (x_t, t) → features, e.g. `fake.output('features')` */
  features: (x: Port, t: Port) => Port<'f32', Shape>;
  /** the classifier: features → one logit per row */
  head: Model;
  schedule: ScheduleName | Schedule;
  /** the range of t at which both sides are noised (default [0.02, 0.98]) */
  t?: readonly [number, number];
}

const logit = (g: GraphBuilder, o: GanHead, x: Port<'f32', Shape>) => {
  const { t, xt } = g.diffuse(x, { schedule: o.schedule, t: o.t ?? [0.02, 0.98] });
  return o.head(o.features(xt, t));
};

/** The discriminator term softplus(−D(real_t)) + softplus(D(fake_t)), each averaged over the batch. Give it student
 * samples without gradient (`g.stopGradient(x)`). */
export function discriminatorLoss(g: GraphBuilder, o: GanHead & { real: Port<'f32', Shape>; fake: Port<'f32', Shape> }): Scalar {
  return logit(g, o, o.real).neg().softplus().mean().add(logit(g, o, o.fake).softplus().mean()) as Scalar;
}

/** The non-saturating generator term softplus(−D(G(z)_t)), averaged: its gradient reaches the student's samples
 * through the head and the features (which the student's update leaves unchanged: they belong to other roles). */
export function generatorLoss(g: GraphBuilder, o: GanHead & { x: Port<'f32', Shape> }): Scalar {
  return logit(g, o, o.x).neg().softplus().mean() as Scalar;
}
