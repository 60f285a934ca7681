"""distillery's model kinds as torch modules, numerically equivalent (float32) to ops/models/*.ts.

Every class is built as `Cls(config, datasets)` from a model's IR config (`ir.models[i].config`, zod defaults applied
here) and `ir.datasets`, and its `forward` takes the inputs of a distillery `call` node of that kind, in order.
Weights keep distillery's names and layouts (a dense weight is [in, out], applied as x @ W + b), so `state_dict()`
and a distillery safetensors file map onto each other unchanged. Closed-form models hold their dataset as
non-persistent buffers: their state_dict is empty, like distillery's weights for them.
"""
import math

import torch
from torch import nn

__all__ = ['fourier', 'Dense', 'Mlp', 'GmmDenoiser', 'GmmLogDensity', 'TokenMlp', 'TokenOracle', 'MODEL_KINDS', 'build_model']


# ---------------------------------------------------------------------------------------------------------- helpers

def _config(kind, config, required, defaults):
    """the config with zod's defaults applied; unknown keys are refused, as distillery's strict schemas do"""
    unknown = sorted(set(config) - set(required) - set(defaults))
    missing = [k for k in required if k not in config]
    if unknown or missing:
        raise ValueError(f'{kind} config: unknown key(s) {unknown}, missing {missing}')
    return {**defaults, **config}


def _dataset(kind, datasets, name, want):
    ds = datasets.get(name)
    if ds is None or ds.get('kind') != want:
        raise ValueError(f"{kind} needs a '{want}' dataset; '{name}' is {'missing' if ds is None else ds.get('kind')}")
    return ds


def _wide(device):
    """float64 where the device has it: distillery computes the Fourier features and the token oracle in float64"""
    return torch.float32 if device.type == 'mps' else torch.float64


def _one_hot(labels, n, dtype):
    """tf.oneHot: labels outside 0..n-1 (the null label -1, the MASK token n) give a zero row"""
    return (labels.long().unsqueeze(-1) == torch.arange(n, device=labels.device)).to(dtype)


def fourier(t, n, base):
    """[sin(base·k·t), cos(base·k·t)], k = 1..n, along t's last axis (size 1 → 2n): gpu/fused.ts `fourier`, all sines
    first. distillery's cpu/wasm kernel evaluates the angles in float64 (a float32 angle base·k·t loses ~1e-5 at
    k·t ≈ 100), so the angles are formed in float64 here too; the result is in t's dtype."""
    k = torch.arange(1, n + 1, device=t.device, dtype=_wide(t.device)) * base
    a = t.to(k.dtype) * k
    return torch.cat([torch.sin(a), torch.cos(a)], -1).to(t.dtype)


class Dense(nn.Module):
    """x @ weight + bias with distillery's layout: weight [in, out] (torch.nn.Linear's transpose), bias [out]"""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x):
        return x @ self.weight if self.bias is None else torch.addmm(self.bias, x, self.weight)


def _silu(h):
    # a·σ(a), as distillery's dense layer computes it; torch's fused kernel (one op forward and backward, within an
    # ulp of the composed form) is what keeps the generated code as fast as hand-written PyTorch
    return nn.functional.silu(h)


class _DenseStack(nn.Module):
    """layers l0..l{n-1} (state_dict keys `l{i}.weight`, `l{i}.bias`) of the given widths"""

    def __init__(self, widths):
        super().__init__()
        self.depth = len(widths) - 1
        for i in range(self.depth):
            self.add_module(f'l{i}', Dense(widths[i], widths[i + 1]))

    def layer(self, i):
        return getattr(self, f'l{i}')


# --------------------------------------------------------------------------------------------------------------- mlp

class Mlp(_DenseStack):
    """kind `mlp` (ops/models/mlp.ts): [x, Fourier(x), Fourier(t), one-hot(c)] → Dense → SiLU → … → Dense.
    forward(x[B,in], t[B,1] if `time`, c int[B] if `classes` > 0) → [B, out]"""

    DEFAULTS = dict(hidden=128, layers=2, time=False, frequencies=8, fourier=0, fourierDirections=0, classes=0)

    def __init__(self, config, datasets=None):
        c = _config('mlp', config, ['in', 'out'], self.DEFAULTS)
        lines = c['fourierDirections'] or c['in']
        first = c['in'] + 2 * c['fourier'] * lines + (2 * c['frequencies'] if c['time'] else 0) + c['classes']
        super().__init__([first] + [c['hidden']] * c['layers'] + [c['out']])
        self.c = c
        if c['fourierDirections']:  # the unit directions (cos πd/n, sin πd/n) as the columns of an [in, n] matrix
            if c['in'] != 2:
                raise ValueError(f"mlp fourierDirections needs in = 2, got in = {c['in']}")
            if c['fourier'] == 0:
                raise ValueError(f"mlp fourierDirections {lines} takes the Fourier features along directions, but fourier is 0")
            angle = torch.arange(lines, dtype=torch.float64) * math.pi / lines  # (π·d)/n as ops/models/mlp.ts
            self.register_buffer('directions', torch.stack([angle.cos(), angle.sin()]).float(), persistent=False)

    def forward(self, *inputs, output=None):
        """`output='features'`: the last hidden layer's activations (after its SiLU) instead of the output"""
        c = self.c
        if output not in (None, 'features'):
            raise ValueError(f"mlp has no output {output!r}; its outputs: the main one, 'features'")
        want = 1 + int(c['time']) + int(c['classes'] > 0)
        if len(inputs) != want:
            raise TypeError(f'mlp takes {want} input(s), got {len(inputs)}')
        x = inputs[0]
        parts = [x]
        if c['fourier'] > 0:  # per line j (a coordinate, or x·u_j): sin(k·x_j) for k = 1..n, then cos(k·x_j)
            lines = x @ self.directions if c['fourierDirections'] else x
            parts.append(fourier(lines.reshape(-1, lines.shape[1], 1), c['fourier'], 1.0).reshape(-1, 2 * c['fourier'] * lines.shape[1]))
        if c['time']:
            parts.append(fourier(inputs[1], c['frequencies'], 2 * math.pi))
        if c['classes'] > 0:
            parts.append(_one_hot(inputs[-1], c['classes'], x.dtype))
        h = torch.cat(parts, 1) if len(parts) > 1 else x
        depth = self.depth - 1 if output == 'features' else self.depth
        for i in range(depth):
            h = self.layer(i)(h)
            if i + 1 < self.depth:
                h = _silu(h)
        return h


# --------------------------------------------------------------------------------------------------- gaussian mixtures

def _alpha(s, t):
    """α(t) of ops/schedules.ts `alphaOf`"""
    if s['kind'] == 'rf':
        return 1 - t
    if s['kind'] == 'vp':
        return torch.cos(t * (math.pi / 2))
    return torch.ones_like(t)


def _sigma(s, t):
    """σ(t) of ops/schedules.ts `sigmaOf` (ve: Karras, (σmin^(1/ρ) + t(σmax^(1/ρ) − σmin^(1/ρ)))^ρ)"""
    if s['kind'] == 'rf':
        return t
    if s['kind'] == 'vp':
        return torch.sin(t * (math.pi / 2))
    a, b = s['sigmaMin'] ** (1 / s['rho']), s['sigmaMax'] ** (1 / s['rho'])
    return (a + t * (b - a)) ** s['rho']


class _Gmm(nn.Module):
    """a Gaussian-mixture dataset as buffers: means mu [1,K,D], variances s2 [1,K], log π [1,K], classes [1,K]"""

    def __init__(self, kind, datasets, name, conditional):
        super().__init__()
        ds = _dataset(kind, datasets, name, 'gmm')
        self.conditional = conditional
        self.K, self.D = len(ds['means']), len(ds['means'][0])
        total = sum(ds['weights'])
        # log(w / total) in float64 before rounding to float32, as distillery does
        log_pi = [math.log(w / total) if w > 0 else -math.inf for w in ds['weights']]
        self.register_buffer('mu', torch.tensor(ds['means'], dtype=torch.float32).reshape(1, self.K, self.D), persistent=False)
        self.register_buffer('s2', torch.tensor([s * s for s in ds['stds']], dtype=torch.float32).reshape(1, self.K), persistent=False)
        self.register_buffer('log_pi', torch.tensor(log_pi, dtype=torch.float32).reshape(1, self.K), persistent=False)
        classes = ds.get('classes') or [0] * self.K
        self.register_buffer('cls', torch.tensor(classes, dtype=torch.int64).reshape(1, self.K), persistent=False)
        sub = ds.get('subspace')
        self.eta = sub['eta'] if sub else None
        self.register_buffer('basis', torch.tensor(sub['basis'], dtype=torch.float32) if sub else None, persistent=False)

    def check_label(self, label):
        if (label is not None) != self.conditional:
            raise TypeError(f"{'a' if self.conditional else 'no'} class label expected (conditional={self.conditional})")

    def log_weights(self, label):
        """log π_k per row; components outside the row's class at −∞ (the null label −1 keeps them all)"""
        if label is None:
            return self.log_pi
        c = label.long().reshape(-1, 1)
        keep = (self.cls == c) | (c < 0)
        return torch.where(keep, self.log_pi, torch.full_like(self.log_pi, -math.inf))


class GmmDenoiser(_Gmm):
    """kind `gmm_denoiser` (ops/models/gmm.ts): the exact E[x0 | x_t] of a Gaussian mixture under an rf/vp/ve schedule,
    restricted to class c when `conditional`, optionally with a subspace dataset and AMD's `corrupt` zone.
    forward(x[B,D], t[B,1], c int[B] if `conditional`) → [B, D]"""

    def __init__(self, config, datasets):
        c = _config('gmm_denoiser', config, ['dataset', 'schedule'], dict(conditional=False, corrupt=None))
        super().__init__('gmm_denoiser', datasets, c['dataset'], c['conditional'])
        self.schedule, self.corrupt = c['schedule'], c['corrupt']
        if self.corrupt is not None and not self.conditional:
            raise ValueError('gmm_denoiser: corrupt needs conditional: true')

    def forward(self, x, t, label=None):
        self.check_label(label)
        a, sg = _alpha(self.schedule, t), _sigma(self.schedule, t)  # [B,1]
        v = a.square() * self.s2 + sg.square()  # [B,K]
        diff = x.unsqueeze(1) - a.unsqueeze(2) * self.mu  # [B,K,D]
        r2 = diff.square().sum(2)  # [B,K]
        lw = self.log_weights(label)
        if self.basis is None:
            logits = lw - r2 / (2 * v) - (self.D / 2) * torch.log(v)
            post = self.mu + ((a * self.s2) / v).unsqueeze(2) * diff
        else:
            # std σ_k inside the span of U (r×D), η off it: every term splits into the in-span part and the rest
            U, rank = self.basis, self.basis.shape[0]
            v_out = a.square() * self.eta ** 2 + sg.square()  # [B,1]
            coords = diff.reshape(-1, self.D) @ U.t()  # [B·K, r]
            in_vec = (coords @ U).reshape(-1, self.K, self.D)  # P·diff
            in_sq = coords.square().sum(1).reshape(-1, self.K)
            out_sq = r2 - in_sq
            logits = (lw - (in_sq / (2 * v) + out_sq / (2 * v_out))) - ((rank / 2) * torch.log(v) + ((self.D - rank) / 2) * torch.log(v_out))
            gain_in = ((a * self.s2) / v).unsqueeze(2)  # [B,K,1]
            gain_out = ((a * self.eta ** 2) / v_out).unsqueeze(2)  # [B,1,1]
            post = self.mu + (gain_in * in_vec + gain_out * (diff - in_vec))
        d = (torch.softmax(logits, 1).unsqueeze(2) * post).sum(1)
        return d if self.corrupt is None else self._corrupt(d, x, t, label)

    def _corrupt(self, d, x, t, label):
        """docs/methods/amd.md: rows of the corrupted class at t < tMax are pulled, inside a soft disc around `center` in
        u = x/α(t), towards center + shrink·(u − center) ('attractor') or left at u ('dead')"""
        k = self.corrupt
        u = x / torch.clamp(_alpha(self.schedule, t), min=1e-6)
        center = torch.tensor(k['center'], dtype=x.dtype, device=x.device).reshape(1, -1)
        dist = torch.sqrt((u - center).square().sum(1, keepdim=True))
        in_disc = torch.sigmoid((k['radius'] - dist) / k['softness'])
        active = (label.long().reshape(-1, 1) == k['class']) & (t < k['tMax'])
        m = in_disc * active.to(x.dtype)
        target = u if k['kind'] == 'dead' else center + k['shrink'] * (u - center)
        return (1 - m) * d + m * target


class GmmLogDensity(_Gmm):
    """kind `gmm_log_density`: log p(x), or log p(x | c) when `conditional` (−1: the whole mixture).
    forward(x[B,D], c int[B] if `conditional`) → [B, 1]"""

    def __init__(self, config, datasets):
        c = _config('gmm_log_density', config, ['dataset'], dict(conditional=False))
        super().__init__('gmm_log_density', datasets, c['dataset'], c['conditional'])
        if self.basis is not None:
            raise ValueError(f"gmm_log_density: '{c['dataset']}' is a subspace mixture, which it does not support")

    def forward(self, x, label=None):
        self.check_label(label)
        lw = self.log_weights(label)  # renormalised over the row's class below
        r2 = (x.unsqueeze(1) - self.mu).square().sum(2)
        log_n = -(r2 / (2 * self.s2)) - (self.D / 2) * torch.log(2 * math.pi * self.s2)
        return torch.logsumexp(lw + log_n, 1, keepdim=True) - torch.logsumexp(lw, 1, keepdim=True)


# ------------------------------------------------------------------------------------------------------------ tokens

class TokenMlp(_DenseStack):
    """kind `token_mlp` (ops/models/token.ts): one-hot(z over V+1 ids, MASK = V) ⊕ Fourier(t) → MLP → L·V logits →
    softmax per position, with the carry-over rule (a revealed position returns its own one-hot).
    forward(z int[B,L], t[B,1], ε[B,noise] if `noise` > 0, base f32[B,L,V] if `residual`) → [B, L, V]"""

    DEFAULTS = dict(hidden=256, layers=3, frequencies=8, noise=0, residual=False, smoothing=0, lastInit=0, noiseInit=1)

    def __init__(self, config, datasets=None):
        c = _config('token_mlp', config, ['length', 'vocab'], self.DEFAULTS)
        L, V = c['length'], c['vocab']
        super().__init__([L * (V + 1) + 2 * c['frequencies']] + [c['hidden']] * c['layers'] + [L * V])
        self.c = c
        if c['noise'] > 0:
            self.noise = Dense(c['noise'], c['hidden'], bias=False)  # ε's projection into the first hidden layer

    def forward(self, z, t, *rest):
        c = self.c
        L, V = c['length'], c['vocab']
        want = int(c['noise'] > 0) + int(c['residual'])
        if len(rest) != want:
            raise TypeError(f'token_mlp takes {2 + want} inputs, got {2 + len(rest)}')
        B = z.shape[0]
        h = torch.cat([_one_hot(z, V + 1, t.dtype).reshape(B, L * (V + 1)), fourier(t, c['frequencies'], 2 * math.pi)], 1)
        for i in range(self.depth):
            h = self.layer(i)(h)
            if i == 0 and c['noise'] > 0:
                h = h + self.noise(rest[0])  # added to the first pre-activation, before its SiLU
            if i + 1 < self.depth:
                h = _silu(h)
        logits = h.reshape(B, L, V)
        if c['residual']:  # softmax(log b̃ + MLP): b̃ the base smoothed towards uniform, clamped away from log 0
            b, lam = rest[-1], c['smoothing']
            smoothed = b * (1 - lam) + lam / V if lam > 0 else b
            logits = logits + torch.log(torch.clamp(smoothed, min=1e-8))
        return _carry_over(z, torch.softmax(logits, -1), V)


def _carry_over(z, probs, V):
    """masked positions (z = V) keep `probs`; revealed ones become their own one-hot"""
    masked = (z == V).unsqueeze(-1).to(probs.dtype)
    return probs * masked + _one_hot(z, V, probs.dtype)


class TokenOracle(nn.Module):
    """kind `token_oracle`: the exact masked-diffusion x̂(z)_d = q(x_d | the tokens revealed in z) of a token dataset
    (ops/tokens.ts `oracleMarginals`, vectorised). A row that no support sequence matches (or whose matches all have
    probability 0) gets the unconditional marginals at its masked positions. t is not used.
    forward(z int[B,L], t[B,1]) → [B, L, V] (float32, no gradient)"""

    def __init__(self, config, datasets):
        super().__init__()
        c = _config('token_oracle', config, ['dataset'], {})
        ds = _dataset('token_oracle', datasets, c['dataset'], 'tokens')
        self.L, self.V = ds['length'], ds['vocab']
        support = torch.tensor(ds['support'], dtype=torch.int64).reshape(-1, self.L)  # [K, L]
        self.register_buffer('support', support, persistent=False)
        # [K, L·V]: row k is sequence k's tokens one-hot, so the marginals are one product
        self.register_buffer('support_hot', _one_hot(support, self.V, torch.float32).reshape(-1, self.L * self.V), persistent=False)
        self.register_buffer('probs', torch.tensor(ds['probs'], dtype=torch.float32), persistent=False)

    def forward(self, z, t):
        z = z.long()
        wide = _wide(z.device)  # distillery sums in float64
        masked = z == self.V  # [B, L]
        match = (masked.unsqueeze(1) | (z.unsqueeze(1) == self.support)).all(2)  # [B, K]
        p = self.probs.to(wide)
        w = match.to(wide) * p
        w = torch.where(w.sum(1, keepdim=True) == 0, p.expand_as(w), w)  # no match: the unconditional marginals
        marg = (w @ self.support_hot.to(wide)).reshape(-1, self.L, self.V) / w.sum(1).reshape(-1, 1, 1)
        out = torch.where(masked.unsqueeze(-1), marg, _one_hot(z, self.V, wide))
        return out.to(torch.float32)


MODEL_KINDS = {'mlp': Mlp, 'gmm_denoiser': GmmDenoiser, 'gmm_log_density': GmmLogDensity, 'token_mlp': TokenMlp, 'token_oracle': TokenOracle}


def build_model(kind, config, datasets):
    """the module for a distillery model declaration (`ir.models[i].kind`, `.config`, and `ir.datasets`)"""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind '{kind}'; known: {', '.join(MODEL_KINDS)}")
    return MODEL_KINDS[kind](config, datasets)
