"""What the generated update functions call besides torch: random draws (fresh, or replayed from distillery's own),
the batch split across ranks (gather / shard), and the Adam and EMA steps in distillery's form.

One `Runtime` per process. Under torchrun every rank holds B / world rows of each batch tensor (the named dim 'B');
an op that mixes rows gathers its inputs from every rank (with autograd), computes on the whole batch and keeps its
own rows of the result, so every rank computes the single-process loss and DDP's gradient average is its gradient.
"""
import math

import torch
import torch.distributed as dist

from safetensors_io import load_file


class Runtime:
    def __init__(self, dims, seed, rank=0, world=1, device='cpu', replay=None):
        if world > 1 and dims['B'] % world:
            raise SystemExit(f'error: the batch B = {dims["B"]} does not split evenly over {world} ranks')
        #: the global sizes of the named dims, and this rank's (B is split)
        self.global_dims = dict(dims)
        self.dims = {**dims, 'B': dims['B'] // world}
        self.rank, self.world, self.device = rank, world, torch.device(device)
        # one stream per rank: each draws its own shard of the batch
        self.gen = torch.Generator().manual_seed(seed * 1_000_003 + rank)
        self.replay = Replay(replay) if replay else None

    # ------------------------------------------------------------------------------------------------------- draws
    def draw(self, node, rows, fresh):
        """A random node's value: `fresh(gen)` from this rank's stream, or distillery's own draw replayed by value.
        `rows`: 'shard' (the value's rows are batch rows: this rank takes its own), or 'all'."""
        if self.replay is None:
            return fresh(self.gen).to(self.device)
        v = self.replay.take(node).to(self.device)
        return self.shard(v) if rows == 'shard' else v

    def permutation(self, node, n):
        """A shuffle's permutation of n rows (replayed, or drawn fresh)."""
        if self.replay is None:
            return torch.randperm(n, generator=self.gen).to(self.device)
        return self.replay.take(node).long().to(self.device)

    def begin(self, what):
        """Start one evaluation of the graph (an update or a forward pass): replay moves to its record."""
        if self.replay is not None:
            self.replay.begin(what)

    # ---------------------------------------------------------------------------------------------- batch split
    def gather(self, x):
        """The whole batch of a tensor whose rows are split over the ranks (autograd flows back to each shard)."""
        if self.world == 1:
            return x
        if x.requires_grad:
            from torch.distributed.nn.functional import all_gather
            return torch.cat(all_gather(x.contiguous()), 0)
        parts = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, 0)

    def shard(self, x):
        """This rank's rows of a whole-batch tensor."""
        if self.world == 1:
            return x
        n = x.shape[0] // self.world
        return x[self.rank * n:(self.rank + 1) * n]

    def agree(self, flag):
        """True on every rank when `flag` is true on any (all ranks skip a non-finite update together)."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)


class Replay:
    """distillery's draws, recorded by `distillery parity`: `e<k>/<node>` is node's draw in the k-th evaluation of
    the graph, and `e<k>` names that evaluation in the file's metadata (`evaluations`: a JSON list)."""

    def __init__(self, path):
        import json
        from safetensors_io import load_metadata
        self.values = load_file(path)
        self.order = json.loads(load_metadata(path)['evaluations'])
        self.k = -1

    def begin(self, what):
        self.k += 1
        if self.k >= len(self.order):
            raise SystemExit(f'error: the replay file holds {len(self.order)} evaluations; this run asked for more')
        if self.order[self.k] != what:
            raise SystemExit(f'error: replay evaluation {self.k} is {self.order[self.k]!r}, this run is at {what!r}')

    def take(self, node):
        key = f'e{self.k}/{node}'
        if key not in self.values:
            raise SystemExit(f'error: the replay file has no draw {key}')
        return self.values[key]


def lr_factor(d, step):
    """distillery's learning-rate decay: 1 up to step `start`, then along a cosine (or a line) to `final` at step `end`,
    `final` after it"""
    if d is None or step <= d['start']:
        return 1.0
    if step >= d['end']:
        return d['final']
    p = (step - d['start']) / (d['end'] - d['start'])
    fall = 0.5 * (1 + math.cos(math.pi * p)) if d['kind'] == 'cosine' else 1 - p
    return d['final'] + (1 - d['final']) * fall


class Adam:
    """Adam as distillery applies it: m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g², p ← p − (lr/c1)·m / (√(v/c2) + ε)
    with c = 1 − βᵗ (torch.optim.Adam's formula); the state is plain tensors, saved as `u<i>/m|v/<param>`."""

    def __init__(self, params, lr, beta1, beta2, eps, decay=None):
        self.params = params  # name -> Parameter
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps
        self.decay = decay
        self.m = {k: torch.zeros_like(p) for k, p in params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in params.items()}
        self.step = 0

    @torch.no_grad()
    def apply(self, grads, main_step=0):
        """`main_step`: the training step the update belongs to (0: a warm-up), which a decaying rate reads"""
        self.step += 1
        c1 = 1 - self.b1 ** self.step
        c2 = 1 - self.b2 ** self.step
        lr = self.lr * lr_factor(self.decay, main_step)
        for k, g in grads.items():
            p = self.params[k]
            m = self.m[k].mul_(self.b1).add_(g, alpha=1 - self.b1)
            v = self.v[k].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            # √(v/c2) as √v/√c2: the same value to rounding, one temporary fewer
            p.addcdiv_(m, v.sqrt().div_(c2 ** 0.5).add_(self.eps), value=-lr / c1)


class Ema:
    """distillery's moving average of a role's weights: e ← decay·e + (1−decay)·w after each applied update of the role,
    for the parameters that update changed (those with a gradient), started at the initial weights; saved as
    `<role>/<param>`."""

    def __init__(self, params, decay):
        self.params = params  # name -> Parameter
        self.decay = decay
        self.e = {k: p.detach().clone() for k, p in params.items()}

    @torch.no_grad()
    def apply(self, keys):
        for k in keys:
            # both products rounded to float32 before the sum, in distillery's order
            self.e[k].mul_(self.decay).add_(self.params[k] * (1 - self.decay))


def sum_of_squares(tensors):
    """Σ‖g‖² over a role's gradients, in one read (NaN/Inf when any entry is, or it overflows float32)"""
    return float(torch.stack([torch.linalg.vector_norm(g) for g in tensors]).square().sum())
