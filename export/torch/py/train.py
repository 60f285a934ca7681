"""Train the exported pipeline: `python train.py --out DIR` on one process, or
`torchrun --nproc_per_node N train.py --out DIR` with DistributedDataParallel (gloo on CPU, nccl on CUDA).

The schedule is distillery's: the warm-ups first, in declaration order, then per step every update `ratio` times in
graph.UPDATES order. Adam has the IR's hyperparameters. An update whose loss or gradient is NaN/Inf is skipped (weights,
moments and EMA untouched, counted per role; all ranks skip together). A role in graph.EMA keeps a moving average of its
weights, stepped after each of its applied updates. The run folder gets metrics.jsonl (one row per step, the columns of
distillery's metrics.arrow), weights/<role>.safetensors (the EMA where a role has one, and then the trained weights
beside it as weights/<role>.raw.safetensors), and checkpoints in distillery's layout; `distillery evaluate DIR` turns it
into distillery's summary.json and report.
"""
import argparse
import importlib
import json
import math
import os
import shutil
import sys
import time

import torch
import torch.distributed as dist

import graph
import ops
from models import build_model
from runtime import Adam, Ema, Runtime, sum_of_squares
from safetensors_io import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT, VERSION = 'distillery-checkpoint', 1


def fail(msg):
    """a user's mistake: one line, exit 1"""
    print(f'train.py: error: {msg}', file=sys.stderr)
    sys.exit(1)


def parse_args():
    p = argparse.ArgumentParser(description=f"train distillery's pipeline '{graph.PIPELINE}' in PyTorch")
    p.add_argument('--out', help='run folder (default: runs/<pipeline>-torch-seed<seed>)')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--steps', type=int, default=graph.STEPS)
    p.add_argument('--init', default=os.path.join(HERE, 'init.safetensors'), help="initial weights, distillery's layout (role/param)")
    p.add_argument('--resume', help='a run folder (its newest checkpoint) or a checkpoint folder')
    p.add_argument('--checkpoint-every', type=int, default=0)
    p.add_argument('--keep', type=int, default=3)
    p.add_argument('--max-non-finite', type=int, default=20)
    p.add_argument('--model', action='append', default=[], metavar='ROLE=module:factory', help="replace a role's model by factory(), an nn.Module with the role's call signature")
    p.add_argument('--data', metavar='module:factory', help='replace the datasets: factory() returns sample(spec, n, gen) -> tensor [n, ...]')
    p.add_argument('--device', default='cpu', help='cpu | cuda (under torchrun: cuda:<local rank>)')
    p.add_argument('--threads', type=int, default=0, help='torch threads per process (default: cores / ranks)')
    p.add_argument('--replay', help="distillery's draws to replay (written by `distillery parity`)")
    p.add_argument('--updates', type=int, default=0, help='stop after this many updates, warm-ups included (parity)')
    p.add_argument('--quiet', action='store_true')
    return p.parse_args()


def load_factory(spec, what):
    mod, _, fn = spec.partition(':')
    if not mod or not fn:
        fail(f"{what} '{spec}' must be module:factory")
    try:
        m = importlib.import_module(mod)
    except ImportError as e:
        fail(f"{what} '{spec}': cannot import module '{mod}' ({e})")
    if not callable(getattr(m, fn, None)):
        fail(f"{what} '{spec}': module '{mod}' has no factory '{fn}'")
    return getattr(m, fn)


def probe(role, module, sig):
    """check a user's model against the role's call signature on a two-row batch"""
    rows = 2
    dims = lambda s: [rows if d == 'B' else d for d in s]
    ins = [torch.zeros(dims(s), dtype=torch.int32) if t == 'i32' else torch.rand(dims(s)) for t, s in sig['inputs']]
    try:
        with torch.no_grad():
            out = module(*ins)
    except Exception as e:  # a user's module failing on the role's inputs
        fail(f"--model {role}: calling it on the role's inputs {[list(dims(s)) for _, s in sig['inputs']]} failed: {e}")
    want = dims(sig['output'][1])
    if not isinstance(out, torch.Tensor) or list(out.shape) != want:
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        fail(f'--model {role}: returns {got} for a batch of {rows}, the role needs {want}')


def build_roles(args, device):
    init = load_file(args.init) if os.path.exists(args.init) else {}
    custom = dict(m.split('=', 1) if '=' in m else fail(f"--model '{m}' must be ROLE=module:factory") for m in args.model)
    for role in custom:
        if role not in graph.ROLES:
            fail(f"--model names no role '{role}'; roles: {', '.join(graph.ROLES)}")
    modules, own_init = {}, set()
    for role, r in graph.ROLES.items():
        if role in custom:
            mod = load_factory(custom[role], f'--model {role}')()
            if not isinstance(mod, torch.nn.Module):
                fail(f"--model {role}: the factory returned {type(mod).__name__}, not an nn.Module")
            probe(role, mod, graph.SIGNATURES[role])
            own_init.add(role)
        else:
            mod = build_model(r['kind'], r['config'], graph.DATASETS)
            state = {k[len(role) + 1:]: v for k, v in init.items() if k.startswith(role + '/')}
            if set(state) != set(mod.state_dict()):
                fail(f"{args.init}: role '{role}' needs {sorted(mod.state_dict())}, the file has {sorted(state)}")
            mod.load_state_dict(state)
        for p in mod.parameters():
            p.requires_grad_(r['trainable'])
        modules[role] = mod.to(device)
    return modules, own_init


def newest_checkpoint(path):
    if os.path.exists(os.path.join(path, 'state.json')):
        return path
    d = os.path.join(path, 'checkpoints')
    steps = sorted(x for x in os.listdir(d) if x.startswith('step-')) if os.path.isdir(d) else []
    if not steps:
        fail(f'--resume {path}: no checkpoint there')
    return os.path.join(d, steps[-1])


class Trainer:
    def __init__(self, args):
        self.args = args
        self.world = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        if self.world > 1:
            if graph.SHARDING_REFUSALS:
                fail(f'this pipeline cannot be split over {self.world} ranks: {graph.SHARDING_REFUSALS[0]}')
            cuda = args.device.startswith('cuda')
            dist.init_process_group('nccl' if cuda else 'gloo')
            if cuda:
                args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // self.world))
        self.device = torch.device(args.device)
        self.out = args.out or os.path.join('runs', f'{graph.PIPELINE}-torch-seed{args.seed}')
        self.rt = Runtime(graph.DIMS, args.seed, self.rank, self.world, self.device, args.replay)
        self.modules, own = build_roles(args, self.device)
        if args.data:
            sample = load_factory(args.data, '--data')()
            ops.sample_data = lambda spec, n, gen, device=None: sample(spec, n, gen)
        self.wrapped = dict(self.modules)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == 'cuda' else None
            for role, r in graph.ROLES.items():
                if r['trainable']:
                    self.wrapped[role] = DDP(self.modules[role], device_ids=ids)
                    if role in own:  # a user's model starts from rank 0's weights on every rank
                        for p in self.modules[role].state_dict().values():
                            dist.broadcast(p, 0)
        self.params = {role: dict(m.named_parameters()) for role, m in self.modules.items()}
        # between updates no parameter takes gradient: an update turns on its own role's only
        for ps in self.params.values():
            for p in ps.values():
                p.requires_grad_(False)
        # one optimizer state per update, as distillery keeps (a pre-training phase does not hand its moments on)
        self.adam = [Adam(self.params[u['role']], **u['adam']) for u in graph.UPDATES]
        # from the initial weights (a user's model: rank 0's, broadcast above)
        self.ema = {role: Ema(self.params[role], decay) for role, decay in graph.EMA.items()}
        self.non_finite = {}
        self.in_a_row = {}
        self.events = []
        self.rows = []
        self.updates_run = 0
        self.step = 0
        self.train_seconds = 0.0

    # ----------------------------------------------------------------------------------------------------- updates
    def update(self, i, step=0):
        u = graph.UPDATES[i]
        role = u['role']
        for p in self.params[role].values():
            p.requires_grad_(True)
            p.grad = None
        # the updated role runs through DDP (its gradients are averaged); other roles are plain modules
        m = {r: (self.wrapped[r] if r == role else mod) for r, mod in self.modules.items()}
        loss, logged = u['fn'](m, self.rt)
        loss.backward()
        for p in self.params[role].values():
            p.requires_grad_(False)
        # a parameter the loss does not reach keeps its value and moments (distillery's and torch.optim.Adam's rule)
        grads = {k: p.grad for k, p in self.params[role].items() if p.grad is not None}
        sumsq = sum_of_squares(grads.values())
        loss_v = float(loss.detach())
        skipped = self.rt.agree(not (math.isfinite(loss_v) and math.isfinite(sumsq)))
        if not skipped:
            self.adam[i].apply(grads, step)
            if role in self.ema:
                self.ema[role].apply(grads.keys())
            self.in_a_row.pop(role, None)
        else:
            self.non_finite[role] = self.non_finite.get(role, 0) + 1
            self.in_a_row[role] = self.in_a_row.get(role, 0) + 1
            if self.in_a_row[role] >= self.args.max_non_finite:
                fail(f"{self.in_a_row[role]} non-finite updates in a row (last one: role '{role}'); every one was skipped")
        self.updates_run += 1
        res = {'role': role, 'loss': loss_v, 'gradNorm': math.sqrt(sumsq), 'skipped': skipped, 'outputs': {k: float(v.detach()) for k, v in logged.items()}}
        if self.args.updates and self.rank == 0:
            with open(os.path.join(self.out, 'updates.jsonl'), 'a') as f:
                f.write(json.dumps({'update': self.updates_run, **res}) + '\n')
        return res

    def done(self):
        return self.args.updates and self.updates_run >= self.args.updates

    def warmup(self):
        for i in sorted(range(len(graph.UPDATES)), key=lambda j: graph.UPDATES[j]['declared']):
            for _ in range(graph.UPDATES[i]['warmup']):
                if self.done():
                    return
                self.update(i)

    def train_step(self):
        losses, norms, outputs, skipped = {}, {}, {}, []
        for i, u in enumerate(graph.UPDATES):
            for _ in range(u['ratio']):
                if self.done():
                    return None
                r = self.update(i, self.step + 1)
                losses[u['role']], norms[u['role']] = r['loss'], r['gradNorm']
                outputs.update(r['outputs'])
                if r['skipped']:
                    skipped.append(u['role'])
        if graph.outputs is not None:
            with torch.no_grad():
                outputs.update({k: float(v) for k, v in graph.outputs(self.modules, self.rt).items()})
        return losses, norms, outputs, skipped

    # ------------------------------------------------------------------------------------------------ the run
    def run(self):
        a = self.args
        if self.rank == 0:
            os.makedirs(self.out, exist_ok=True)
        if a.resume:
            self.restore(newest_checkpoint(a.resume))
        elif self.rank == 0:
            for f in ('metrics.jsonl', 'updates.jsonl'):
                if os.path.exists(os.path.join(self.out, f)):
                    os.remove(os.path.join(self.out, f))
            shutil.rmtree(os.path.join(self.out, 'evals'), ignore_errors=True)
        if self.world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        if self.step == 0:
            self.warmup()
        while self.step < a.steps and not self.done():
            r = self.train_step()
            if r is None:
                break
            self.step += 1
            losses, norms, outputs, skipped = r
            self.events += [{'step': self.step, 'role': x} for x in skipped]
            row = {'step': self.step, 'wallSeconds': self.train_seconds + time.perf_counter() - t0,
                   **{f'loss.{k}': v for k, v in losses.items()}, **{f'gradNorm.{k}': v for k, v in norms.items()},
                   **{f'nonFinite.{k}': v for k, v in self.non_finite.items()}, **outputs}
            self.rows.append(row)
            if self.rank == 0:
                with open(os.path.join(self.out, 'metrics.jsonl'), 'a') as f:
                    f.write(json.dumps(row) + '\n')
                if not a.quiet and (self.step % max(1, a.steps // 20) == 0 or self.step == a.steps):
                    print(f"step {self.step}/{a.steps}  " + '  '.join(f'{k} {v:.4g}' for k, v in losses.items()), flush=True)
            if self.rank == 0 and graph.EVAL_EVERY and self.step % graph.EVAL_EVERY == 0 and self.step < a.steps:
                # distillery's evaluation every evalEvery steps, as a native run does: `distillery evaluate` measures
                # these weights afterwards
                os.makedirs(os.path.join(self.out, 'evals'), exist_ok=True)
                save_file(self.trainable_weights(evaluated=True), os.path.join(self.out, 'evals', f'step-{self.step:08d}.safetensors'))
            if a.checkpoint_every and self.step % a.checkpoint_every == 0 and self.step < a.steps:
                self.train_seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                self.checkpoint()
        self.train_seconds += time.perf_counter() - t0
        if self.rank == 0:
            self.write_final()
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()

    def role_weights(self, role, evaluated=False):
        """a role's weights as trained, or as evaluated (its EMA where it has one)"""
        ps = self.ema[role].e if evaluated and role in self.ema else self.params[role]
        return {k: p.detach().cpu() for k, p in ps.items()}

    def trainable_weights(self, evaluated=False):
        return {f'{r}/{k}': t for r in self.params if graph.ROLES[r]['trainable'] for k, t in self.role_weights(r, evaluated).items()}

    def write_final(self):
        os.makedirs(os.path.join(self.out, 'weights'), exist_ok=True)
        for role, r in graph.ROLES.items():
            if r['trainable']:
                meta = {'role': role, 'kind': r['kind'], 'config': json.dumps(r['config'])}
                ema = {'ema': str(self.ema[role].decay)} if role in self.ema else {}
                save_file(self.role_weights(role, evaluated=True), os.path.join(self.out, 'weights', f'{role}.safetensors'), {**meta, **ema})
                if role in self.ema:  # the trained weights themselves, to continue from
                    save_file(self.role_weights(role), os.path.join(self.out, 'weights', f'{role}.raw.safetensors'), meta)
        shutil.copyfile(os.path.join(HERE, 'ir.json'), os.path.join(self.out, 'ir.json'))
        run = {'format': 'distillery-torch-run', 'pipeline': graph.PIPELINE, 'seed': self.args.seed, 'steps': self.step, 'updates': self.updates_run,
               'ranks': self.world, 'device': str(self.device), 'torch': torch.__version__, 'trainSeconds': self.train_seconds,
               'nonFinite': {'skipped': self.non_finite, 'events': self.events}, 'replay': bool(self.args.replay)}
        with open(os.path.join(self.out, 'run.json'), 'w') as f:
            json.dump(run, f, indent=2)

    # --------------------------------------------------------------------------------------------- checkpoints
    def checkpoint(self):
        """distillery's checkpoint layout (state.json, ir.json, weights.safetensors, optimizer.safetensors, and
        ema.safetensors when a role has an EMA), written to a temporary folder and renamed into place; plus each
        rank's random stream"""
        final = os.path.join(self.out, 'checkpoints', f'step-{self.step:08d}')
        tmp = final + '.tmp'
        if self.rank == 0:
            os.makedirs(tmp, exist_ok=True)
        if self.world > 1:
            dist.barrier()
        torch.save(self.rt.gen.get_state(), os.path.join(tmp, f'rng-rank{self.rank}.pt'))
        if self.world > 1:
            dist.barrier()
        if self.rank == 0:
            opt = {}
            for i, a in enumerate(self.adam):
                for k in a.m:
                    opt[f'u{i}/m/{k}'], opt[f'u{i}/v/{k}'] = a.m[k].cpu(), a.v[k].cpu()
            save_file(self.trainable_weights(), os.path.join(tmp, 'weights.safetensors'))
            save_file(opt, os.path.join(tmp, 'optimizer.safetensors'))
            if self.ema:
                save_file({f'{r}/{k}': t.cpu() for r, e in self.ema.items() for k, t in e.e.items()}, os.path.join(tmp, 'ema.safetensors'))
            shutil.copyfile(os.path.join(HERE, 'ir.json'), os.path.join(tmp, 'ir.json'))
            state = {'format': FORMAT, 'version': VERSION, 'pipeline': graph.PIPELINE, 'step': self.step,
                     'counters': {'evaluations': self.updates_run, 'adamSteps': [a.step for a in self.adam], 'nonFinite': self.non_finite, 'nonFiniteInARow': self.in_a_row},
                     'run': {'seed': self.args.seed, 'backend': 'torch', 'steps': self.args.steps, 'checkpointEvery': self.args.checkpoint_every, 'keep': self.args.keep, 'maxNonFinite': self.args.max_non_finite},
                     'rows': self.rows, 'trainSeconds': self.train_seconds, 'nonFiniteEvents': self.events, 'ranks': self.world, 'updates': self.updates_run}
            with open(os.path.join(tmp, 'state.json'), 'w') as f:
                json.dump(state, f)
            os.replace(tmp, final)
            old = sorted(x for x in os.listdir(os.path.dirname(final)) if x.startswith('step-') and not x.endswith('.tmp'))
            for x in old[:-self.args.keep]:
                shutil.rmtree(os.path.join(os.path.dirname(final), x))
        if self.world > 1:
            dist.barrier()

    def restore(self, d):
        with open(os.path.join(d, 'state.json')) as f:
            s = json.load(f)
        if s.get('format') != FORMAT or s.get('pipeline') != graph.PIPELINE:
            fail(f"--resume {d}: not a checkpoint of '{graph.PIPELINE}'")
        if s.get('ranks', 1) != self.world:
            fail(f"--resume {d}: written by {s.get('ranks', 1)} rank(s), this run has {self.world}")
        w = load_file(os.path.join(d, 'weights.safetensors'))
        o = load_file(os.path.join(d, 'optimizer.safetensors'))
        with torch.no_grad():
            for role, ps in self.params.items():
                if graph.ROLES[role]['trainable']:
                    for k, p in ps.items():
                        p.copy_(w[f'{role}/{k}'])
            for i, a in enumerate(self.adam):
                for k in a.m:
                    a.m[k].copy_(o[f'u{i}/m/{k}'])
                    a.v[k].copy_(o[f'u{i}/v/{k}'])
                a.step = s['counters']['adamSteps'][i]
            if self.ema:
                e = load_file(os.path.join(d, 'ema.safetensors'))
                for role, ema in self.ema.items():
                    for k in ema.e:
                        ema.e[k].copy_(e[f'{role}/{k}'])
        self.rt.gen.set_state(torch.load(os.path.join(d, f'rng-rank{self.rank}.pt')))
        self.step, self.rows, self.events = s['step'], s['rows'], s['nonFiniteEvents']
        self.non_finite, self.in_a_row = s['counters']['nonFinite'], s['counters']['nonFiniteInARow']
        self.updates_run, self.train_seconds = s['updates'], s['trainSeconds']
        if self.rank == 0:  # the metrics so far, as the checkpoint saw them
            with open(os.path.join(self.out, 'metrics.jsonl'), 'w') as f:
                f.writelines(json.dumps(r) + '\n' for r in self.rows)


if __name__ == '__main__':
    Trainer(parse_args()).run()
