"""Flow quality: the KL(p || q) that mlenb's default flow and Trainer reach, beside zuko's defaults, on targets with an exact density.

Every target here has an exact `log_prob` and `sample`: the built-in 2-D toys (`mlenb.data.toy`), three 2-D targets
written for this script (a banana, a mixture of heavy-tailed Student-t's, a ring of six Gaussians of unequal widths),
and a D-dimensional Gaussian mixture (`gmm(D)`: 8 full-covariance components). The KL is estimated by paired Monte
Carlo: KL = E_p[log p - log q] on `--eval` fresh draws of p, so the entropy's noise cancels; ± is the standard error.

mlenb runs `Trainer(Flow.nsf(D), target).fit(steps)` with every other choice left to the library (the defaults), or
with the overrides given (`--layers 10 --lr 3e-3 ...`). zuko 1.6 runs `zuko.flows.NSF(D)` and `zuko.flows.MAF(D)`
with their defaults and the loop of zuko's documentation: `torch.optim.Adam(lr=1e-3)`, fresh draws of the batch
mlenb's Trainer uses (1024 by default; `--batch-size` sets both) every step, the same number of steps, on features
standardised as zuko's documentation asks (its splines act on [-5, 5]; `--zuko-raw` skips it, which is what the first
version of this script did). One CPU thread; s/step is the training loop's time.

    python bench/flows_kl.py --quick                       # a smoke test: 200 steps, moons, banana, gmm D=8 against zuko
    python bench/flows_kl.py --targets 2d                  # every built-in and own 2-D target, mlenb's defaults, 5,000 steps
    python bench/flows_kl.py --targets gmm8 gmm16 --zuko   # the D = 8 and 16 mixtures: mlenb's defaults, zuko's NSF and MAF
    python bench/flows_kl.py --targets gmm8 --zuko --no-mlenb --zuko-flows nsf   # zuko's NSF alone

Measured (5,000 steps; a loaded 2-core CPU), with today's defaults (64 bins, batch 1024, lr 3e-3): 2-D, seeds 0 / 1:
moons 0.0022 / 0.0019, 8gaussians 0.0018 / 0.0018, rings 0.0060 / 0.0054, checkerboard 0.0092 / 0.0099, pinwheel
0.0031 / 0.0032, spirals 0.0036 / 0.0038, banana 0.0033 / 0.0063, tmix 0.0020 / 0.0019, sixring 0.0019 / 0.0019;
gmm8: mlenb 0.045 ± 0.001, zuko NSF 0.078 ± 0.001 (same batch); gmm16: mlenb 0.049 ± 0.001, zuko NSF 0.128 ± 0.002.
Before (32 bins, batch 512, lr 2e-3; zuko at batch 512): gmm8 mlenb 0.046 (0.058 without the LU mixing that is the
default beyond 2-D), zuko NSF 0.118, MAF 0.330; gmm16 mlenb 0.054 (0.089 without), zuko NSF 0.168, MAF 0.581; on the
checkerboard (seed 0) 64 bins alone gave 0.0119, with batch 1024 0.0102, 128 bins and batch 1024 0.0094, hidden 128 and
64 bins 0.0186, bound 3 and 64 bins 0.0186, lr 3e-3 and 64 bins at batch 512 0.0126.
zuko on raw features (`--zuko-raw`) gave NSF 1.81 at D = 8.
"""
import os
for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(_v, '1')
import argparse, inspect, json, math, time, warnings

import torch
from torch import distributions as td

from mlenb.data import TOY_NAMES, toy
from mlenb.flows import Flow, Trainer

TRAINER_BATCH = inspect.signature(Trainer).parameters['batch_size'].default   # zuko's loop draws the batch mlenb's Trainer does

OWN = ('banana', 'tmix', 'sixring')


class Banana(td.Distribution):
    "x1 ~ N(0, 1.5²), x2 | x1 ~ N(x1²/3 - 1.5, 0.4²): a curved ridge, exact density."
    arg_constraints, support = {}, td.constraints.real_vector
    def __init__(self): super().__init__(event_shape=torch.Size([2]), validate_args=False)
    def sample(self, sample_shape=torch.Size()):
        x1 = 1.5 * torch.randn(sample_shape)
        return torch.stack([x1, x1 ** 2 / 3 - 1.5 + 0.4 * torch.randn(sample_shape)], -1)
    def log_prob(self, x):
        x1, x2 = x[..., 0], x[..., 1]
        return td.Normal(0., 1.5).log_prob(x1) + td.Normal(x1 ** 2 / 3 - 1.5, 0.4).log_prob(x2)


def own_target(name:str)->td.Distribution:
    "The three 2-D targets written here (not in mlenb.data): 'banana', 'tmix', 'sixring'."
    if name == 'banana': d = Banana()
    elif name == 'tmix':      # three product-Student-t components, 4 degrees of freedom: heavy tails
        loc = torch.tensor([[-2., -1.], [2., -1.], [0., 2.]])
        comp = td.Independent(td.StudentT(4., loc, torch.tensor([[0.5, 0.8], [0.8, 0.5], [0.6, 0.6]])), 1)
        d = td.MixtureSameFamily(td.Categorical(torch.tensor([0.3, 0.3, 0.4])), comp)
    elif name == 'sixring':   # six Gaussians on a circle of radius 3, widths 0.15 to 0.5, unequal weights
        a = torch.arange(6) * (2 * math.pi / 6)
        comp = td.Independent(td.Normal(3 * torch.stack([a.cos(), a.sin()], -1), torch.linspace(0.15, 0.5, 6)[:, None].expand(6, 2)), 1)
        d = td.MixtureSameFamily(td.Categorical(torch.tensor([1., 2., 1., 2., 1., 2.])), comp)
    else: raise ValueError(f"target {name!r}: expected one of {OWN}")
    d.name = name
    return d


def gmm(dim:int, k:int=8, seed:int=0)->td.Distribution:
    "A D-dimensional mixture of `k` full-covariance Gaussians: means ~ N(0, 1.5² I), random rotations, scales 0.3 to 1, unequal weights."
    g = torch.Generator().manual_seed(seed)
    means = 1.5 * torch.randn(k, dim, generator=g)
    q = torch.linalg.qr(torch.randn(k, dim, dim, generator=g)).Q                       # random rotations
    scales = 0.3 + 0.7 * torch.rand(k, dim, generator=g)
    tril = torch.linalg.cholesky(q @ torch.diag_embed(scales ** 2) @ q.transpose(-1, -2))
    w = torch.softmax(0.5 * torch.randn(k, generator=g), 0)
    d = td.MixtureSameFamily(td.Categorical(w), td.MultivariateNormal(means, scale_tril=tril))
    d.name = f"gmm{dim}"
    return d


def target(name:str):
    "A target by name: a built-in toy, an own 2-D target, or 'gmmD' (D an integer)."
    if name in TOY_NAMES: return toy(name)
    if name in OWN: return own_target(name)
    if name.startswith('gmm') and name[3:].isdigit(): return gmm(int(name[3:]))
    raise ValueError(f"target {name!r}: expected one of {TOY_NAMES + OWN} or gmmD, e.g. gmm8")


def draw(p, n:int, seed:int)->torch.Tensor:
    "n float32 draws of p, reproducible from `seed`."
    if hasattr(p, 'bounds'): return p.sample(n, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return p.sample((n,)).float()


def paired_kl(p, log_q, n:int, seed:int=12345, chunk:int=20_000)->tuple[float, float]:
    "KL(p || q) = E_p[log p - log q] on n fresh draws of p, and its standard error."
    x = draw(p, n, seed)
    with torch.no_grad(): d = torch.cat([p.log_prob(c.double()).double() - log_q(c).double() for c in x.split(chunk)])
    return float(d.mean()), float(d.std()) / math.sqrt(n)


def build(dim:int, arch:dict, seed:int=0):
    "Flow.nsf(dim) with the overrides in `arch` (layers, hidden, bins, bound, autoregressive); mix='lu' or 'none' sets `mixing` (None: the default, LULinear between couplings when dim > 2)."
    kw = {k: arch[k] for k in ('layers', 'hidden', 'bins', 'bound', 'autoregressive') if arch.get(k) is not None}
    if arch.get('mix') is not None: kw['mixing'] = arch['mix'] == 'lu'
    return Flow.nsf(dim, seed=seed, **kw)


def run_mlenb(p, dim:int, steps:int, arch:dict, train:dict, seed:int=0):
    "Train mlenb's flow on p; returns the flow's log_prob and seconds per step."
    flow = build(dim, arch, seed)
    tr = Trainer(flow, p, seed=seed, eval_every=max(1, steps // 5), val_size=2000, grid_every=0, progress=False, **train)
    tr.fit(steps)
    return tr.flow.log_prob, tr.elapsed / max(steps, 1)


def run_zuko(kind:str, p, dim:int, steps:int, batch:int=512, lr:float=1e-3, standardize:bool=True):
    "Train zuko's NSF or MAF, its defaults, with the loop of zuko's documentation; returns log_prob and seconds per step."
    import zuko
    torch.manual_seed(0)
    flow = (zuko.flows.NSF if kind == 'nsf' else zuko.flows.MAF)(dim)
    opt = torch.optim.Adam(flow.parameters(), lr=lr)
    data = draw(p, 64 * batch, 1)
    # zuko's splines act on [-5, 5] and leave the rest untransformed; its documentation says to standardise the
    # features first. The mean and standard deviation of the first pool do it (as mlenb's ActNorm does), and the
    # affine map's log-det goes into log q: without it the D = 8 mixture's outer points sit outside the splines.
    mu, sd = (data.mean(0), data.std(0)) if standardize else (torch.zeros(dim), torch.ones(dim))
    t, i = time.perf_counter(), 0
    for s in range(steps):
        if i == 64: data, i = draw(p, 64 * batch, 2 + s), 0
        x = (data[i * batch:(i + 1) * batch] - mu) / sd; i += 1
        loss = -flow().log_prob(x).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    dt = (time.perf_counter() - t) / max(steps, 1)
    return (lambda x: flow().log_prob((x - mu) / sd) - sd.log().sum()), dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--targets', nargs='+', default=['2d'], help="names: built-in toys, banana, tmix, sixring, gmmD; '2d': all the 2-D ones")
    ap.add_argument('--steps', type=int, default=5000)
    ap.add_argument('--eval', type=int, default=100_000, help='draws of p for the paired KL')
    ap.add_argument('--zuko', action='store_true', help="also zuko's NSF and MAF, their defaults")
    ap.add_argument('--zuko-raw', action='store_true', help="zuko on the raw features (not standardised)")
    ap.add_argument('--zuko-flows', nargs='+', default=['nsf', 'maf'], choices=['nsf', 'maf'], help="which of zuko's flows --zuko trains")
    ap.add_argument('--no-mlenb', action='store_true', help='skip mlenb (with --zuko: the peers only)')
    ap.add_argument('--quick', action='store_true', help='200 steps on moons, banana and gmm8, zuko too: a smoke test')
    for k, t in (('layers', int), ('hidden', int), ('bins', int), ('bound', float), ('lr', float), ('batch-size', int)):
        ap.add_argument('--' + k, type=t, default=None, help='override the library default')
    ap.add_argument('--schedule', default=None, choices=['constant', 'cosine'])
    ap.add_argument('--autoregressive', action='store_true', help='spline autoregressive layers instead of couplings')
    ap.add_argument('--mix', default=None, choices=['lu', 'none'], help="'lu': an LULinear between couplings, 'none': no mixing (default: the library's, LU when D > 2)")
    ap.add_argument('--seed', type=int, default=0, help="mlenb's seed: the flow's initial weights and the Trainer's draws")
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    if a.quick: a.targets, a.steps, a.eval, a.zuko = ['moons', 'banana', 'gmm8'], 200, 20_000, True
    names = [n for t in a.targets for n in ((*TOY_NAMES, *OWN) if t == '2d' else (t,))]
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore')
    arch = dict(layers=a.layers, hidden=a.hidden, bins=a.bins, bound=a.bound, autoregressive=a.autoregressive or None, mix=a.mix)
    train = {k: v for k, v in dict(lr=a.lr, batch_size=a.batch_size, schedule=a.schedule).items() if v is not None}
    given = {k: v for k, v in {**arch, **train}.items() if v is not None}
    print(f"torch {torch.__version__}, 1 thread, {a.steps} steps, KL on {a.eval:,} draws; mlenb: {given or 'defaults'}", flush=True)
    out = []
    for name in names:
        p = target(name)
        dim = p.event_shape[-1]
        runs = ([] if a.no_mlenb else [('mlenb', lambda: run_mlenb(p, dim, a.steps, arch, train, a.seed))])
        if a.zuko: runs += [(f'zuko {k.upper()}', lambda k=k: run_zuko(k, p, dim, a.steps, train.get('batch_size', TRAINER_BATCH), standardize=not a.zuko_raw)) for k in a.zuko_flows]
        for lib, fit in runs:
            log_q, s_step = fit()
            kl, se = paired_kl(p, log_q, a.eval)
            row = dict(target=name, dim=dim, library=lib, steps=a.steps, seed=a.seed, kl=kl, kl_se=se, s_per_step=s_step, **({'mlenb': given} if lib == 'mlenb' else {}))
            print(f"{name:13} D={dim:<3} {lib:9} KL {kl:.4f} ± {se:.4f}   {1e3 * s_step:.1f} ms/step", flush=True)
            out.append(row)
    if a.json: print(json.dumps(out))


if __name__ == '__main__':
    main()
