"""Flow training speed: mlenb.flows against zuko, normflows and nflows, same architecture, same data, one process.

The architecture is the one the issue names: 2-D, 8 coupling layers on alternating halves, each
conditioner an MLP 1 -> 64 -> 64 -> out with ReLU, batch 512, Adam at lr 1e-3; an affine coupling
flow (RealNVP) and a rational-quadratic spline coupling flow (8 bins, linear tails, bound 5). Every
library trains on the same pre-drawn two-moons points. Peers run the loop their documentation shows
(`loss.backward(); opt.step()` with a plain `torch.optim.Adam`); `--fused-peers` adds rows where the
peers get `Adam(fused=True)` too, which isolates what mlenb's flat-buffer optimiser buys. mlenb runs
through its public `Trainer.step(n)`; its snapshot's `steps_per_s` times the training loop only.

Rounds are interleaved (every library runs once per round) so that a busy machine slows all of them
alike, and each library's figure is the median over rounds. One CPU thread: small flows train fastest
on one (on a busy two-core machine two threads can be many times slower).

    python bench/flows_vs_peers.py             # 8 rounds of 200 steps (spline: 60)
    python bench/flows_vs_peers.py --quick     # 3 rounds of 40 steps (spline: 15), a smoke test
    python bench/flows_vs_peers.py --device cuda   # on a GPU: batches 512 and 65,536, mlenb with and without a CUDA graph
    python bench/flows_vs_peers.py --quality   # no peers: the KL that mlenb's defaults reach on every built-in 2-D target
    python bench/flows_vs_peers.py --inference # no training: sample and log_prob at batch 65,536, the same flows, ratios to each peer

With `--inference` every library's untrained flow of the architecture above evaluates `log_prob` on, and draws
`sample` of, one batch of 65,536 points without a graph (`torch.no_grad()`), in interleaved rounds; the figure is
the median time and each ratio is the peer's time over mlenb's in the same process (above 1: mlenb is faster).

The KL against zuko's NSF and MAF (D = 8 and 16 Gaussian mixtures) and on 2-D targets written outside mlenb:
bench/flows_kl.py.
"""
import os
for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(_v, '1')
import argparse, json, statistics, time, warnings

import torch
from torch import nn

from mlenb.data import toy
from mlenb.flows import Flow, Trainer

D, BOUND, BINS = 2, 5., 8


class MLP(nn.Sequential):
    "The shared conditioner: in -> hidden -> hidden -> out, ReLU; accepts (and ignores) a context."
    def __init__(self, i, o, hidden):
        super().__init__(nn.Linear(i, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, o))
    def forward(self, x, context=None): return super().forward(x)


def masks(layers):
    "Alternating halves: the first coordinate conditions on even layers, the second on odd ones."
    return [torch.tensor([i % 2 == 0, i % 2 == 1]) for i in range(layers)]


# ---- peers: each returns (parameters, loss function of a batch) ------------------------------------
def zuko_model(arch, layers, hidden):
    import zuko
    if arch == 'realnvp': flow = zuko.flows.RealNVP(D, transforms=layers, hidden_features=(hidden, hidden))
    else: flow = zuko.flows.NSF(D, transforms=layers, passes=2, bins=BINS, hidden_features=(hidden, hidden))   # passes=2: coupling
    return flow, lambda x: -flow().log_prob(x).mean()


def normflows_model(arch, layers, hidden):
    import normflows as nf
    from normflows.flows.neural_spline.coupling import PiecewiseRationalQuadraticCoupling

    class Spline(nf.flows.Flow):
        "normflows' CoupledRationalQuadraticSpline with the shared MLP and no extra unconditional transform."
        def __init__(self, mask):
            super().__init__()
            self.prqct = PiecewiseRationalQuadraticCoupling(mask=mask.int(), transform_net_create_fn=lambda i, o: MLP(i, o, hidden),
                                                           num_bins=BINS, tails='linear', tail_bound=BOUND, apply_unconditional_transform=False)
        def forward(self, z, context=None):
            z, ld = self.prqct.inverse(z, context); return z, ld.view(-1)
        def inverse(self, z, context=None):
            z, ld = self.prqct(z, context); return z, ld.view(-1)

    flows = []
    for m in masks(layers):
        if arch == 'realnvp': flows += [nf.flows.AffineCouplingBlock(MLP(1, 2, hidden)), nf.flows.Permute(D, mode='swap')]
        else: flows.append(Spline(m))
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(D, trainable=False), flows)
    return model, model.forward_kld


def nflows_model(arch, layers, hidden):
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow as NFlow
    from nflows.transforms import AffineCouplingTransform, CompositeTransform, PiecewiseRationalQuadraticCouplingTransform
    net = lambda i, o: MLP(i, o, hidden)
    if arch == 'realnvp': ts = [AffineCouplingTransform(m.int(), net) for m in masks(layers)]
    else: ts = [PiecewiseRationalQuadraticCouplingTransform(m.int(), net, num_bins=BINS, tails='linear', tail_bound=BOUND) for m in masks(layers)]
    flow = NFlow(CompositeTransform(ts), StandardNormal([D]))
    return flow, lambda x: -flow.log_prob(x).mean()


PEERS = {'zuko': zuko_model, 'normflows': normflows_model, 'nflows': nflows_model}


class Peer:
    "A peer's model, optimiser and batches; `run(n)` trains n steps and returns steps per second."
    def __init__(self, make, arch, layers, hidden, data, device, fused):
        torch.manual_seed(0)
        model, self.loss = make(arch, layers, hidden)
        self.model = model.to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, **({'fused': True} if fused else {}))
        self.data, self.i, self.device = data, 0, torch.device(device)

    def run(self, n):
        sync = torch.cuda.synchronize if self.device.type == 'cuda' else (lambda: None)
        sync(); t = time.perf_counter()
        for _ in range(n):
            x = self.data[self.i % len(self.data)]; self.i += 1
            loss = self.loss(x)
            self.opt.zero_grad(); loss.backward(); self.opt.step()
        sync()
        return n / (time.perf_counter() - t)


class Mine:
    "mlenb through its public Trainer; the snapshot's steps_per_s times the training loop only."
    def __init__(self, arch, layers, hidden, data, device, cuda_graph):
        torch.manual_seed(0)
        flow = Flow.realnvp(D, layers, hidden) if arch == 'realnvp' else Flow.nsf(D, layers, hidden, bins=BINS, bound=BOUND, actnorm=False)
        self.trainer = Trainer(flow, data.reshape(-1, D), lr=1e-3, schedule='constant', batch_size=data.shape[1], device=device, val_size=256,
                               grid_every=0, progress=False, cuda_graph=cuda_graph)
        self.sync = torch.cuda.synchronize if torch.device(device).type == 'cuda' else (lambda: None)

    def run(self, n):
        snap = self.trainer.step(n)
        return snap.steps_per_s


def bench(arch, args, batch):
    steps = args.steps if arch == 'realnvp' else args.spline_steps
    data = toy('moons').sample(64 * batch, seed=0, device=args.device).view(64, batch, D)
    runners = {'mlenb': Mine(arch, args.layers, args.hidden, data, args.device, cuda_graph=False)}
    if torch.device(args.device).type == 'cuda': runners['mlenb+graph'] = Mine(arch, args.layers, args.hidden, data, args.device, cuda_graph=True)
    for name in args.peers:
        try: runners[name] = Peer(PEERS[name], arch, args.layers, args.hidden, data, args.device, fused=False)
        except ImportError as e:
            print(f"{name}: not installed ({e}), skipped"); continue
        if args.fused_peers: runners[name + '+fused'] = Peer(PEERS[name], arch, args.layers, args.hidden, data, args.device, fused=True)
    for r in runners.values(): r.run(max(3, steps // 10))      # warm-up (and CUDA graph capture)
    rates = {k: [] for k in runners}
    for _ in range(args.rounds):
        for k, r in runners.items(): rates[k].append(r.run(steps))
    return {k: statistics.median(v) for k, v in rates.items()}


def inference_models(arch, layers, hidden):
    "The four libraries' untrained flows of `arch`: name -> (log_prob of x, sample of n, parameter count)."
    torch.manual_seed(0)
    mine = Flow.realnvp(D, layers, hidden) if arch == 'realnvp' else Flow.nsf(D, layers, hidden, bins=BINS, bound=BOUND, actnorm=False)
    out = {'mlenb': (mine.log_prob, lambda n: mine.sample(n), mine)}
    for name in ('zuko', 'normflows', 'nflows'):
        try: model, _ = PEERS[name](arch, layers, hidden)
        except ImportError: print(f"{name}: not installed, skipped"); continue
        if name == 'zuko': out[name] = ((lambda x, m=model: m().log_prob(x)), (lambda n, m=model: m().sample((n,))), model)
        else: out[name] = (model.log_prob, (lambda n, m=model: m.sample(n)) if name == 'nflows' else (lambda n, m=model: m.sample(n)[0]), model)
    return out


def inference(args):
    "Seconds per `log_prob` and `sample` of one batch, every library, interleaved rounds; ratios peer / mlenb."
    n = args.batch[0] if args.batch != [512] else 65536
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}, {args.layers} coupling layers, hidden {args.hidden}x2, "
          f"batch {n:,}, no graph, median of {args.rounds} rounds")
    out = []
    for arch in args.arch:
        models = inference_models(arch, args.layers, args.hidden)
        x = toy('moons').sample(n, seed=0)
        calls = {(lib, op): (lambda lp=lp: lp(x)) if op == 'log_prob' else (lambda s=s: s(n))
                 for lib, (lp, s, _) in models.items() for op in ('log_prob', 'sample')}
        times = {k: [] for k in calls}
        with torch.no_grad():
            for f in calls.values(): f()                             # warm-up
            for _ in range(args.rounds):
                for k, f in calls.items():
                    t = time.perf_counter(); f(); times[k].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        for op in ('log_prob', 'sample'):
            for lib, (_, _, m) in models.items():
                ratio = '' if lib == 'mlenb' else f"  mlenb {med[(lib, op)] / med[('mlenb', op)]:.2f}x {lib}"
                npar = sum(p.numel() for p in m.parameters())
                print(f"{arch:8} {op:8} {lib:10} {1e3 * med[(lib, op)]:8.1f} ms  {n / med[(lib, op)] / 1e6:6.2f} M points/s  {npar:6} parameters{ratio}")
                out.append({'arch': arch, 'op': op, 'batch': n, 'library': lib, 's': med[(lib, op)], 'parameters': npar,
                            'mlenb_speedup': med[(lib, op)] / med[('mlenb', op)]})
    if args.json: print(json.dumps(out))


def quality(args):
    "KL to each built-in 2-D target after `Trainer(Flow.nsf(2), name, seed=0).fit(steps)`: every other choice the defaults."
    from mlenb.data import TOY_NAMES
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}: Flow.nsf(2) and Trainer's defaults, "
          f"{args.quality_steps} steps, KL on 200,000 fresh draws")
    out = []
    for name in args.targets or TOY_NAMES:
        torch.manual_seed(0)
        tr = Trainer(Flow.nsf(D), name, seed=0, device=args.device, eval_every=1000, val_size=5000, grid_every=0, progress=False)
        tr.fit(args.quality_steps)
        x = toy(name).sample(200_000, seed=12345, device=tr.device)
        with torch.no_grad(): lq = torch.cat([tr.flow.log_prob(c) for c in x.split(20_000)]).double()
        d = toy(name).log_prob(x.double()) - lq                   # log p - log q: its mean is the KL, the entropy's noise paired away
        row = {'target': name, 'nll_minus_h': -float(lq.mean()) - toy(name).entropy(), 'kl': float(d.mean()),
               'kl_se': float(d.std()) / 200_000 ** 0.5, 'train_s': tr.elapsed, 'lr': tr.base_lr, 'schedule': tr.schedule}
        print(f"{name:13} NLL - H {row['nll_minus_h']:.4f}   KL {row['kl']:.4f} ± {row['kl_se']:.4f}   {row['train_s']:.0f} s", flush=True)
        out.append(row)
    if args.json: print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quality', action='store_true', help="no timing: the KL the default flow and Trainer reach on every built-in 2-D target")
    ap.add_argument('--quality-steps', type=int, default=5000, help='training steps per target, with --quality')
    ap.add_argument('--targets', nargs='*', default=None, help='with --quality: the targets (default: all the built-in 2-D ones)')
    ap.add_argument('--inference', action='store_true', help="no training: sample and log_prob at batch 65,536 (or --batch), ratios to the peers")
    ap.add_argument('--quick', action='store_true', help='3 rounds of 40 steps (spline 15): a smoke test')
    ap.add_argument('--arch', nargs='+', default=['realnvp', 'spline'], choices=['realnvp', 'spline'])
    ap.add_argument('--peers', nargs='*', default=list(PEERS), choices=list(PEERS))
    ap.add_argument('--fused-peers', action='store_true', help='also time every peer with Adam(fused=True)')
    ap.add_argument('--layers', type=int, default=8)
    ap.add_argument('--hidden', type=int, default=64)
    ap.add_argument('--batch', type=int, nargs='+', default=None, help='batch sizes (default: 512 on a CPU, 512 and 65536 on CUDA)')
    ap.add_argument('--steps', type=int, default=200, help='steps per round, RealNVP')
    ap.add_argument('--spline-steps', type=int, default=60, help='steps per round, spline flow')
    ap.add_argument('--rounds', type=int, default=8)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--json', action='store_true', help='print the results as JSON too')
    args = ap.parse_args()
    if args.quick: args.steps, args.spline_steps, args.rounds = 40, 15, 3
    if args.batch is None: args.batch = [512, 65536] if torch.device(args.device).type == 'cuda' else [512]
    torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore')
    if args.quality: return quality(args)
    if args.inference: return inference(args)
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}, {args.layers} coupling layers, hidden {args.hidden}x2, "
          f"{args.rounds} rounds, median steps/s")
    out = []
    for batch in args.batch:
        for arch in args.arch:
            rates = bench(arch, args, batch)
            peers = {k: v for k, v in rates.items() if not k.startswith('mlenb') and not k.endswith('+fused')}
            best = max(peers, key=peers.get) if peers else None
            for k, v in rates.items():
                ratio = f"{v / peers[best]:5.2f}x {best}" if best else ''
                print(f"{arch:8} batch {batch:>6} {k:16} {v:8.1f} steps/s  {ratio}")
                out.append({'arch': arch, 'batch': batch, 'library': k, 'steps_per_s': v, 'vs_fastest_peer': v / peers[best] if best else None})
    if args.json: print(json.dumps(out))


if __name__ == '__main__':
    main()
