"""Tests of `mlenb.flows`' transforms, `Flow` and objectives: every transform against the autograd Jacobian
and its own inverse, the spline at its edges, the flow's density against quadrature, the gradient estimators,
and bad input. The examples live in the flows notebooks, nbs/03a_flows_transforms.ipynb to nbs/03e_flows_trainer.ipynb; the training runs in tests/test_flows_train.py."""
import copy, math

import pytest
import torch
from torch import nn
from torch.distributions import Distribution, MultivariateNormal

from mlenb.flows import *
from flow_helpers import actnorm, perturb
from mlenb.flows import _rqs_reference, _rqs_tables, _RQSplineFn, _D_SHIFT

F64 = torch.float64


# Every transform, as a factory of the dimension. Splines use a small bound so that some test points
# land in the tails.
TRANSFORMS = {
    'affine_coupling': lambda d: AffineCoupling(d, hidden=16),
    'affine_coupling_interleaved': lambda d: AffineCoupling(d, mask=torch.arange(d) % 2 == 1, hidden=16),
    'spline_coupling': lambda d: SplineCoupling(d, hidden=16, bins=5, bound=2.),
    'spline_coupling_interleaved': lambda d: SplineCoupling(d, mask=torch.arange(d) % 2 == 0, hidden=16, bins=5, bound=2.),
    'maf': lambda d: MaskedAutoregressive(d, hidden=16),
    'spline_autoregressive': lambda d: SplineAutoregressive(d, hidden=16, bins=5, bound=2., order=torch.arange(d - 1, -1, -1)),
    'actnorm': actnorm,
    'lu_linear': lambda d: LULinear(d, seed=0),
    'reverse': lambda d: Reverse(d),
    'random_permutation': lambda d: RandomPermutation(d, seed=3),
    'chain': lambda d: Chain(actnorm(d), SplineCoupling(d, hidden=8, bins=4, bound=2.), LULinear(d, seed=1),
                             MaskedAutoregressive(d, hidden=8), Reverse(d), AffineCoupling(d, hidden=8)),
}
DIMS = [2, 3, 4]


def make(name, d, dtype=torch.float32, scale=0.3):
    "The transform `name` in `d` dimensions with seeded weights, perturbed away from the identity."
    torch.manual_seed(d)
    return perturb(TRANSFORMS[name](d), scale).to(dtype)


def points(n, d, dtype, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64).mul(1.5).to(dtype)


# ---- every transform ------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', TRANSFORMS)
@pytest.mark.parametrize('d', DIMS)
def test_shapes(name, d):
    t = make(name, d)
    z, l = t(points(7, d, torch.float32))
    assert z.shape == (7, d) and l.shape == (7,)
    x, li = t.inverse(z)
    assert x.shape == (7, d) and li.shape == (7,)


@pytest.mark.parametrize('name', TRANSFORMS)
@pytest.mark.parametrize('d', DIMS)
def test_log_det_matches_autograd_jacobian(name, d):
    "log|det J| of forward and of inverse equal slogdet of torch.autograd.functional.jacobian, in float64."
    t = make(name, d, F64)
    for x in points(4, d, F64, seed=d):
        J = torch.autograd.functional.jacobian(lambda v: t(v[None])[0][0], x)
        torch.testing.assert_close(t(x[None])[1][0], torch.linalg.slogdet(J)[1], rtol=1e-9, atol=1e-9)
        z = t(x[None])[0][0].detach()
        Ji = torch.autograd.functional.jacobian(lambda v: t.inverse(v[None])[0][0], z)
        torch.testing.assert_close(t.inverse(z[None])[1][0], torch.linalg.slogdet(Ji)[1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('name', TRANSFORMS)
@pytest.mark.parametrize('d', DIMS)
@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (F64, 1e-10)])
def test_inverse_undoes_forward(name, d, dtype, tol):
    """Round trips to 1e-5 (float32) and 1e-10 (float64). The perturbation is moderate: a nearly flat spline bin
    (slope 1e-5, which a large perturbation produces) amplifies the rounding of its output by 1e5 in any implementation."""
    t = make(name, d, dtype, scale=0.1)
    x = points(256, d, dtype)
    with torch.no_grad():
        z, l = t(x)
        x2, li = t.inverse(z)
    assert (x2 - x).abs().max() <= tol
    assert (li + l).abs().max() <= tol * 100
    with torch.no_grad():   # and the other way round, where rounding in the inverse is amplified by the forward slope
        z2, l2 = t(t.inverse(x)[0])
    assert ((z2 - x).abs().amax(-1) <= tol * (1 + l2.exp())).all()


@pytest.mark.parametrize('name', TRANSFORMS)
def test_gradients_flow_to_every_parameter(name):
    t = make(name, 3)
    x = points(64, 3, torch.float32).requires_grad_()
    z, l = t(x)
    (z.pow(2).sum() - l.sum()).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for n, p in t.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
        if 'lower' not in n and 'upper' not in n: assert p.grad.abs().sum() > 0, n   # (LU's masked-out halves get no gradient)


@pytest.mark.parametrize('name', [n for n in TRANSFORMS if n not in ('reverse', 'random_permutation', 'actnorm', 'lu_linear', 'chain')])
def test_fresh_layer_is_the_identity(name):
    t = TRANSFORMS[name](3)
    x = points(32, 3, torch.float32)
    z, l = t(x)
    torch.testing.assert_close(z, x, atol=1e-5, rtol=0); torch.testing.assert_close(l, torch.zeros(32), atol=1e-5, rtol=0)


@pytest.mark.parametrize('name', TRANSFORMS)
def test_x_dependent_flag(name):
    "Transforms that declare a constant log-det have one."
    t = make(name, 3, F64)
    _, l = t(points(16, 3, F64))
    if not t.x_dependent: torch.testing.assert_close(l, l[:1].expand(16))
    else: assert l.std() > 0


# ---- Logit: the same properties on its domain, the unit cube --------------------------------------------
@pytest.mark.parametrize('d', DIMS)
@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (F64, 1e-10)])
def test_logit_on_the_cube(d, dtype, tol):
    t = Logit(d, alpha=0.05)
    x = torch.rand(256, d, generator=torch.Generator().manual_seed(d), dtype=F64).to(dtype)
    x[0] = 0.; x[1] = 1.                                              # the cube's corners are inside its domain
    z, l = t(x)
    x2, li = t.inverse(z)
    assert z.shape == (256, d) and torch.isfinite(z).all() and torch.isfinite(l).all()
    assert (x2 - x).abs().max() <= tol and (li + l).abs().max() <= tol * 100
    if dtype == F64:
        for v in x[:4]:
            J = torch.autograd.functional.jacobian(lambda u: t(u[None])[0][0], v)
            torch.testing.assert_close(t(v[None])[1][0], torch.linalg.slogdet(J)[1], rtol=1e-9, atol=1e-9)
    xg = x.clone().requires_grad_()
    (t(xg)[0].pow(2).sum() - t(xg)[1].sum()).backward()
    assert torch.isfinite(xg.grad).all() and t.x_dependent


def test_logit_off_its_domain_is_zero_density_with_finite_gradients():
    flow = Flow([Logit(2), *Flow.realnvp(2, layers=2, hidden=8, seed=0).transform])
    x = torch.tensor([[.5, .5], [1.5, .5], [-.2, .3]], requires_grad=True)
    lp = flow.log_prob(x)
    assert torch.isfinite(lp[0]) and (lp[1:] == -math.inf).all()
    lp[0].backward()
    assert torch.isfinite(x.grad).all()


# ---- the spline ------------------------------------------------------------------------------------------
K, B = 6, 3.


def spline_params(m, dtype, seed=0, scale=2.):
    return torch.randn(m, 3 * K - 1, generator=torch.Generator().manual_seed(seed), dtype=F64).mul(scale).to(dtype)


def knots(p, row):
    "The knots of each spline (M, K+1) in data units: row 0 input side, row 1 output side."
    _, wh, cum, _ = _rqs_tables(p, K)
    return torch.cat([torch.zeros_like(cum[:, row, :1]), cum[:, row]], 1) * (2 * B) - B


@pytest.mark.parametrize('dtype', [torch.float32, F64])
@pytest.mark.parametrize('inverse', [False, True])
def test_spline_edges_and_tails_are_finite(dtype, inverse):
    "Inputs exactly at every knot, at ±bound, just inside and outside it, and far in the tails: finite values and gradients."
    M = 8
    p0 = spline_params(M, dtype)
    kn = knots(p0, int(inverse)).detach()
    far = torch.tensor([-1e4, -B - 1e-3, -B, -B + 1e-6, B - 1e-6, B, B + 1e-3, 1e4], dtype=dtype)
    x = torch.cat([kn.reshape(-1), far]).contiguous()
    p = torch.cat([p0.repeat_interleave(K + 1, 0), p0[:len(far)]])
    for fused in (False, True):
        xg, pg = x.clone().requires_grad_(), p.clone().requires_grad_()
        if inverse: y, l = rq_spline(xg, pg, B, inverse=True)
        elif fused: y, l = _RQSplineFn.apply(xg, pg, B)[:2]
        else: y, l = _rqs_reference(xg, pg, B)
        assert torch.isfinite(y).all() and torch.isfinite(l).all()
        (y.sum() + l.sum()).backward()
        assert torch.isfinite(xg.grad).all() and torch.isfinite(pg.grad).all()
        out = x.abs() > B
        assert torch.equal(y[out].detach(), x[out]) and (l[out] == 0).all()           # the tails are the identity
        torch.testing.assert_close(xg.grad[out], torch.ones(int(out.sum()), dtype=dtype))


def test_spline_knots_map_to_knots():
    p = spline_params(5, F64)
    y, _ = rq_spline(knots(p, 0).reshape(-1), p.repeat_interleave(K + 1, 0), B)
    torch.testing.assert_close(y.view(5, K + 1), knots(p, 1), rtol=0, atol=1e-12)


def test_spline_is_monotone_and_continuous_in_slope():
    p = spline_params(1, F64)
    x = torch.linspace(-B - 1, B + 1, 4001, dtype=F64)
    y, l = rq_spline(x, p.expand(len(x), -1), B)
    assert (y.diff() > 0).all()
    kn = knots(p, 0)[0]                                  # the slope does not jump at a knot, nor at ±bound
    h = 1e-11
    _, left = rq_spline(kn - h, p.expand(K + 1, -1), B)
    _, right = rq_spline(kn + h, p.expand(K + 1, -1), B)
    torch.testing.assert_close(left, right, rtol=0, atol=1e-6)


@pytest.mark.parametrize('seed', range(3))
def test_fused_spline_matches_reference(seed):
    x = (torch.rand(300, generator=torch.Generator().manual_seed(seed), dtype=F64) * 2.4 - 1.2) * B
    p = spline_params(300, F64, seed)
    xa, pa = x.clone().requires_grad_(), p.clone().requires_grad_()
    xb, pb = x.clone().requires_grad_(), p.clone().requires_grad_()
    ya, la = _RQSplineFn.apply(xa, pa, B)[:2]
    yb, lb = _rqs_reference(xb, pb, B)
    torch.testing.assert_close((ya, la), (yb, lb), rtol=1e-12, atol=1e-12)
    w = torch.randn(300, dtype=F64)
    ((ya * w).sum() + la.sum()).backward(); ((yb * w).sum() + lb.sum()).backward()
    torch.testing.assert_close((xa.grad, pa.grad), (xb.grad, pb.grad), rtol=1e-10, atol=1e-10)


def test_fused_spline_gradcheck_and_second_derivatives():
    x = torch.linspace(-3.4, 3.4, 9, dtype=F64).requires_grad_()
    p = spline_params(9, F64, 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: _RQSplineFn.apply(a, b, B)[:2], (x, p))
    assert torch.autograd.gradgradcheck(lambda a, b: _RQSplineFn.apply(a, b, B)[:2], (x, p))


def test_spline_with_extreme_parameters_stays_finite():
    p = spline_params(64, torch.float32, scale=40.)
    x = torch.linspace(-B, B, 64).requires_grad_()
    y, l = rq_spline(x, p.requires_grad_(), B)
    (y.sum() + l.sum()).backward()
    assert torch.isfinite(y).all() and torch.isfinite(l).all() and torch.isfinite(p.grad).all()


def test_spline_identity_parameters():
    p = torch.cat([torch.zeros(2 * K, dtype=F64), torch.full((K - 1,), _D_SHIFT, dtype=F64)]).expand(50, -1)
    x = torch.linspace(-5, 5, 50, dtype=F64)
    y, l = rq_spline(x, p, B)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-12); torch.testing.assert_close(l, torch.zeros(50, dtype=F64), rtol=0, atol=1e-12)


# ---- Flow -----------------------------------------------------------------------------------------------
PRESETS = {
    'realnvp': lambda d: Flow.realnvp(d, layers=4, hidden=16),
    'maf': lambda d: Flow.maf(d, layers=4, hidden=16),
    'nsf': lambda d: Flow.nsf(d, layers=4, hidden=16, bins=5, bound=3.),
    'nsf_autoregressive': lambda d: Flow.nsf(d, layers=3, hidden=16, bins=5, bound=3., autoregressive=True),
}


def flow_of(name, d=2, dtype=torch.float32, scale=0.3):
    torch.manual_seed(d)
    f = PRESETS[name](d)
    f.initialize(points(256, d, torch.float32, seed=5) * 1.3 + 0.5)
    return perturb(f, scale).to(dtype)


@pytest.mark.parametrize('name', PRESETS)
@pytest.mark.parametrize('d', [2, 3])
def test_flow_log_prob_is_the_change_of_variables(name, d):
    f = flow_of(name, d, F64)
    for x in points(3, d, F64, seed=9):
        J = torch.autograd.functional.jacobian(lambda v: f.transform(v[None])[0][0], x)
        z = f.transform(x[None])[0][0]
        ref = torch.distributions.Normal(torch.zeros(d, dtype=F64), 1.).log_prob(z).sum() + torch.linalg.slogdet(J)[1]
        torch.testing.assert_close(f.log_prob(x), ref, rtol=1e-9, atol=1e-9)


def cell_masses(f, h):
    "Cell centres of an h-grid over [-10, 10]^2 and the flow's mass in each cell (density times area)."
    g = torch.arange(-10, 10, h, dtype=F64) + h / 2
    X, Y = torch.meshgrid(g, g, indexing='xy')
    pts = torch.stack([X, Y], -1).view(-1, 2)
    with torch.no_grad(): return pts, torch.cat([f.log_prob(c).exp() for c in pts.split(50_000)]) * h * h


@pytest.mark.parametrize('name', PRESETS)
def test_flow_density_integrates_to_one(name):
    "Quadrature of exp(log_prob) over a wide 2-D grid (which holds all but about 1e-4 of the mass)."
    _, w = cell_masses(flow_of(name, 2, F64, scale=0.15), 0.04)
    assert abs(float(w.sum()) - 1) < 2e-3


@pytest.mark.parametrize('name', PRESETS)
def test_sample_and_rsample(name, device):
    f = flow_of(name).to(device)
    a, b = f.sample(100, seed=7), f.sample((100,), seed=7)
    assert torch.equal(a, b) and a.device.type == torch.device(device).type and not a.requires_grad
    assert not torch.equal(a, f.sample(100, seed=8))
    assert f.sample().shape == (2,) and f.sample((3, 4)).shape == (3, 4, 2)
    x = f.rsample(64, seed=1)
    x.pow(2).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in f.parameters())
    x, lq = f.rsample_and_log_prob(50, seed=2)
    torch.testing.assert_close(lq, f.log_prob(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('name', PRESETS)
def test_samples_follow_the_density(name):
    "The sample mean matches the mean computed by quadrature of the density."
    f = flow_of(name, 2, F64, scale=0.15)
    pts, w = cell_masses(f, 0.05)
    mean_q = (w[:, None] * pts).sum(0)
    s = f.sample(40_000, seed=0)
    torch.testing.assert_close(s.mean(0), mean_q, rtol=0, atol=4 * float(s.std(0).max()) / 200)


def test_flow_is_a_distribution_and_a_module():
    f = flow_of('nsf')
    assert isinstance(f, Distribution) and isinstance(f, nn.Module)
    assert f.event_shape == (2,) and f.batch_shape == ()
    x = points(10, 2, torch.float32)
    g = Flow.nsf(2, layers=4, hidden=16, bins=5, bound=3.)
    g.load_state_dict(f.state_dict())
    torch.testing.assert_close(g.log_prob(x), f.log_prob(x))
    torch.testing.assert_close(f.to(F64).log_prob(x.double()), f.log_prob(x).double(), rtol=1e-5, atol=1e-5)
    assert f(x.double()).shape == (10,)                                  # forward is log_prob


def test_flow_with_another_base():
    base = MultivariateNormal(torch.zeros(2), torch.tensor([[2., .3], [.3, .5]]))
    f = Flow(perturb(AffineCoupling(2, hidden=8)), base=base)
    x = points(5, 2, torch.float32)
    z, l = f.transform(x)
    torch.testing.assert_close(f.log_prob(x), base.log_prob(z) + l)
    torch.testing.assert_close(f.sample(4, seed=3), f.sample(4, seed=3))
    with pytest.raises(ValueError, match='base: expected event shape'):
        Flow(AffineCoupling(3), base=base)


def test_log_prob_layers_energy_and_score():
    f = flow_of('nsf', 2, F64)
    x = points(20, 2, F64)
    L = f.log_prob_layers(x)
    assert len(L.points) == len(L.logdets) + 1 == len(f.transform) + 1 and L.names[0] == 'ActNorm'
    torch.testing.assert_close(L.log_prob, f.log_prob(x))
    e = f.energy(x) + f.log_prob(x)
    torch.testing.assert_close(e, e[:1].expand(20))                     # a constant: ActNorm's log-det
    xg = x.clone().requires_grad_()
    torch.testing.assert_close(score(f, x, create_graph=False), torch.autograd.grad(f.log_prob(xg).sum(), xg)[0])


def test_seeded_presets():
    for make in (lambda s: Flow.realnvp(2, seed=s), lambda s: Flow.maf(3, seed=s), lambda s: Flow.nsf(2, seed=s),
                 lambda s: ContinuousFlow(2, seed=s)):
        a, b, c = make(1).state_dict(), make(1).state_dict(), make(2).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a) and not all(torch.equal(a[k], c[k]) for k in a)
    state = torch.random.get_rng_state()
    Flow.nsf(2, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)            # the global generator is left alone


def test_initialize_standardises():
    f = Flow.nsf(2, layers=2, hidden=8)
    x = points(2000, 2, torch.float32) * torch.tensor([3., .2]) + 5
    z = f.initialize(x).log_prob_layers(x).points[1]
    torch.testing.assert_close(z.mean(0), torch.zeros(2), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(2), atol=1e-4, rtol=0)


# ---- objectives -----------------------------------------------------------------------------------------
def gaussian_log_p(x): return MultivariateNormal(torch.tensor([1., -1.]), torch.tensor([[1., .6], [.6, 1.]])).log_prob(x)


def test_nll_loss():
    f = flow_of('realnvp')
    x = points(30, 2, torch.float32)
    torch.testing.assert_close(nll_loss(f, x), -f.log_prob(x).mean())


def test_reverse_kl_estimators_agree_in_value_and_mean():
    f = flow_of('nsf')
    z = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(reverse_kl_loss(f, gaussian_log_p, z=z), reverse_kl_loss(f, gaussian_log_p, z=z, estimator='path'))
    st = gradient_variance(f, gaussian_log_p, batch_size=256, n_batches=48, seed=0)
    diff = float((st['standard'].mean - st['path'].mean).norm())
    se = math.sqrt(st['standard'].variance / 48) + math.sqrt(st['path'].variance / 48)
    assert diff < 4 * se, (diff, se)


def test_path_gradient_has_no_variance_at_the_target():
    "When q = p, the path gradient is exactly zero for every draw; the standard one is not."
    f = flow_of('nsf')
    frozen = copy.deepcopy(f)
    for p in frozen.parameters(): p.requires_grad_(False)
    st = gradient_variance(f, lambda x: frozen.log_prob(x), batch_size=128, n_batches=8)
    assert st['path'].variance < 1e-8 * st['standard'].variance and st['path'].mean_norm < 1e-5
    assert st['standard'].variance > 1e-4


def gaussian_sample(n, g):
    "Draws of `gaussian_log_p`'s Gaussian from the generator g."
    return torch.tensor([1., -1.]) + torch.randn(n, 2, generator=g) @ torch.linalg.cholesky(torch.tensor([[1., .6], [.6, 1.]])).T


@pytest.mark.parametrize('name', PRESETS)
def test_likelihood_estimators_agree_in_value_and_mean(name):
    "The path gradient of maximum likelihood has the likelihood gradient's mean, for every preset."
    f = flow_of(name)
    x = gaussian_sample(256, torch.Generator().manual_seed(0))
    torch.testing.assert_close(nll_loss(f, x, 'path', gaussian_log_p), nll_loss(f, x), rtol=1e-5, atol=1e-5)
    st = gradient_variance(f, gaussian_log_p, batch_size=256, n_batches=48, seed=0, sample=gaussian_sample)
    diff = float((st['standard'].mean - st['path'].mean).norm())
    se = math.sqrt(st['standard'].variance / 48) + math.sqrt(st['path'].variance / 48)
    assert diff < 4 * se, (diff, se)


@pytest.mark.parametrize('name', PRESETS)
def test_likelihood_path_gradient_is_zero_at_the_target(name):
    "When q = p, the likelihood's path gradient is zero for every draw (to rounding); the standard one is not."
    f = flow_of(name, dtype=torch.float64)
    frozen = copy.deepcopy(f).requires_grad_(False)
    st = gradient_variance(f, frozen.log_prob, batch_size=128, n_batches=8, sample=lambda n, g: frozen.sample(n, seed=g))
    assert st['path'].variance < 1e-12 * st['standard'].variance and st['path'].mean_norm < 1e-7
    assert st['standard'].variance > 1e-4


def test_score_matching_losses_at_the_base():
    "At a standard normal: SSM's expectation is -D/2, DSM's is the noise's own."
    f = Flow.nsf(2, layers=2, hidden=8, activation='silu')
    x = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0))
    assert abs(ssm_loss(f, x, seed=1).item() + 1) < 0.05
    sigma = 0.1   # the score at x + sigma*eps is -(x + sigma*eps), so sigma*s + eps = -sigma x + (1 - sigma^2) eps
    ref = 0.5 * 2 * (sigma ** 2 + (1 - sigma ** 2) ** 2)
    assert abs(dsm_loss(f, x, sigma=sigma, seed=1).item() - ref) < 0.05


def test_hutchinson_divergence_is_unbiased():
    torch.manual_seed(0)
    cnf = perturb(ContinuousFlow(2, hidden=16, steps=4), 0.3)
    hut = ContinuousFlow(2, hidden=16, steps=4, divergence='hutchinson')
    hut.load_state_dict(cnf.state_dict())
    x = points(8, 2, torch.float32)
    exact = cnf.log_prob(x)
    est = torch.stack([hut.log_prob(x, seed=s) for s in range(400)]).mean(0)
    torch.testing.assert_close(est, exact, rtol=0, atol=0.05)


def test_cfm_loss_and_ode_round_trip():
    cnf = perturb(ContinuousFlow(2, hidden=16, steps=16), 0.3)
    x = points(64, 2, torch.float32)
    assert torch.isfinite(cfm_loss(cnf, x, seed=0))
    z, _ = cnf._integrate(x, 1., 0., False)
    back, _ = cnf._integrate(z, 0., 1., False)
    torch.testing.assert_close(back, x, rtol=0, atol=1e-3)


# ---- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize('make_it,match', [
    (lambda: Flow.realnvp(1), 'dim=1: expected an integer >= 2'),
    (lambda: Flow.nsf(2, layers=0), 'layers=0'),
    (lambda: Flow.maf(3, layers=-1), 'layers=-1'),
    (lambda: Flow.nsf(2, bins=1), 'bins=1'),
    (lambda: Flow.nsf(2, bound=-1.), 'bound=-1.0'),
    (lambda: Flow.realnvp(2, hidden=0), 'hidden=0'),
    (lambda: Flow.realnvp(2, hidden=(64, -3)), 'hidden=(64, -3)'),
    (lambda: Flow.nsf(2, activation='softsign'), "activation='softsign'"),
    (lambda: SplineCoupling(1), 'dim=1'),
    (lambda: MaskedAutoregressive(1), 'dim=1'),
    (lambda: AffineCoupling(3, mask=[False, False, False]), 'mask='),
    (lambda: AffineCoupling(3, mask=[1, 0, 2]), 'mask='),
    (lambda: Permutation([0, 2]), 'perm='),
    (lambda: MADE(3, 2, order=[0, 1, 1]), 'order='),
    (lambda: Flow([]), 'transforms'),
    (lambda: ContinuousFlow(2, steps=0), 'steps=0'),
    (lambda: reverse_kl_loss(Flow.realnvp(2), gaussian_log_p, estimator='score'), "estimator='score'"),
])
def test_impossible_configurations_name_the_argument(make_it, match):
    with pytest.raises(ValueError, match=match.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[')):
        make_it()


@pytest.mark.parametrize('x,match', [
    (torch.zeros(4, 3), r'x: expected shape \(..., 2\) for this 2-D flow, got \(4, 3\)'),
    (torch.zeros(2), None),
    (torch.tensor(1.), r'x: expected shape'),
    (torch.tensor([[0., float('nan')]]), 'x: contains NaN'),
])
def test_bad_points(x, match):
    f = flow_of('realnvp')
    if match is None: assert f.log_prob(x).shape == ()        # a single point is fine
    else:
        with pytest.raises(ValueError, match=match): f.log_prob(x)


def test_bad_sample_shape():
    f = flow_of('realnvp')
    with pytest.raises(ValueError, match='sample_shape=-1'): f.sample(-1)
    with pytest.raises(TypeError, match='sample_shape'): f.sample('a')
