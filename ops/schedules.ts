/** @file Noise schedules x_t = α(t)·x + σ(t)·ε for t in [0, 1], with their derivatives (for the PF-ODE). */
import type { Schedule } from '../dsl/ir/schema.ts';
import { call, constant, type Expr } from './scalar.ts';

export interface ScheduleAt {
  alpha: number;
  sigma: number;
  dAlpha: number;
  dSigma: number;
}


/** α, σ and their t-derivatives at one time. */
export function scheduleAt(s: Schedule, t: number): ScheduleAt {
  switch (s.kind) {
    case 'rf': // rectified flow: straight lines between data and noise
      return { alpha: 1 - t, sigma: t, dAlpha: -1, dSigma: 1 };
    case 'vp': // cosine VP: α² + σ² = 1
      return {
        alpha: Math.cos((Math.PI / 2) * t),
        sigma: Math.sin((Math.PI / 2) * t),
        dAlpha: -(Math.PI / 2) * Math.sin((Math.PI / 2) * t),
        dSigma: (Math.PI / 2) * Math.cos((Math.PI / 2) * t),
      };
    case 've': {
      // EDM/Karras: σ(t) = (σmin^(1/ρ) + t(σmax^(1/ρ) − σmin^(1/ρ)))^ρ, α = 1
      const a = s.sigmaMin ** (1 / s.rho);
      const b = s.sigmaMax ** (1 / s.rho);
      const u = a + t * (b - a);
      return { alpha: 1, sigma: u ** s.rho, dAlpha: 0, dSigma: s.rho * (b - a) * u ** (s.rho - 1) };
    }
  }
}

const DEFAULT_VE: Schedule = { kind: 've', sigmaMin: 0.002, sigmaMax: 80, rho: 7 };

export type ScheduleName = 'rf' | 'vp' | 've';
export const schedule = (s: ScheduleName | Schedule): Schedule =>
  typeof s !== 'string' ? s : s === 've' ? DEFAULT_VE : { kind: s };

/** α(t) as a scalar expression of t (elementwise fusion) */
export function alphaExpr(s: Schedule, t: Expr): Expr {
  switch (s.kind) {
    case 'rf':
      return call('sub', constant(1), t);
    case 'vp':
      return call('cos', call('mul', t, constant(Math.PI / 2)));
    case 've':
      return constant(1);
  }
}

/** σ(t) as a scalar expression of t (elementwise fusion) */
export function sigmaExpr(s: Schedule, t: Expr): Expr {
  switch (s.kind) {
    case 'rf':
      return t;
    case 'vp':
      return call('sin', call('mul', t, constant(Math.PI / 2)));
    case 've': {
      const a = s.sigmaMin ** (1 / s.rho);
      const b = s.sigmaMax ** (1 / s.rho);
      return call('exp', call('mul', constant(s.rho), call('log', call('add', constant(a), call('mul', t, constant(b - a))))));
    }
  }
}
