#!/usr/bin/env python3
"""The reference workload (shared/anchors/WORKLOAD.md) in PyTorch eager, CPU: the baseline `bench dmd-step` runs
beside the TypeScript versions when python3-torch is installed. Prints one line: RESULT {"reps": [...], ...}.

usage: python3 torch_step.py --D 2 [--threads 2] [--reps 5]
"""
import argparse, json, math, time

import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--D", type=int, default=2)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=5)
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


iteration()
t0, n = time.perf_counter(), 0
while n < 5 or time.perf_counter() - t0 < 2.0:
    iteration()
    n += 1
per_rep = max(2, min(50, int(n / (time.perf_counter() - t0) * 4)))
reps = []
for _ in range(args.reps):
    s = time.perf_counter()
    for _ in range(per_rep):
        iteration()
    reps.append(per_rep / (time.perf_counter() - s))
blas = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l})
print("RESULT " + json.dumps({"reps": reps, "threads": torch.get_num_threads(), "torch": torch.__version__, "blas": blas}))
