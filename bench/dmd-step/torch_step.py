#!/usr/bin/env python3
"""The dmd-step reference workload (docs/performance.md) in PyTorch eager, CPU: the baseline `bench dmd-step` runs
beside the TypeScript versions when python3-torch is installed. Prints one line: RESULT {"reps": [...], ...}.

usage: python3 torch_step.py --D 2 [--threads 2] [--reps 5] [--warmup 15] [--exported PKG] [--serve]

With --exported PKG (the same workload exported by `distillery export`), the generated package's step is timed beside
the hand-written one in this process, repetitions interleaved: RESULT then also holds "exportedReps".

With --serve, the bench interleaves these repetitions with its own: after the warm-up the script prints READY {...}
(threads, versions), then for each line "rep" on stdin times one repetition of each contestant and prints
REP {"reps": it/s, "exportedReps": it/s}; it exits at the end of stdin.
"""
import argparse, json, math, os, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--D", type=int, default=2)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--warmup", type=float, default=15.0, help="seconds of warm-up per contestant (as the bench's)")
ap.add_argument("--exported", help="a package exported from bench/dmd-step/workload.ts, timed beside this one")
ap.add_argument("--serve", action="store_true", help="time one repetition per line 'rep' on stdin (see above)")
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
B, H, D, E = 256, 256, args.D, 16


def net(d_in):
    return nn.Sequential(nn.Linear(d_in, H), nn.SiLU(), nn.Linear(H, H), nn.SiLU(), nn.Linear(H, D))


student, teacher, fake = net(D), net(D + E), net(D + E)
teacher.requires_grad_(False)
k = 2 * math.pi * torch.arange(1, E // 2 + 1, dtype=torch.float32)
opt_s = torch.optim.Adam(student.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
opt_f = torch.optim.Adam(fake.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)


def draws():
    return torch.randn(B, D), torch.empty(B, 1).uniform_(0.02, 0.98), torch.randn(B, D)


def with_time(xt, t):
    return torch.cat([xt, torch.sin(t * k), torch.cos(t * k)], dim=1)


def fake_update():
    z, t, eps = draws()
    with torch.no_grad():
        x = student(z)
    loss = ((fake(with_time((1 - t) * x + t * eps, t)) - x) ** 2).mean()
    opt_f.zero_grad(set_to_none=True)
    loss.backward()
    opt_f.step()


def student_update():
    z, t, eps = draws()
    x = student(z)
    with torch.no_grad():
        inp = with_time((1 - t) * x + t * eps, t)
        real, fk = teacher(inp), fake(inp)
        grad = (fk - real) / (x - real).abs().mean(dim=1, keepdim=True)
    loss = 0.5 * F.mse_loss(x, (x - grad).detach())
    opt_s.zero_grad(set_to_none=True)
    loss.backward()
    opt_s.step()


def iteration():
    for _ in range(5):
        fake_update()
    student_update()


def exported_step(pkg):
    """one step of the generated package: its train.py's Trainer, one process, no replay"""
    sys.path.insert(0, pkg)
    import train
    t = train.Trainer(argparse.Namespace(out=None, seed=1, steps=1, init=os.path.join(pkg, 'init.safetensors'), resume=None, checkpoint_every=0, keep=1,
                                         max_non_finite=20, model=[], data=None, device='cpu', threads=args.threads, replay=None, updates=0, quiet=True))
    return t.train_step


def per_rep_of(step):
    step()
    t0, n = time.perf_counter(), 0
    while n < 5 or time.perf_counter() - t0 < args.warmup:
        step()
        n += 1
    return max(2, min(50, int(n / (time.perf_counter() - t0) * 4)))


def timed(step, n):
    s = time.perf_counter()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - s)


contestants = [("reps", iteration)] + ([("exportedReps", exported_step(args.exported))] if args.exported else [])
counts = {name: per_rep_of(step) for name, step in contestants}
reps = {name: [] for name, _ in contestants}
blas = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l})
meta = {"threads": torch.get_num_threads(), "torch": torch.__version__, "blas": blas}


def one_rep(r):
    """one repetition of each contestant, alternating the order, so drift hits both alike"""
    for name, step in (contestants if r % 2 == 0 else contestants[::-1]):
        reps[name].append(timed(step, counts[name]))
    return {name: reps[name][-1] for name, _ in contestants}


if args.serve:
    print("READY " + json.dumps(meta), flush=True)
    for r, line in enumerate(sys.stdin):
        if line.strip() != "rep":
            sys.exit(f"torch_step.py --serve: expected 'rep', got {line.strip()!r}")
        print("REP " + json.dumps(one_rep(r)), flush=True)
else:
    for r in range(args.reps):
        one_rep(r)
    print("RESULT " + json.dumps({**reps, **meta}))
