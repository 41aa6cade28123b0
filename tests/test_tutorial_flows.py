"""The engine checks behind nbs/11_tutorial_flows.ipynb, over several seeds: what the chapter shows for one seed holds
for others, with the chapter's own settings (flow size, learning rate, schedule, steps).

Each test recomputes what the engine does independently where it can (autograd Jacobians, torch.distributions,
NumPy by hand, sums over a grid) and compares."""
import math

import numpy as np
import pytest
import torch

from mlenb.data import toy
from mlenb.flows import Flow, ActNorm, Trainer, gradient_variance

SEEDS = range(3)


def spline_flow(seed=0): return Flow.nsf(2, layers=4, hidden=32, bins=8, seed=seed)
def recipe(steps, **kw):
    "The chapter's training settings, spelled out: they must not follow the Trainer's defaults."
    return dict(lr=3e-3, schedule='cosine', total_steps=steps, batch_size=128, val_size=5000, grid_every=0, progress=False, **kw)

angles = torch.arange(8, dtype=torch.float64) * math.pi / 4
CENTRES = torch.stack([angles.cos(), angles.sin()], -1) * 4 / 1.414
def mode_shares(x): return torch.bincount(torch.cdist(x.double(), CENTRES).argmin(1), minlength=8).double() / len(x)


@pytest.fixture(scope='module')
def moons_runs():
    "Section 1's run (300 steps, snapshots every 25 with grids), one per seed."
    return {s: Trainer(spline_flow(s), 'moons', seed=s, eval_every=25, **{**recipe(300), 'grid_every': 25}).fit(300) for s in SEEDS}


@pytest.mark.parametrize('seed', SEEDS)
def test_moons_kl_falls_at_every_snapshot_shown(moons_runs, seed):
    "Section 1: from about a nat to under a tenth, falling at steps 0, 25, 50, 100, 300; every snapshot grid is a density."
    tr, moons = moons_runs[seed], toy('moons')
    shown = [s for s in tr.trace if s.step in (0, 25, 50, 100, 300)]
    kls = np.array([s.kl for s in shown])
    assert kls[0] > 0.5 and kls[-1] < 0.1 and (np.diff(kls) < 0).all(), kls
    area = moons.grid(64).cell_area
    for s in shown: assert abs(float(s.grid.exp().sum() * area) - 1) < 0.05
    arc = torch.linspace(0, math.pi, 400)
    lines = torch.cat([torch.stack([2 * arc.cos() - 1, 2 * arc.sin() - .2], -1), torch.stack([1 - 2 * arc.cos(), .8 - 2 * arc.sin()], -1)])
    near = np.array([float((torch.cdist(s.samples.float(), lines).min(1).values < 0.3).float().mean()) for s in shown])
    assert near[0] < 0.4 and near[1] > 0.5 and abs(near[-1] - 0.8) < 0.05 and (np.diff(near) > 0).all(), near
    kl = tr.trace.series('kl')
    np.testing.assert_allclose(tr.trace.series('val_nll') - moons.entropy(), kl, atol=1e-9)
    assert (kl > 0).all() and kl[-1] < kl[0] / 5


@pytest.mark.parametrize('seed', SEEDS)
def test_step_zero_is_actnorm_gaussian(seed):
    "Section 1 and exercise 1: before training, the flow is the Gaussian with the data's mean and (N-1) standard deviations."
    moons = toy('moons')
    x = moons.sample(4096, seed=seed).double()
    flow = spline_flow(seed).double().initialize(x)
    g = torch.distributions.MultivariateNormal(x.mean(0), torch.diag(x.std(0) ** 2))
    pts = moons.sample(50, seed=seed + 10).double()
    torch.testing.assert_close(flow.log_prob(pts), g.log_prob(pts), atol=1e-7, rtol=0)   # the splines' identity bias: float32 rounding
    an = Flow([ActNorm(2)]).double().initialize(x)
    torch.testing.assert_close(an.log_prob(pts), g.log_prob(pts), atol=1e-10, rtol=0)


@pytest.mark.parametrize('seed', SEEDS)
def test_change_of_variables_against_autograd(seed):
    "Sections 3 and 5: log q = log p_Z(f(x)) + log|det J|, each layer's log-det the autograd Jacobian's, in float64."
    moons = toy('moons')
    flow = spline_flow(seed).double().initialize(moons.sample(4096, seed=0).double())
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.transform[1:].parameters(): p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    x = moons.sample(6, seed=seed + 1).double()
    jac = torch.stack([torch.autograd.functional.jacobian(lambda v: flow.transform(v[None])[0][0], xi) for xi in x])
    logdet = torch.linalg.slogdet(jac)[1]
    z = flow.transform(x)[0]
    by_hand = -0.5 * (z ** 2).sum(-1) - math.log(2 * math.pi) + logdet
    torch.testing.assert_close(flow.log_prob(x), by_hand, atol=1e-10, rtol=0)
    with torch.no_grad(): lay = flow.log_prob_layers(x)
    for l, t in enumerate(flow.transform):
        j = torch.stack([torch.autograd.functional.jacobian(lambda v: t(v[None])[0][0], xi) for xi in lay.points[l]])
        torch.testing.assert_close(lay.logdets[l], torch.linalg.slogdet(j)[1], atol=1e-9, rtol=0)
    # a grid sum over a box twice the moons' holds all the mass
    gr = moons.grid(200, tuple((2 * lo, 2 * hi) for lo, hi in moons.bounds))
    X, Y = torch.meshgrid(gr.x, gr.y, indexing='xy')
    with torch.no_grad(): lq = flow.log_prob(torch.stack([X, Y], -1).double())
    assert abs(float(lq.exp().sum() * gr.cell_area) - 1) < 1e-3


@pytest.mark.parametrize('seed', SEEDS)
def test_round_trip_and_inverse_logdet(moons_runs, seed):
    "Exercise 3: z -> f^-1(z) -> f drifts by float32 rounding only; the two log-dets cancel."
    flow = moons_runs[seed].flow
    z = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        x, l_inv = flow.transform.inverse(z)
        z2, l_fwd = flow.transform(x)
    assert float((z2 - z).abs().max()) < 1e-4
    torch.testing.assert_close(l_inv, -l_fwd, atol=1e-4, rtol=0)


@pytest.fixture(scope='module')
def eight_runs():
    "Section 6's runs: the same flow and budget (250 steps) by likelihood and by reverse KL, per seed."
    return {(obj, s): Trainer(spline_flow(s), '8gaussians', objective=obj, seed=s, eval_every=125, **recipe(250)).fit(250)
            for s in SEEDS for obj in ('nll', 'rkl')}


@pytest.mark.parametrize('seed', SEEDS)
def test_mode_covering_against_mode_seeking(eight_runs, seed):
    "Section 6: likelihood covers the eight modes evenly; reverse KL shares mass out unevenly and pays in the forward KL."
    nll, rkl = eight_runs['nll', seed], eight_runs['rkl', seed]
    sh = {k: mode_shares(t.flow.sample(4000, seed=1)) for k, t in (('nll', nll), ('rkl', rkl))}
    imb = {k: float(v.max() / v.min().clamp_min(1 / 4000)) for k, v in sh.items()}
    assert ((sh['nll'] > 1 / 16) & (sh['nll'] < 1 / 4)).all(), sh['nll']
    assert sh['rkl'].min() < sh['nll'].min() and imb['rkl'] > 2 * imb['nll'], (sh, imb)
    assert rkl.trace.last.kl > nll.trace.last.kl   # (its own reverse KL is not always the smaller one after 250 steps: seed 1)
    gv = gradient_variance(rkl.flow, toy('8gaussians').log_prob, batch_size=128, n_batches=10, seed=seed)
    assert gv['path'].variance / gv['standard'].variance > 0.5   # section 7: far from the optimum, path gradients gain little
    eight = toy('8gaussians')
    for t in (nll, rkl):   # the snapshot's reverse KL against a fresh Monte Carlo estimate
        with torch.no_grad(): x, lq = t.flow.rsample_and_log_prob((20000,), seed=7)
        d = lq.double() - eight.log_prob(x).double()
        assert abs(float(d.mean()) - t.trace.last.rkl) < 5 * float(d.std()) / math.sqrt(4096)


@pytest.mark.parametrize('seed', SEEDS)
def test_filament_and_gaps(eight_runs, seed):
    "Section 9: the likelihood-trained flow keeps many times the target's mass in the gaps, and squeezes them."
    eight, flow = toy('8gaussians'), eight_runs['nll', seed].flow
    gr = eight.grid(150)
    X, Y = torch.meshgrid(gr.x, gr.y, indexing='xy')
    pts = torch.stack([X, Y], -1).view(-1, 2)
    with torch.no_grad():
        lq = flow.log_prob(pts.float()).double()
        logdet = torch.stack(flow.log_prob_layers(pts.float()).logdets).sum(0)
    dist = torch.cdist(pts, CENTRES).min(1).values
    gaps, modes = dist > 4 * 0.5 / 1.414, dist < 0.5 / 1.414
    assert float(lq.exp()[gaps].sum()) > 5 * float(gr.log_prob.exp().view(-1)[gaps].sum())
    assert logdet[gaps].mean() < logdet[modes].mean() - 1
    with torch.no_grad(): assert float(flow.log_prob(torch.zeros(1, 2))) > float(eight.log_prob(torch.zeros(1, 2))) + 10


@pytest.mark.parametrize('seed', SEEDS)
def test_one_coupling_is_not_enough(eight_runs, seed):
    "Exercise 4: one spline coupling leaves x_1 Gaussian and ends far above the four-coupling flow's KL."
    one = Trainer(Flow.nsf(2, layers=1, hidden=32, bins=8, seed=seed), '8gaussians', seed=seed, eval_every=125, **recipe(250)).fit(250)
    assert one.trace.last.kl > eight_runs['nll', seed].trace.last.kl + 0.3
    an = one.flow.transform[0]
    z = torch.randn(1000, 2, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad(): x = one.flow.transform.inverse(z)[0]
    torch.testing.assert_close(x[:, 0], z[:, 0] * (-an.log_scale[0]).exp() + an.loc[0], atol=1e-5, rtol=0)


def jittered(teacher, eps, seed):
    q = spline_flow()
    q.load_state_dict(teacher.state_dict())
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in q.parameters(): p.add_(eps * torch.randn(p.shape, generator=g))
    return q


@pytest.mark.parametrize('seed', SEEDS)
def test_path_gradients_quiet_near_the_optimum(moons_runs, seed):
    "Section 7: at q = p the path gradient is zero; near it, far less noisy than the standard one, and less so farther off."
    teacher = spline_flow(); teacher.load_state_dict(moons_runs[seed].flow.state_dict()); teacher.requires_grad_(False)
    ratio = {}
    for eps in (0., 0.001, 0.03):
        gv = gradient_variance(jittered(teacher, eps, seed), teacher.log_prob, batch_size=128, n_batches=10, seed=seed)
        ratio[eps] = gv['path'].variance / gv['standard'].variance
    assert ratio[0.] < 1e-6 and ratio[0.001] < 0.5 and ratio[0.001] < ratio[0.03], ratio
    ml = {eps: (lambda gv: gv['path'].variance / gv['standard'].variance)(
              gradient_variance(jittered(teacher, eps, seed), teacher.log_prob, batch_size=128, n_batches=10, seed=seed,
                                sample=lambda n, g: teacher.sample(n, seed=g))) for eps in (0.001, 0.03)}
    assert ml[0.001] < 0.5 and ml[0.001] < ml[0.03], ml


@pytest.mark.parametrize('seed', SEEDS)
def test_one_dimensional_change_of_variables(seed):
    "Section 2: q(x) = phi(f(x)) f'(x) for f(x) = x + 3x^3 integrates to one and matches draws f^-1(z), bin by bin."
    f, df = lambda x: x + 3 * x ** 3, lambda x: 1 + 9 * x ** 2
    phi = lambda z: np.exp(-z ** 2 / 2) / np.sqrt(2 * np.pi)
    z = np.random.default_rng(seed).standard_normal(20_000)
    lo, hi = -np.abs(z) - 1, np.abs(z) + 1
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = np.where(f(mid) < z, mid, lo), np.where(f(mid) < z, hi, mid)
    draws = (lo + hi) / 2
    np.testing.assert_allclose(f(draws), z, atol=1e-9)
    counts, edges = np.histogram(draws, bins=30, range=(-1.5, 1.5))
    mid = (edges[:-1] + edges[1:]) / 2
    expect = len(z) * phi(f(mid)) * df(mid) * (edges[1] - edges[0])
    assert (np.abs(counts - expect) < 5 * np.sqrt(expect) + 0.02 * expect).all()


@pytest.mark.parametrize('seed', SEEDS)
def test_gaussian_on_two_bumps(seed):
    "Section 6: a diagonal Gaussian (one ActNorm) on two bumps: likelihood matches the moments, reverse KL sits on the heavy bump."
    D = torch.distributions
    c, sd, w = torch.tensor([[-2., 0.], [2., 0.]]), 0.5, torch.tensor([.7, .3])
    two = D.MixtureSameFamily(D.Categorical(w), D.Independent(D.Normal(c, torch.full_like(c, sd)), 1))
    fit = {obj: Trainer(Flow([ActNorm(2)]), two, objective=obj, seed=seed, eval_every=100, **{**recipe(300), 'lr': 0.05}).fit(300)
           for obj in ('nll', 'rkl')}
    ms = {k: (t.flow.transform[0].loc.detach(), (-t.flow.transform[0].log_scale).exp().detach()) for k, t in fit.items()}
    torch.testing.assert_close(ms['nll'][0], torch.tensor([-0.8, 0.]), atol=0.06, rtol=0)
    torch.testing.assert_close(ms['nll'][1], torch.tensor([1.9, 0.5]), atol=0.05, rtol=0)
    torch.testing.assert_close(ms['rkl'][0], c[0], atol=0.03, rtol=0)
    torch.testing.assert_close(ms['rkl'][1], torch.tensor([sd, sd]), atol=0.02, rtol=0)
    assert abs(fit['rkl'].trace.last.rkl + math.log(0.7)) < 0.01
    assert fit['rkl'].trace.last.val_nll > fit['nll'].trace.last.val_nll + 3


@pytest.mark.parametrize('seed', SEEDS)
def test_likelihood_closest_after_the_same_budget(seed):
    "Section 8: after 200 steps each, every objective learns the moons, and likelihood is closest in KL."
    kw = dict(recipe(200), seed=seed, eval_every=50)
    smooth = lambda: Flow.realnvp(2, layers=4, hidden=32, activation='silu', seed=seed)
    from mlenb.flows import ContinuousFlow
    runs = {'nll': Trainer(smooth(), 'moons', objective='nll', **kw).fit(200),
            'dsm': Trainer(smooth(), 'moons', objective='dsm', **kw).fit(200),
            'cfm': Trainer(ContinuousFlow(2, hidden=(64, 64), steps=8, seed=seed), 'moons', objective='cfm', **{**kw, 'val_size': 1000}).fit(200)}
    assert all(t.trace.last.kl < t.trace[0].kl - 0.3 for t in runs.values())
    assert runs['nll'].trace.last.kl < min(runs['dsm'].trace.last.kl, runs['cfm'].trace.last.kl)


@pytest.mark.parametrize('seed', [1, 2])
def test_digits_flow_beats_the_baselines(seed):
    "Section 10 (the chapter runs seed 0): 400 steps of the digits recipe beat both baselines by 0.3 to 0.5 bits per dimension."
    from mlenb.data import digits
    from mlenb.flows import Logit, checkerboard, bits_per_dim
    X, _ = digits()
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train, test = X[perm[:1500]], X[perm[1500:]]
    counts = torch.stack([(train == v).sum(0) for v in range(17)], -1).double() + 1
    hist = float(-(counts / counts.sum(-1, keepdim=True)).log()[torch.arange(64), test.long()].sum(1).mean() / (64 * math.log(2)))
    flow = Flow([Logit(64), *Flow.nsf(64, layers=4, hidden=64, bins=8, mask=checkerboard(8, 8), seed=seed).transform])
    Trainer(flow, train, dequantize=17, lr=1e-3, batch_size=256, schedule='cosine', total_steps=400, seed=seed, eval_every=50,
            grid_every=0, progress=False).fit(400)
    gap = hist - bits_per_dim(flow, test, 17, samples=4)
    assert 0.3 < gap < 0.5, gap
