/** @file Energy distance between two samples: 2E|X−Y| − E|X−X'| − E|Y−Y'| (within-sample terms as U-statistics). */

function meanDist(a: Float32Array, na: number, b: Float32Array, nb: number, d: number, same: boolean): number {
  let s = 0;
  for (let i = 0; i < na; i++) {
    const oi = i * d;
    for (let j = same ? i + 1 : 0; j < nb; j++) {
      const oj = j * d;
      let r2 = 0;
      for (let k = 0; k < d; k++) {
        const v = a[oi + k]! - b[oj + k]!;
        r2 += v * v;
      }
      s += Math.sqrt(r2);
    }
  }
  return same ? s / ((na * (na - 1)) / 2) : s / (na * nb);
}

/** x: n×d and y: m×d, row-major. */
export function energyDistance(x: Float32Array, y: Float32Array, d: number): number {
  const n = x.length / d;
  const m = y.length / d;
  return 2 * meanDist(x, n, y, m, d, false) - meanDist(x, n, x, n, d, true) - meanDist(y, m, y, m, d, true);
}
