"""What torch users expect of `mlenb.flows`, each against an oracle where one exists: empty sample shapes, torch's
global generator when no seed is given, a flow cast after its Trainer was built, two trainers on one flow, layers
of different dimensions, runs that diverge (a non-finite loss, or a finite one that runs away), the float32 spline
inverse at extreme parameters, and `torch.func` (vmap, grad, jacrev) against plain autograd."""
import copy, json, math

import pytest
import torch
from torch.distributions import MultivariateNormal

from mlenb.flows import *
from mlenb.flows import _rqs_reference, _RQSplineFn

F64 = torch.float64

PRESETS = {
    'realnvp': lambda **kw: Flow.realnvp(2, layers=4, hidden=16, **kw),
    'maf': lambda **kw: Flow.maf(2, layers=4, hidden=16, **kw),
    'nsf': lambda **kw: Flow.nsf(2, layers=4, hidden=16, bins=8, **kw),
    'nsf_autoregressive': lambda **kw: Flow.nsf(2, layers=4, hidden=16, bins=8, autoregressive=True, **kw),
}
MODELS = {**PRESETS, 'continuous': lambda **kw: ContinuousFlow(2, hidden=16, steps=4, **kw)}


def perturbed(name, dtype=torch.float32, scale=0.3):
    "A seeded model with noise on every parameter: a fresh one is its base, with zero last layers."
    m = MODELS[name](seed=0).to(dtype)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters(): p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return m


def test_every_preset_is_covered():
    assert {k for k, v in vars(Flow).items() if isinstance(v, classmethod)} == {'realnvp', 'maf', 'nsf'}


# ---- sample shapes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', MODELS)
def test_empty_sample_shapes(name):
    f = perturbed(name)
    for shape in [(0,), 0, (0, 3), (3, 0)]:
        want = (*((shape,) if isinstance(shape, int) else shape), 2)
        assert f.sample(shape).shape == want and f.rsample(shape).shape == want
    assert f.log_prob(torch.zeros(0, 2)).shape == (0,) and f.log_prob(torch.zeros(3, 0, 2)).shape == (3, 0)
    if isinstance(f, Flow):
        x, lq = f.rsample_and_log_prob((0, 4))
        assert x.shape == (0, 4, 2) and lq.shape == (0, 4)


@pytest.mark.parametrize('name', PRESETS)
def test_empty_batches_pass_through_every_layer(name):
    f = perturbed(name)
    for t in f.transform:
        for fn in (t, t.inverse):
            z, l = fn(torch.zeros(0, 2))
            assert z.shape == (0, 2) and l.shape == (0,)


# ---- randomness: torch's global generator when no seed is given ---------------------------------------------
@pytest.mark.parametrize('name', MODELS)
def test_manual_seed_repeats_draws_as_torch_distributions_do(name):
    f = perturbed(name)
    torch.manual_seed(0); a = f.sample(3)
    torch.manual_seed(0); b = f.sample(3)
    c = f.sample(3)
    assert torch.equal(a, b) and not torch.equal(b, c)
    torch.manual_seed(0)
    with torch.no_grad():   # the oracle: the base's draws are torch.randn's from the global generator, pushed through the flow
        want = f.transform.inverse(torch.randn(3, 2))[0] if isinstance(f, Flow) else f._integrate(torch.randn(3, 2), 0., 1., False)[0]
    torch.testing.assert_close(a, want, rtol=0, atol=0)


def test_manual_seed_repeats_losses_and_other_bases():
    f = perturbed('nsf')
    for draw in (lambda: reverse_kl_loss(f, lambda x: -0.5 * (x * x).sum(-1), n=64),
                 lambda: ssm_loss(f, torch.ones(8, 2)), lambda: dsm_loss(f, torch.ones(8, 2)),
                 lambda: f.rsample_and_log_prob(5)[1],
                 lambda: Flow(AffineCoupling(2), base=MultivariateNormal(torch.zeros(2), torch.eye(2))).sample(4),
                 lambda: RandomPermutation(6).perm):
        torch.manual_seed(1); a = draw()
        torch.manual_seed(1); b = draw()
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# ---- the flow changed under its trainer -------------------------------------------------------------------
def small(seed=0): return Flow.nsf(2, layers=2, hidden=16, bins=8, seed=seed)
def make_trainer(flow, target='moons', **kw):
    return Trainer(flow, target, **{'batch_size': 128, 'val_size': 500, 'grid_every': 0, 'progress': False, 'lr': 3e-3, 'schedule': 'constant', **kw})
def views_of(tr):
    "Every trainable parameter is a view of the trainer's flat buffer, in order."
    base, off = tr._flat.data_ptr(), 0
    for p in tr.flow.parameters():
        if p.data_ptr() != base + off * p.element_size(): return False
        off += p.numel()
    return off == tr._flat.numel()


def test_a_second_trainer_does_not_disconnect_the_first():
    f = small()
    t1 = make_trainer(f, 'moons')
    t2 = make_trainer(f, '8gaussians')
    t1.step(5)
    alone = small()                          # the oracle: t1 trains exactly as if it were the flow's only trainer
    ta = make_trainer(alone, 'moons')
    ta.step(5)
    for (k, v), w in zip(f.state_dict().items(), alone.state_dict().values()): assert torch.equal(v, w), k
    assert views_of(t1)
    before = copy.deepcopy(f.state_dict())
    t2.step(3)                               # both keep working, each with its own optimiser state
    assert views_of(t2) and any(not torch.equal(before[k], v) for k, v in f.state_dict().items())
    now = torch.cat([p.detach().reshape(-1) for p in f.parameters()])
    t1._own_parameters()
    assert torch.equal(t1._flat.detach(), now)   # taken back with the values t2 left
    t1.step(2)
    assert t1.optimizer.state[t1._flat]['step'] == 7 and t2.optimizer.state[t2._flat]['step'] == 3


def test_a_cast_after_the_trainer_is_followed():
    f = small()
    tr = make_trainer(f)
    tr.step(4)
    state = {k: v.clone() for k, v in tr.optimizer.state[tr._flat].items()}
    flat = tr._flat.detach().clone()
    f.double()
    tr._own_parameters()                     # what step() does first
    assert tr._flat.dtype == F64 and views_of(tr) and tr.target.val.dtype == F64
    torch.testing.assert_close(tr._flat.detach(), flat.double(), rtol=0, atol=0)
    for k, v in state.items():               # Adam's moments and step count carried over, cast
        torch.testing.assert_close(tr.optimizer.state[tr._flat][k], v.double() if k != 'step' else v, rtol=0, atol=0)
    snap = tr.step(3)
    assert f.dtype == F64 and views_of(tr) and math.isfinite(snap.loss) and math.isfinite(snap.val_nll) and tr.step_count == 7
    f.float()
    assert math.isfinite(tr.step(2).loss) and tr._flat.dtype == torch.float32 and views_of(tr)


def test_a_moved_or_rebuilt_flow_is_refused_with_what_to_do():
    f = small()
    tr = make_trainer(f)
    f.transform.layers.append(AffineCoupling(2))
    with pytest.raises(ValueError, match='parameters changed since this Trainer was built.*build a new Trainer'): tr.step()


# ---- dimensions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('layers, match', [
    (lambda: [AffineCoupling(2), AffineCoupling(3)], r'layer 1 \(AffineCoupling\) acts on 3-D points, but layer 0 \(AffineCoupling\) on 2-D'),
    (lambda: [ActNorm(3), SplineCoupling(3), Reverse(2)], r'layer 2 \(Reverse\) acts on 2-D points, but layer 0 \(ActNorm\) on 3-D'),
    (lambda: [MaskedAutoregressive(4), Chain(LULinear(5), ActNorm(5))], r'layer 1 \(Chain\) acts on 5-D points'),
])
def test_layers_of_different_dimensions_are_refused(layers, match):
    with pytest.raises(ValueError, match=match): Flow(layers())
    assert Flow([ActNorm(3), SplineCoupling(3), Reverse(3)]).dim == 3


# ---- divergence ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('objective', ['nll', 'rkl', 'rkl_path', 'nll_path', 'dsm'])
def test_an_absurd_learning_rate_diverges(objective):
    f = small()
    tr = make_trainer(f, objective=objective, lr=1e300)
    start = copy.deepcopy(f.state_dict())
    with pytest.raises(TrainingDiverged, match=r'training diverged: .*Restored the state of step 0; try a lower lr \(now 1e\+300\)'):
        tr.fit(200)
    assert tr.trace.last.event == 'diverged' and tr.step_count == 0
    for k, v in f.state_dict().items(): assert torch.equal(v, start[k]), k


@pytest.mark.parametrize('kw', [{'lr': 1e300}, {'weight_decay': 1e300}])
def test_one_update_that_overflows_diverges(kw):
    "The loss of step 1 is computed before its update, so only the parameters tell: they are checked after every call."
    f = small()
    tr = make_trainer(f, **kw)
    with pytest.raises(TrainingDiverged, match=r'the update of step 1 overflowed: layer \d+ \(\w+\) has non-finite parameters'): tr.step(1)
    assert all(torch.isfinite(p).all() for p in f.parameters()) and tr.trace.last.event == 'diverged'


@pytest.mark.parametrize('objective, watched', [('nll', 'validation NLL'), ('rkl', 'reverse KL estimate')])
def test_a_finite_loss_that_runs_away_diverges(objective, watched):
    "lr=3 keeps the nll loss finite (it ends near 100 nats) but far above the start: a divergence, not a result."
    tr = make_trainer(Flow.nsf(2, layers=4, hidden=32, seed=0), objective=objective, lr=3., eval_every=50)
    with pytest.raises(TrainingDiverged, match=rf'the {watched} rose to .* nats per dimension above its start .*max_rise=10\)'):
        tr.fit(1000)
    snaps = list(tr.trace)
    bad, first = snaps[-2], snaps[0]
    value = (lambda s: s.rkl) if objective == 'rkl' else (lambda s: s.val_nll)
    assert snaps[-1].event == 'diverged' and bad.event == 'train' and (value(bad) - value(first)) / 2 > 10
    assert all((value(s) - value(first)) / 2 <= 10 for s in snaps[1:-2])   # it stopped at the first one past the line
    assert tr.step_count == snaps[-3].step                                    # back to the last snapshot below it


def test_max_rise_none_lets_a_finite_run_away_end():
    tr = make_trainer(Flow.nsf(2, layers=4, hidden=32, seed=0), lr=3., eval_every=50, max_rise=None)
    tr.fit(200)
    assert tr.step_count == 200 and tr.trace.last.kl > 20 and tr.stopped is None


@pytest.mark.parametrize('bad, err', [(0, ValueError), (-1., ValueError), ('10', TypeError), (math.nan, ValueError)])
def test_bad_max_rise_names_the_argument(bad, err):
    with pytest.raises(err, match='max_rise'): make_trainer(small(), max_rise=bad)


def test_the_cli_case_fails_with_the_message():
    "`mlenb flow --objective rkl --lr 3`: exit status 1 and the reason, not a KL of millions with status 0."
    from mlenb.cli import main
    import contextlib, io
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = main(['flow', '--objective', 'rkl', '--lr', '3', '--steps', '400', '--quiet', '--json'])
    assert rc == 1 and json.loads(out.getvalue())['error'].startswith('training diverged')


# ---- the float32 spline inverse at extreme parameters -------------------------------------------------------
def test_float32_spline_inverse_with_extreme_parameters_is_finite():
    "The issue's repro: 72 of these 200,000 log-dets were NaN (the root of the quadratic a rounding beyond its bin)."
    g = torch.Generator().manual_seed(0)
    p = torch.randn(200_000, 23, generator=g) * 6
    x = torch.rand(200_000, generator=g) * 10 - 5
    y, _ = rq_spline(x.double(), p.double(), 5.)
    xi, l = rq_spline(y.float(), p, 5., inverse=True)
    assert torch.isfinite(xi).all() and torch.isfinite(l).all() and (xi.abs() <= 5).all()
    # monotone, as the map is: within one row of parameters, a larger y maps to a larger x
    q = p[:1].expand(1001, -1)
    ys = torch.linspace(-5, 5, 1001)
    xs, ls = rq_spline(ys, q, 5., inverse=True)
    assert (xs.diff() >= 0).all() and torch.isfinite(ls).all()


def test_float32_spline_inverse_matches_float64_where_it_is_well_conditioned():
    "Moderate parameters: the clamp changes nothing beyond float32 rounding."
    g = torch.Generator().manual_seed(1)
    p = torch.randn(5000, 23, generator=g, dtype=F64)
    y = torch.rand(5000, generator=g, dtype=F64) * 10 - 5
    x64, l64 = _rqs_reference(y, p, 5., inverse=True)
    x32, l32 = rq_spline(y.float(), p.float(), 5., inverse=True)
    eps, K = torch.finfo(torch.float32).eps, 8
    # first order: the knots' heights are sums of K rounded softmax terms and y is rounded, about (K + 1) eps of the
    # interval [0, 1] in all, which moves x by that times the slope dx/dy = exp(l64) (times 10, the interval's width);
    # the root's own arithmetic adds a few eps of the interval and of x.
    tol = 4 * eps * (10 * (K + 1) * l64.exp() + 10 + x64.abs())
    err = (x32.double() - x64).abs()
    assert (err <= tol).all(), f"{int((err > tol).sum())} points, worst ratio {float((err / tol).max()):.3g}"


# ---- torch.func -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', PRESETS)
def test_vmap_over_log_prob(name):
    f = perturbed(name, F64)
    x = torch.randn(5, 7, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    torch.testing.assert_close(torch.func.vmap(f.log_prob)(x), f.log_prob(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.func.vmap(f.log_prob)(x[:, 0]), f.log_prob(x[:, 0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('name', PRESETS)
def test_jacrev_and_hessian_of_log_prob_match_autograd(name):
    f = perturbed(name, F64)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    xg = x.clone().requires_grad_()
    score = torch.autograd.grad(f.log_prob(xg).sum(), xg)[0]
    torch.testing.assert_close(torch.func.vmap(torch.func.jacrev(f.log_prob))(x), score, rtol=1e-10, atol=1e-10)
    H = torch.func.jacrev(torch.func.jacrev(f.log_prob))(x[0])
    torch.testing.assert_close(H, torch.autograd.functional.hessian(f.log_prob, x[0]), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize('name', PRESETS)
def test_grad_over_parameters_matches_autograd(name):
    f = perturbed(name, F64)
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    params = {k: v.detach() for k, v in f.named_parameters()}
    g = torch.func.grad(lambda ps: torch.func.functional_call(f, ps, (x,)).mean())(params)
    want = torch.autograd.grad(f.log_prob(x).mean(), list(f.parameters()))
    for (k, a), b in zip(g.items(), want): torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=k)


def test_the_fused_spline_under_torch_func():
    "The fused spline (an autograd Function with setup_context): jacrev and per-row vmap against the reference's autograd."
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(40, generator=g, dtype=F64) * 8 - 4)
    p = torch.randn(40, 14, generator=g, dtype=F64)
    fused = lambda v, q: _RQSplineFn.apply(v, q, 3.)[:2]
    J = torch.func.jacrev(lambda v: fused(v, p)[0])(x)
    xg = x.clone().requires_grad_()
    y, l = _rqs_reference(xg, p, 3.)
    torch.testing.assert_close(J.diagonal(), l.exp().detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(J - torch.diag(J.diagonal()), torch.zeros_like(J), rtol=0, atol=0)
    gp = torch.func.grad(lambda q: fused(x, q)[1].sum())(p)
    pg = p.clone().requires_grad_()
    torch.testing.assert_close(gp, torch.autograd.grad(_rqs_reference(x, pg, 3.)[1].sum(), pg)[0], rtol=1e-10, atol=1e-12)
    per_row = torch.func.vmap(lambda v, q: fused(v[None], q[None])[1][0])(x, p)
    torch.testing.assert_close(per_row, l.detach(), rtol=1e-12, atol=1e-12)
    H = torch.func.hessian(lambda v: fused(v, p)[1].sum())(x)         # second order through the Function, against the reference's
    torch.testing.assert_close(H, torch.autograd.functional.hessian(lambda v: _rqs_reference(v, p, 3.)[1].sum(), x), rtol=1e-9, atol=1e-9)
