"""distillery's composite ops in torch: the ops whose meaning is more than one torch call, numerically equivalent
(float32) to the TypeScript sources they cite.

- schedules        ops/schedules.ts      schedule_at, alpha, sigma
- probability flow ops/diffusion.ts      pf_ode
- Gaussian DMMD    ops/ancestral.ts      posterior_coefficients, gauss_posterior, ancestral_sample
- masked diffusion ops/discrete.ts       mask_diffuse, categorical, mask_posterior, masked_sample, nucleus
- pairing metrics  ops/pairing.ts        pairing_error, transport_energy (+ derangement, ops/metrics/copying.ts)
- labels           ops/labels.ts         labels, one_hot, shuffle
- sources          ops/datasets.ts, ops/tokens.ts   sample_gmm, sample_tokens
- nan_to_num       ops/elementwise.ts

Conventions. Tensors are float32 (tokens and labels int32, as distillery's i32), device-agnostic: constants are made
on the input's device. Where distillery computes on the host in float64 (per-row coefficients, sums of squares,
cumulative masses) the same is done here in float64 -- float32 on devices without it (mps) -- and the result is
rounded to float32, as distillery's Float32Array stores it. Host loops over rows are vectorised.

Randomness: every random function takes an explicit `gen` (a torch.Generator, normally a CPU one); draws are made on
the generator's device and moved to the target device. The draws are not distillery's JS stream, but they have the
same distribution. The per-element random ops also accept the draws by value (`u=` uniforms, `xi=` normals) so a
parity test can replay distillery's stream; see each function for the layout.

Ops that distillery marks non-differentiable (their values are read back to the host there, which cuts the gradient)
detach their inputs here; pf_ode, alpha, sigma and shuffle stay differentiable.
"""
import math

import torch

__all__ = [
    'F32_MAX', 'DEFAULT_VE', 'schedule', 'schedule_at', 'alpha', 'sigma', 'pf_ode',
    'posterior_coefficients', 'gauss_posterior', 'ancestral_sample',
    'alpha_masked', 'mask_diffuse', 'categorical', 'mask_posterior', 'masked_sample', 'nucleus', 'softmax', 'log_softmax',
    'derangement', 'pairing_error', 'transport_energy',
    'NULL_LABEL', 'labels', 'one_hot', 'shuffle',
    'sample_gmm', 'sample_tokens', 'sample_data', 'nan_to_num',
]

#: float32's largest finite value: nan_to_num's clamp (ops/scalar.ts F32_MAX)
F32_MAX = 3.4028234663852886e38
#: the null condition: its one-hot code is all zeros
NULL_LABEL = -1
#: the 've' schedule's defaults (ops/schedules.ts DEFAULT_VE)
DEFAULT_VE = {'kind': 've', 'sigmaMin': 0.002, 'sigmaMax': 80, 'rho': 7}


# ---------------------------------------------------------------------------------------------------------- helpers

def _wide(device):
    """float64 where the device has it: distillery's host-side arithmetic is float64"""
    return torch.float32 if torch.device(device).type == 'mps' else torch.float64


def _f32(v, device):
    """a float32 0-d constant on `device`: tfjs turns a JS number operand into a float32 tensor. A device tensor (not
    a Python scalar) also keeps CUDA from dividing by a scalar as a multiplication by its reciprocal."""
    return torch.tensor(float(v), dtype=torch.float32, device=device)


def _gen_device(gen):
    if not isinstance(gen, torch.Generator):
        raise TypeError(f'a random op needs an explicit torch.Generator (never the global RNG), got {type(gen).__name__}')
    return gen.device


def _uniform(shape, gen, device, dtype):
    """uniforms in [0, 1) drawn in float64 on the generator's device (distillery's are 32-bit), moved to `device`"""
    u = torch.rand(shape, generator=gen, dtype=torch.float64, device=_gen_device(gen))
    return u.to(device=device, dtype=dtype)


def _normal(shape, gen, device, dtype=torch.float32):
    return torch.randn(shape, generator=gen, dtype=torch.float32, device=_gen_device(gen)).to(device=device, dtype=dtype)


def _rows(t, n, dtype):
    """per-row times ([B, 1], as distillery's checkTime wants, or [B]) as a [B, 1] column"""
    t = torch.as_tensor(t).detach()
    if t.numel() != n:
        raise ValueError(f'time expected [{n}, 1], got {list(t.shape)}')
    return t.reshape(n, 1).to(dtype)


def _draws(v, shape, device, dtype, what):
    v = torch.as_tensor(v, device=device).to(dtype)
    if v.numel() != math.prod(shape):
        raise ValueError(f'{what}: expected {math.prod(shape)} draws of shape {list(shape)}, got {list(v.shape)}')
    return v.reshape(shape)


# -------------------------------------------------------------------------------------------------------- schedules

def schedule(s):
    """'rf' | 'vp' | 've' (DEFAULT_VE) or an IR schedule dict -> the dict (ops/schedules.ts `schedule`)"""
    if isinstance(s, str):
        return dict(DEFAULT_VE) if s == 've' else {'kind': s}
    return s


def _ve(s):
    rho = s['rho']
    a = s['sigmaMin'] ** (1 / rho)
    b = s['sigmaMax'] ** (1 / rho)
    return a, b, rho


def schedule_at(s, t):
    """(alpha, sigma, dalpha, dsigma) at one time t, as Python floats (float64, like scheduleAt)"""
    s = schedule(s)
    t = float(t)
    k = s['kind']
    if k == 'rf':
        return 1 - t, t, -1.0, 1.0
    if k == 'vp':
        h = math.pi / 2
        return math.cos(h * t), math.sin(h * t), -h * math.sin(h * t), h * math.cos(h * t)
    if k == 've':
        a, b, rho = _ve(s)
        u = a + t * (b - a)
        return 1.0, u ** rho, 0.0, rho * (b - a) * u ** (rho - 1)
    raise ValueError(f"unknown schedule kind {k!r}")


def alpha(s, t):
    """α(t) elementwise, differentiable in t (alphaOf)"""
    s = schedule(s)
    k = s['kind']
    if k == 'rf':
        return 1 - t
    if k == 'vp':
        return torch.cos(t * _f32(math.pi / 2, t.device))
    if k == 've':
        return torch.ones_like(t)
    raise ValueError(f"unknown schedule kind {k!r}")


def sigma(s, t):
    """σ(t) elementwise, differentiable in t (sigmaOf)"""
    s = schedule(s)
    k = s['kind']
    if k == 'rf':
        return t
    if k == 'vp':
        return torch.sin(t * _f32(math.pi / 2, t.device))
    if k == 've':
        a, b, rho = _ve(s)
        return torch.pow(_f32(a, t.device) + t * _f32(b - a, t.device), _f32(rho, t.device))
    raise ValueError(f"unknown schedule kind {k!r}")


def _coefficients_wide(s, t):
    """(α, σ) of a float64 tensor t, computed as scheduleAt does (host doubles)"""
    k = s['kind']
    if k == 'rf':
        return 1 - t, t
    if k == 'vp':
        h = math.pi / 2
        return torch.cos(h * t), torch.sin(h * t)
    if k == 've':
        a, b, rho = _ve(s)
        return torch.ones_like(t), (a + t * (b - a)) ** rho
    raise ValueError(f"unknown schedule kind {k!r}")


# ------------------------------------------------------------------------------------------------ probability flow

_PF_DEFAULTS = {'tMax': 1.0, 'tMin': 0.0, 'guidance': 1.0, 'invert': False}


def pf_ode(model, z, p, labels=None):
    """The probability-flow map Φ (noise -> data) or, with p['invert'], Φ⁻¹ (data -> noise): ops/diffusion.ts pfOde.

    `model(x, t[B,1])` (or `model(x, t, labels)` when labels are given) returns x̂0. `p` holds the pf_ode params:
    schedule, solver ('euler' | 'heun'), steps, and optionally tMax (1), tMin (0), guidance (1), invert (False).
    With guidance ω ≠ 1 the model is also called with the null label −1: D∅ + ω(D_c − D∅).
    Integrates dx/dt = α'x̂0 + σ'ε̂ on the uniform t grid t_i = from + (to − from)·i/N from x = σ(tMax)·z; Heun's
    correction is skipped on a step that ends at σ < 1e-12. Every scalar enters as a float32 constant in the order
    distillery applies it. Differentiable (no draws, no host reads).
    """
    p = {**_PF_DEFAULTS, **p}
    sch = schedule(p['schedule'])
    solver, steps, guidance = p['solver'], int(p['steps']), float(p['guidance'])
    t_max, t_min = float(p['tMax']), float(p['tMin'])
    if solver not in ('euler', 'heun'):
        raise ValueError(f"pf_ode solver must be 'euler' or 'heun', got {solver!r}")
    if labels is None and guidance != 1:
        raise ValueError('pf_ode: guidance needs labels')
    dev = z.device
    B = z.shape[0]
    null = torch.full_like(labels, NULL_LABEL) if labels is not None and guidance != 1 else None

    def denoise(x, t):
        if labels is None:
            return model(x, t)
        cond = model(x, t, labels)
        if null is None:
            return cond
        uncond = model(x, t, null)
        return uncond + (cond - uncond) * _f32(guidance, dev)

    def velocity(x, t):
        a, sg, da, ds = schedule_at(sch, t)
        x0 = denoise(x, torch.full((B, 1), t, dtype=torch.float32, device=dev))
        eps = (x - x0 * _f32(a, dev)) / _f32(sg, dev)
        return x0 * _f32(da, dev) + eps * _f32(ds, dev)

    frm, to = (t_min, t_max) if p['invert'] else (t_max, t_min)
    s_max = schedule_at(sch, t_max)[1]
    x = z if p['invert'] else z * _f32(s_max, dev)
    for i in range(steps):
        t0 = frm + ((to - frm) * i) / steps
        t1 = frm + ((to - frm) * (i + 1)) / steps
        h = t1 - t0
        d0 = velocity(x, t0)
        xe = x + d0 * _f32(h, dev)
        if solver == 'euler' or schedule_at(sch, t1)[1] < 1e-12:
            x = xe
        else:
            x = x + (d0 + velocity(xe, t1)) * _f32(h / 2, dev)
    return x / _f32(s_max, dev) if p['invert'] else x


# ---------------------------------------------------------------------------------------- Gaussian posterior (DMMD)

def posterior_coefficients(s, t, s_):
    """(a, b, c) with z_s = a·z_t + b·x + c·ξ for times t > s_ (floats): ops/ancestral.ts posteriorCoefficients.
    At s_ <= 0 (or σ(s_) <= 0) the step lands on the prediction: (0, 1, 0)."""
    sch = schedule(s)
    Ta, Ts, _, _ = schedule_at(sch, t)
    Sa, Ss, _, _ = schedule_at(sch, s_)
    if s_ <= 0 or Ss <= 0:
        return 0.0, 1.0, 0.0
    ats = Ta / Sa
    var_ts = max(Ts ** 2 - ats ** 2 * Ss ** 2, 0.0)
    return (ats * Ss ** 2) / Ts ** 2, (Sa * var_ts) / Ts ** 2, math.sqrt((var_ts * Ss ** 2) / Ts ** 2)


def gauss_posterior(s, zt, x, t, s_, gen, xi=None):
    """z_s ~ q(z_s | z_t, x) for rows of z_t, x [B, D] with per-row times t, s_ [B, 1]: ops/ancestral.ts gaussPosterior.
    Coefficients and the affine combination in float64, rounded to float32. `xi` [B, D] replaces the normal draws
    (distillery draws all B·D normals first, row-major). Not differentiable (inputs are detached)."""
    sch = schedule(s)
    zt, x = zt.detach(), x.detach()
    B, D = zt.shape
    dev = zt.device
    w = _wide(dev)
    xi = _normal((B, D), gen, dev) if xi is None else _draws(xi, (B, D), dev, torch.float32, 'gauss_posterior xi')
    # per-row times are read as float32 (distillery's tensors) and widened
    t = _rows(t, B, torch.float32).to(device=dev, dtype=w)
    u = _rows(s_, B, torch.float32).to(device=dev, dtype=w)
    Ta, Ts = _coefficients_wide(sch, t)
    Sa, Ss = _coefficients_wide(sch, u)
    ats = Ta / Sa
    var_ts = torch.clamp_min(Ts ** 2 - ats ** 2 * Ss ** 2, 0.0)
    a = (ats * Ss ** 2) / Ts ** 2
    b = (Sa * var_ts) / Ts ** 2
    c = torch.sqrt((var_ts * Ss ** 2) / Ts ** 2)
    last = (u <= 0) | (Ss <= 0)
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    a, b, c = torch.where(last, zero, a), torch.where(last, one, b), torch.where(last, zero, c)
    return (a * zt.to(w) + b * x.to(w) + c * xi.to(w)).to(torch.float32)


def ancestral_sample(model, p, rows, gen, device=None):
    """The k-step ancestral sampler of an x-prediction model (ops/ancestral.ts ancestralSample): z ← σ(1)·N(0, I);
    for t_j = 1 − j/k, s_j = 1 − (j+1)/k: x̃ = model(z, t[rows,1]), z ← q(z_s | z_t, x̃). p: schedule, steps, dim
    (model/rows are the IR's; `rows` is resolved by the caller). Returns float32 [rows, dim]. No gradient."""
    sch = schedule(p['schedule'])
    k, D = int(p['steps']), int(p['dim'])
    dev = torch.device(device) if device is not None else torch.device('cpu')
    w = _wide(dev)
    with torch.no_grad():
        s1 = schedule_at(sch, 1)[1]
        zt = (_normal((rows, D), gen, dev).to(w) * s1).to(torch.float32)
        for j in range(k):
            t = 1 - j / k
            s = 1 - (j + 1) / k
            tt = torch.full((rows, 1), t, dtype=torch.float32, device=dev)
            x = model(zt, tt)
            zt = gauss_posterior(sch, zt, x, tt, torch.full((rows, 1), s, dtype=torch.float32, device=dev), gen)
    return zt


# --------------------------------------------------------------------------------------- masked discrete diffusion

def alpha_masked(t):
    """α_t of the linear masking schedule"""
    return 1 - t


def mask_diffuse(x, t, mask, gen, u=None):
    """z_t: each token of x [B, L] becomes `mask` with probability 1 − α_t = t (per-row t [B, 1]). `u` [B, L]
    replaces the uniforms (one per position, row-major, as distillery draws them). Keeps x's dtype."""
    x = x.detach()
    B, L = x.shape
    dev = x.device
    w = _wide(dev)
    tt = _rows(t, B, torch.float32).to(device=dev, dtype=w)
    u = _uniform((B, L), gen, dev, w) if u is None else _draws(u, (B, L), dev, w, 'mask_diffuse u')
    return torch.where(u < 1 - alpha_masked(tt), torch.full_like(x, mask), x)


def categorical(p, gen, u=None):
    """One draw per row of the last axis of non-negative p [..., V] (rows need not be normalised): the first k whose
    cumulative mass exceeds u·total, as Rng.categorical walks it (an all-zero row gives V − 1). Returns int32
    p.shape[:-1]. `u` (shape p.shape[:-1]) replaces the uniforms, one per row."""
    p = p.detach()
    V = p.shape[-1]
    dev = p.device
    w = _wide(dev)
    shape = p.shape[:-1]
    u = _uniform(shape, gen, dev, w) if u is None else _draws(u, shape, dev, w, 'categorical u')
    cs = torch.cumsum(p.to(w), -1)
    target = u.unsqueeze(-1) * cs[..., -1:]
    k = (cs <= target).sum(-1).clamp_max(V - 1)
    return k.to(torch.int32)


def mask_posterior(zt, x, t, s, mask, gen, u=None):
    """q(z_s | z_t, x): each position of z_t [B, L] at `mask` reveals x's token with probability
    (α_s − α_t)/(1 − α_t) (1 when α_t >= 1); revealed positions stay. `u` [B, L] replaces the uniforms: distillery
    draws one per masked position only, in row-major order, so a replay puts its draws at the masked positions
    (the values at the other positions are ignored). Keeps z_t's dtype."""
    zt, x = zt.detach(), x.detach()
    B, L = zt.shape
    dev = zt.device
    w = _wide(dev)
    at = alpha_masked(_rows(t, B, torch.float32).to(device=dev, dtype=w))
    as_ = alpha_masked(_rows(s, B, torch.float32).to(device=dev, dtype=w))
    reveal = torch.where(at >= 1, torch.ones_like(at), (as_ - at) / (1 - at))
    u = _uniform((B, L), gen, dev, w) if u is None else _draws(u, (B, L), dev, w, 'mask_posterior u')
    masked = torch.full_like(zt, mask)
    return torch.where(zt != mask, zt, torch.where(u < reveal, x.to(zt.dtype), masked))


def masked_sample(model, p, rows, gen, device=None, base=None):
    """The k-step ancestral sampler of masked diffusion (ops/discrete.ts maskedSample): z ← all MASK (= vocab);
    for t_j = 1 − j/k: q = model(z, t[rows,1] [, ε] [, base(z, t)]), q ← max(q, 0)^(1/τ) when τ ≠ 1,
    x ~ Cat(q) per position, z ← q(z_s | z_t, x). p: steps, length, vocab, noise (0: none; else fresh
    ε ~ N(0, I) [rows, noise] every step), temperature (1). `base` is the callable of p['base']'s role.
    Returns int32 [rows, length]. No gradient."""
    L, V, k = int(p['length']), int(p['vocab']), int(p['steps'])
    noise = int(p.get('noise', 0))
    temp = float(p.get('temperature', 1))
    if p.get('base') is not None and base is None:
        raise ValueError(f"masked_sample: p names a base model ({p['base']!r}) but no base callable was given")
    dev = torch.device(device) if device is not None else torch.device('cpu')
    with torch.no_grad():
        zt = torch.full((rows, L), V, dtype=torch.int32, device=dev)
        for j in range(k):
            t = 1 - j / k
            s = 1 - (j + 1) / k
            tt = torch.full((rows, 1), t, dtype=torch.float32, device=dev)
            ins = [zt, tt]
            if noise > 0:
                ins.append(_normal((rows, noise), gen, dev))
            if base is not None:
                ins.append(base(zt, tt))
            q = model(*ins)
            if temp != 1:
                q = torch.pow(torch.clamp_min(q, 0), _f32(1 / temp, q.device))
            x = categorical(q.reshape(rows, L, V), gen)
            zt = mask_posterior(zt, x, tt, torch.full((rows, 1), s, dtype=torch.float32, device=dev), V, gen)
    return zt


def nucleus(q, p):
    """1 for the tokens of the nucleus of each row of q [..., V] (the most probable tokens, in descending order,
    up to and including the one whose cumulative mass reaches p), else 0; float32 like q. Exact to nucleusMask,
    including its tie order: distillery re-sorts one index array row after row with a stable sort, so tied
    probabilities keep the previous row's order (not the index order). Rows where a tie straddles the cut are
    replayed that way (a loop over rows up to the last such row, on the CPU); all other rows are vectorised."""
    q = q.detach()
    V = q.shape[-1]
    P = q.reshape(-1, V)
    R = P.shape[0]
    w = _wide(q.device)
    vals, order = torch.sort(P, dim=-1, descending=True, stable=True)
    mass = torch.cumsum(vals.to(w), -1)
    reached = mass >= p
    first = torch.argmax(reached.to(torch.uint8), -1)
    count = torch.where(reached.any(-1), first + 1, torch.full_like(first, V))  # tokens in the nucleus
    if V > 1 and R > 0:
        cut = (count - 1).clamp_max(V - 2)
        at_cut = vals.gather(-1, cut.unsqueeze(-1)).squeeze(-1)
        after = vals.gather(-1, (cut + 1).unsqueeze(-1)).squeeze(-1)
        tied = (count < V) & (at_cut == after)
        if bool(tied.any()):
            last = int(torch.nonzero(tied).max())
            Pc = P[: last + 1].cpu()
            perm = torch.arange(V)
            replay = torch.empty(last + 1, V, dtype=torch.int64)
            for r in range(last + 1):
                _, i = torch.sort(Pc[r, perm], descending=True, stable=True)
                perm = perm[i]
                replay[r] = perm
            order = order.clone()
            order[: last + 1] = replay.to(order.device)
    keep = (torch.arange(V, device=q.device).unsqueeze(0) < count.unsqueeze(-1)).to(torch.float32)
    out = torch.zeros(R, V, dtype=torch.float32, device=q.device).scatter(-1, order, keep)
    return out.reshape(q.shape)


def softmax(x):
    """softmax over the last axis"""
    return torch.softmax(x, -1)


def log_softmax(x):
    """log-softmax over the last axis"""
    return torch.log_softmax(x, -1)


# -------------------------------------------------------------------------------------------------- pairing metrics

_M32 = 0xFFFFFFFF


def _imul(a, b):
    return (a * b) & _M32


def _mix(h, v):
    h = _imul(h ^ v, 0x85EBCA6B)
    h ^= h >> 13
    h = _imul(h, 0xC2B2AE35)
    return (h ^ (h >> 16)) & _M32


def _hash_key(parts):
    h = 0x9E3779B9
    for p in parts:
        h = _mix(h, int(p) & _M32)
    return _mix(h, len(parts))


def _hash_string(s):
    h = 0x811C9DC5
    b = s.encode('utf-16-le')  # JS charCodeAt: UTF-16 code units
    for i in range(0, len(b), 2):
        h = _imul(h ^ (b[i] | (b[i + 1] << 8)), 0x01000193)
    return h


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & _M32


class _JsRng:
    """ops/rng.ts Rng (xoshiro128** seeded through distillery's hash), bit for bit; only for the fixed derangement,
    which distillery derives from a seed rather than from the node's stream."""

    def __init__(self, parts):
        key = [_hash_string(p) if isinstance(p, str) else p for p in parts]
        self.s = [_hash_key(key + [i]) for i in (1, 2, 3, 4)]
        if not any(self.s):
            self.s[0] = 1

    def u32(self):
        s = self.s
        r = _imul(_rotl(_imul(s[1], 5), 7), 9)
        t = (s[1] << 9) & _M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return r

    def uniform(self):
        return self.u32() / 4294967296


_DERANGEMENTS = {}


def derangement(n, seed):
    """ops/metrics/copying.ts derangement: a fixed permutation of 0..n−1 with no fixed point (Sattolo's single
    n-cycle), from Rng([seed, 'derangement']). A Python list; cached."""
    key = (int(n), int(seed))
    if key not in _DERANGEMENTS:
        rng = _JsRng([seed, 'derangement'])
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = math.floor(rng.uniform() * i)
            p[i], p[j] = p[j], p[i]
        _DERANGEMENTS[key] = p
    return list(_DERANGEMENTS[key])


def _pair(name, a, b):
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(f'{name} expects two tensors [B, D] of one shape, got {list(a.shape)} and {list(b.shape)}')


def pairing_error(a, b, baseline='shuffle'):
    """E‖a − b‖² over a baseline (ops/pairing.ts): 'shuffle' → Σ‖a_i − b_i‖² / Σ‖a_i − b_π(i)‖² with π the fixed
    derangement(n, n); 'gaussian' → Σ‖a_i − b_i‖² / n / (2D). Sums in float64; a float32 0-d tensor. No gradient."""
    _pair('pairing_error', a, b)
    n, d = a.shape
    w = _wide(a.device)
    A, Bm = a.detach().to(w), b.detach().to(w)
    paired = ((A - Bm) ** 2).sum()
    if baseline == 'gaussian':
        out = paired / n / (2 * d)
    elif baseline == 'shuffle':
        perm = torch.tensor(derangement(n, n), dtype=torch.int64, device=a.device)
        shuffled = ((A - Bm.index_select(0, perm)) ** 2).sum()
        out = paired / torch.clamp_min(shuffled, 1e-30)
    else:
        raise ValueError(f"pairing_error baseline must be 'shuffle' or 'gaussian', got {baseline!r}")
    return out.to(torch.float32)


def transport_energy(m, z, scale=1.0, coupling='paired', rows=256):
    """E‖m_i − scale·z_i‖² (ops/pairing.ts): 'paired' over all n rows; 'ot' the optimal assignment's mean cost on the
    first min(n, rows) rows (cost[i][k] = ‖m_k − scale·z_i‖², solved by scipy.optimize.linear_sum_assignment, which
    must be installed). Float64 sums; a float32 0-d tensor. No gradient."""
    _pair('transport_energy', m, z)
    n, d = m.shape
    w = _wide(m.device)
    M, Z = m.detach().to(w), z.detach().to(w)
    if coupling == 'paired':
        return (((M - scale * Z) ** 2).sum() / n).to(torch.float32)
    if coupling != 'ot':
        raise ValueError(f"transport_energy coupling must be 'paired' or 'ot', got {coupling!r}")
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as e:
        raise RuntimeError("transport_energy with coupling 'ot' needs scipy (scipy.optimize.linear_sum_assignment): "
                           "pip install scipy") from e
    k = min(n, int(rows))
    Mk = M[:k].cpu().to(torch.float64)
    Zk = Z[:k].cpu().to(torch.float64) * scale
    # cost[i, j] = ‖m_j − s·z_i‖², in blocks so that k × k × D stays small
    cost = torch.empty(k, k, dtype=torch.float64)
    step = max(1, (1 << 24) // max(1, k * d))
    for i in range(0, k, step):
        cost[i:i + step] = ((Mk.unsqueeze(0) - Zk[i:i + step].unsqueeze(1)) ** 2).sum(-1)
    ri, ci = linear_sum_assignment(cost.numpy())
    total = cost[torch.as_tensor(ri), torch.as_tensor(ci)].sum() / k
    return total.to(device=m.device, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------------------- labels

def labels(n, k, layout, gen=None, device=None):
    """Labels of n rows over k classes (ops/labels.ts labelsOf): 'balanced' gives row i the class ⌊i·k/n⌋ (no draw),
    'random' draws each row uniformly from 0..k−1. int32 [n]."""
    dev = torch.device(device) if device is not None else torch.device('cpu')
    if layout == 'balanced':  # no draw: gen may be None
        return torch.div(torch.arange(n, dtype=torch.int64, device=dev) * k, n, rounding_mode='floor').to(torch.int32)
    if layout == 'random':
        c = torch.randint(0, k, (n,), generator=gen, dtype=torch.int64, device=_gen_device(gen))
        return c.to(device=dev, dtype=torch.int32)
    raise ValueError(f"labels layout must be 'balanced' or 'random', got {layout!r}")


def one_hot(c, depth):
    """tf.oneHot as float32 [..., depth]: −1 (the null label) and ids >= depth (MASK) give a zero row"""
    return (c.unsqueeze(-1).to(torch.int64) == torch.arange(depth, device=c.device)).to(torch.float32)


def shuffle(x, gen, perm=None):
    """x with its rows (first axis) in a uniformly random order, and the permutation (int64, on x's device):
    x_out[i] = x[perm[i]]. Differentiable in x. `perm` replaces the draw (distillery replays this op's permutation)."""
    if perm is None:
        perm = torch.randperm(x.shape[0], generator=gen, device=_gen_device(gen))
    perm = torch.as_tensor(perm).to(device=x.device, dtype=torch.int64)
    return x.index_select(0, perm), perm


# --------------------------------------------------------------------------------------------------------- sources

def sample_gmm(spec, n, gen, device=None):
    """n rows from a Gaussian mixture (ops/datasets.ts sampleGmm): component k ∝ weights, then
    x = μ_k + s_k·ε (isotropic) or, with spec['subspace'] = {basis U (r × D, orthonormal rows), eta η},
    x = μ_k + η·ε + (s_k − η)·UᵀUε: std s_k inside the span, η off it. float32 [n, D] (drawn in float64)."""
    dev = torch.device(device) if device is not None else torch.device('cpu')
    g = _gen_device(gen)
    means = torch.tensor(spec['means'], dtype=torch.float64, device=g)
    stds = torch.tensor(spec['stds'], dtype=torch.float64, device=g)
    weights = torch.tensor(spec['weights'], dtype=torch.float64, device=g)
    d = means.shape[1]
    eps = torch.randn((n, d), generator=gen, dtype=torch.float64, device=g)
    k = torch.multinomial(weights, n, replacement=True, generator=gen)
    mu, sd = means[k], stds[k].unsqueeze(1)
    sub = spec.get('subspace')
    if not sub:
        x = mu + sd * eps
    else:
        U = torch.tensor(sub['basis'], dtype=torch.float64, device=g).reshape(-1, d)
        eta = float(sub['eta'])
        x = mu + eta * eps + (sd - eta) * ((eps @ U.T) @ U)
    return x.to(device=dev, dtype=torch.float32)


def sample_tokens(spec, n, gen, device=None):
    """n sequences from a token dataset's exact law (ops/tokens.ts sampleTokens): int32 [n, length]"""
    dev = torch.device(device) if device is not None else torch.device('cpu')
    g = _gen_device(gen)
    probs = torch.tensor(spec['probs'], dtype=torch.float64, device=g)
    support = torch.tensor(spec['support'], dtype=torch.int32, device=g).reshape(-1, int(spec['length']))
    k = torch.multinomial(probs, n, replacement=True, generator=gen)
    return support[k].to(dev)


# ------------------------------------------------------------------------------------------------------ elementwise

def nan_to_num(x):
    """NaN → 0, ±Inf → ±float32 max (ops/elementwise.ts); the gradient is 1 at finite x and 0 elsewhere"""
    return torch.nan_to_num(x, nan=0.0, posinf=F32_MAX, neginf=-F32_MAX)


def sample_data(spec, n, gen, device=None):
    """`n` rows of a dataset: f32 points of a mixture, i32 sequences of a token set (ops/random.ts sample_data)"""
    return sample_tokens(spec, n, gen, device) if spec['kind'] == 'tokens' else sample_gmm(spec, n, gen, device)
