"""Conditional flows q(x | c): the same property tests as the unconditional ones (tests/test_flows.py), at fixed contexts.
Every conditional transform against the autograd Jacobian and its own inverse, the context reaching every output it
should, shapes with broadcast contexts, gradients into the context network and the context, seeded sampling, the
density against quadrature for two contexts, a maximum-likelihood fit against the exact conditional density, and the
errors for a missing, unexpected or misshapen context. The examples live in nbs/03b_flows_layers.ipynb and nbs/03e_flows_trainer.ipynb."""
import io, math

import pytest
import torch
from torch import nn

from mlenb.flows import *
from flow_helpers import actnorm, perturb

F64 = torch.float64


# Every conditional transform, as a factory of the dimension d and the context size C. Splines use a small bound so that
# some test points land in the tails. The chain mixes conditional layers with layers that pass the context by.
TRANSFORMS = {
    'affine_coupling': lambda d, C: AffineCoupling(d, hidden=16, context=C),
    'affine_coupling_interleaved': lambda d, C: AffineCoupling(d, mask=torch.arange(d) % 2 == 1, hidden=16, context=C),
    'spline_coupling': lambda d, C: SplineCoupling(d, hidden=16, bins=5, bound=2., context=C),
    'spline_coupling_interleaved': lambda d, C: SplineCoupling(d, mask=torch.arange(d) % 2 == 0, hidden=16, bins=5, bound=2., context=C),
    'maf': lambda d, C: MaskedAutoregressive(d, hidden=16, context=C),
    'spline_autoregressive': lambda d, C: SplineAutoregressive(d, hidden=16, bins=5, bound=2., order=torch.arange(d - 1, -1, -1), context=C),
    'chain': lambda d, C: Chain(actnorm(d), SplineCoupling(d, hidden=8, bins=4, bound=2., context=C), LULinear(d, seed=1),
                                MaskedAutoregressive(d, hidden=8, context=C), Reverse(d), AffineCoupling(d, hidden=8, context=C)),
}
DIMS, CONTEXTS = [2, 3, 4], [1, 3]


def make(name, d, C, dtype=torch.float32, scale=0.3):
    torch.manual_seed(10 * d + C)
    return perturb(TRANSFORMS[name](d, C), scale).to(dtype)


def points(n, d, dtype=torch.float32, seed=0, scale=1.5):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64).mul(scale).to(dtype)


# ---- every conditional transform ------------------------------------------------------------------------------
@pytest.mark.parametrize('name', TRANSFORMS)
@pytest.mark.parametrize('d', DIMS)
@pytest.mark.parametrize('C', CONTEXTS)
def test_shapes(name, d, C):
    t = make(name, d, C)
    assert t.context_dim == C
    z, l = t(points(7, d), points(7, C, seed=1))
    assert z.shape == (7, d) and l.shape == (7,)
    x, li = t.inverse(z, points(7, C, seed=1))
    assert x.shape == (7, d) and li.shape == (7,)


@pytest.mark.parametrize('name', TRANSFORMS)
@pytest.mark.parametrize('d', DIMS)
@pytest.mark.parametrize('C', CONTEXTS)
def test_log_det_matches_autograd_jacobian_at_a_fixed_context(name, d, C):
    "log|det dz/dx| (and the inverse's) equal slogdet of the autograd Jacobian in x, the context held fixed, in float64."
    t = make(name, d, C, F64)
    for x, c in zip(points(4, d, F64, seed=d), points(4, C, F64, seed=d + 1)):
        c = c[None]
        J = torch.autograd.functional.jacobian(lambda v: t(v[None], c)[0][0], x)
        torch.testing.assert_close(t(x[None], c)[1][0], torch.linalg.slogdet(J)[1], rtol=1e-9, atol=1e-9)
        z = t(x[None], c)[0][0].detach()
        Ji = torch.autograd.functional.jacobian(lambda v: t.inverse(v[None], c)[0][0], z)
        torch.testing.assert_close(t.inverse(z[None], c)[1][0], torch.linalg.slogdet(Ji)[1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('name', TRANSFORMS)
@pytest.mark.parametrize('d', DIMS)
@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (F64, 1e-10)])
def test_inverse_undoes_forward_at_every_context(name, d, dtype, tol):
    "Round trips, each row with its own context; the tolerances of tests/test_flows.py (a moderate perturbation)."
    t = make(name, d, 2, dtype, scale=0.1)
    x, c = points(256, d, dtype), points(256, 2, dtype, seed=1)
    with torch.no_grad():
        z, l = t(x, c)
        x2, li = t.inverse(z, c)
        z2, l2 = t(t.inverse(x, c)[0], c)
    assert (x2 - x).abs().max() <= tol and (li + l).abs().max() <= tol * 100
    assert ((z2 - x).abs().amax(-1) <= tol * (1 + l2.exp())).all()


@pytest.mark.parametrize('name', TRANSFORMS)
def test_gradients_reach_every_parameter_and_the_context(name):
    t = make(name, 3, 2)
    x, c = points(64, 3).requires_grad_(), points(64, 2, seed=1).requires_grad_()
    z, l = t(x, c)
    (z.pow(2).sum() - l.sum()).backward()
    for v in (x, c): assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0
    for n, p in t.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
        if 'lower' not in n and 'upper' not in n: assert p.grad.abs().sum() > 0, n


@pytest.mark.parametrize('name', [n for n in TRANSFORMS if n != 'chain'])
def test_fresh_layer_is_the_identity_at_every_context(name):
    t = TRANSFORMS[name](3, 2)
    x = points(32, 3)
    z, l = t(x, points(32, 2, seed=1) * 10)
    torch.testing.assert_close(z, x, atol=1e-5, rtol=0); torch.testing.assert_close(l, torch.zeros(32), atol=1e-5, rtol=0)


@pytest.mark.parametrize('name', [n for n in TRANSFORMS if n != 'chain'])
@pytest.mark.parametrize('d', DIMS)
def test_the_context_reaches_exactly_the_transformed_coordinates(name, d):
    """The Jacobian of z in the context: a coupling layer moves only the coordinates outside its mask, an autoregressive
    layer every coordinate (the first in the order too: MADE's context units have degree 0). With tanh for ReLU: no dead
    unit hides a connection."""
    t = make(name, d, 2, F64, scale=0.5)
    for m in list(t.modules()):
        for k, child in m.named_children():
            if isinstance(child, nn.ReLU): setattr(m, k, nn.Tanh())
    x, c = points(1, d, F64, scale=0.3)[0], points(1, 2, F64, seed=1)[0]   # inside the splines' bound: no identity tails
    Jc = torch.autograd.functional.jacobian(lambda v: t(x[None], v[None])[0][0], c)
    moved = Jc.abs().sum(-1) > 0
    want = ~t.mask if isinstance(t, Coupling) else torch.ones(d, dtype=torch.bool)
    assert torch.equal(moved, want), (moved, want)


@pytest.mark.parametrize('layout', ['first', 'last', 'index'])
def test_a_zero_context_weight_is_the_unconditional_layer(layout):
    "The oracle of 'unconditional flows unchanged': a conditional coupling whose context weights are zero computes what the unconditional one does."
    mask = {'first': [True, True, False, False, False], 'last': [False, False, False, True, True], 'index': [True, False, True, False, False]}[layout]
    u = perturb(SplineCoupling(5, mask, hidden=16, bins=5, bound=2.)).double()
    c = SplineCoupling(5, mask, hidden=16, bins=5, bound=2., context=3).double()
    assert c.layout == layout
    with torch.no_grad():
        for (k, a), (_, b) in zip(u.state_dict().items(), c.state_dict().items()):
            if k == 'net.0.weight': b.zero_(); b[:, :a.shape[1]] = a
            else: b.copy_(a)
    x, ctx = points(50, 5, F64), points(50, 3, F64, seed=2)
    for fn, gn in ((u, c), (u.inverse, c.inverse)):
        torch.testing.assert_close(gn(x, ctx), fn(x), rtol=1e-13, atol=1e-13)   # (zeros added: rounding of the sums' blocking at most)


def test_context_sizes_must_agree_in_a_chain():
    with pytest.raises(ValueError, match=r'layer 2 \(MaskedAutoregressive\) takes a context of size 2, but layer 0 \(AffineCoupling\) one of size 3'):
        Chain(AffineCoupling(2, context=3), Reverse(2), MaskedAutoregressive(2, context=2))
    assert Chain(AffineCoupling(2, context=3), Reverse(2), AffineCoupling(2)).context_dim == 3   # unconditional layers join in
    assert Chain(AffineCoupling(2), Reverse(2)).context_dim == 0


# ---- Flow ---------------------------------------------------------------------------------------------------
PRESETS = {
    'realnvp': lambda d, C: Flow.realnvp(d, layers=4, hidden=16, context=C),
    'maf': lambda d, C: Flow.maf(d, layers=4, hidden=16, context=C),
    'nsf': lambda d, C: Flow.nsf(d, layers=4, hidden=16, bins=5, bound=3., context=C),
    'nsf_autoregressive': lambda d, C: Flow.nsf(d, layers=3, hidden=16, bins=5, bound=3., autoregressive=True, context=C),
}


def test_every_preset_is_covered():
    assert {k for k, v in vars(Flow).items() if isinstance(v, classmethod)} == {'realnvp', 'maf', 'nsf'}
    assert {n.split('_')[0] for n in PRESETS} == {'realnvp', 'maf', 'nsf'}


def flow_of(name, d=2, C=2, dtype=torch.float32, scale=0.3):
    torch.manual_seed(d + C)
    f = PRESETS[name](d, C)
    f.initialize(points(256, d, seed=5) * 1.3 + 0.5)          # ActNorm comes first: no context needed to reach it
    return perturb(f, scale).to(dtype)


@pytest.mark.parametrize('name', PRESETS)
@pytest.mark.parametrize('d', [2, 3])
def test_flow_log_prob_is_the_change_of_variables_at_a_fixed_context(name, d):
    f = flow_of(name, d, 2, F64)
    assert f.context_dim == 2
    for x, c in zip(points(3, d, F64, seed=9), points(3, 2, F64, seed=10)):
        J = torch.autograd.functional.jacobian(lambda v: f.transform(v[None], c[None])[0][0], x)
        z = f.transform(x[None], c[None])[0][0]
        ref = torch.distributions.Normal(torch.zeros(d, dtype=F64), 1.).log_prob(z).sum() + torch.linalg.slogdet(J)[1]
        torch.testing.assert_close(f.log_prob(x, context=c), ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('name', PRESETS)
def test_shapes_with_broadcast_contexts(name, device):
    "torch's batch shapes: log_prob broadcasts x's against the context's; draws are (*sample_shape, *context batch, D)."
    f = flow_of(name, 2, 3).to(device)
    x, c1, c5 = points(5, 2).to(device), points(1, 3, seed=1)[0].to(device), points(5, 3, seed=2).to(device)
    lp = f.log_prob(x, context=c5)
    assert lp.shape == (5,) and lp.device.type == torch.device(device).type
    torch.testing.assert_close(f.log_prob(x, context=c1), f.log_prob(x, context=c1.expand(5, 3)), rtol=0, atol=0)
    torch.testing.assert_close(f.log_prob(x, context=c5), torch.stack([f.log_prob(x[i], context=c5[i]) for i in range(5)]), rtol=1e-5, atol=1e-5)
    grid = f.log_prob(x, context=points(4, 3, seed=3).to(device)[:, None])               # every point under every context
    assert grid.shape == (4, 5)
    torch.testing.assert_close(f.log_prob(x[0], context=c5), f.log_prob(x[:1].expand(5, 2), context=c5))
    assert f.log_prob(torch.zeros(0, 2, device=device), context=c1).shape == (0,)
    assert f.sample(context=c1).shape == (2,) and f.sample(6, context=c1).shape == (6, 2)
    assert f.sample((6,), context=c5).shape == (6, 5, 2) and f.sample((2, 3), context=c5[:2, None]).shape == (2, 3, 2, 1, 2)
    assert f.sample((3,), context=torch.zeros(0, 3, device=device)).shape == (3, 0, 2) and f.sample(0, context=c5).shape == (0, 5, 2)
    x, lq = f.rsample_and_log_prob((4,), context=c5)
    assert x.shape == (4, 5, 2) and lq.shape == (4, 5)
    torch.testing.assert_close(lq, f.log_prob(x, context=c5), rtol=1e-4, atol=1e-4)   # each draw under its own context
    L = f.log_prob_layers(x[0], context=c5)
    assert len(L.points) == len(f.transform) + 1
    torch.testing.assert_close(L.log_prob, f.log_prob(x[0], context=c5))
    torch.testing.assert_close(f(x[0], context=c5), f.log_prob(x[0], context=c5))   # forward is log_prob


@pytest.mark.parametrize('name', PRESETS)
def test_sampling_under_a_fixed_seed(name, device):
    f = flow_of(name).to(device)
    c = points(1, 2, seed=1)[0].to(device)
    a, b = f.sample(100, seed=7, context=c), f.sample((100,), seed=7, context=c)
    assert torch.equal(a, b) and a.device.type == torch.device(device).type and not a.requires_grad
    assert not torch.equal(a, f.sample(100, seed=8, context=c))
    assert not torch.equal(a, f.sample(100, seed=7, context=c + 1))           # the same noise, another context: other draws
    with torch.no_grad():                                                       # the oracle: the seeded base draws, pushed through the inverse
        z = torch.randn(100, 2, generator=torch.Generator(device).manual_seed(7), device=device)
        torch.testing.assert_close(a, f.transform.inverse(z, c.expand(100, 2))[0], rtol=0, atol=0)
    torch.manual_seed(0); u = f.sample(3, context=c)
    torch.manual_seed(0); v = f.sample(3, context=c)
    assert torch.equal(u, v)                                                    # torch's global generator without a seed


@pytest.mark.parametrize('name', PRESETS)
def test_gradients_reach_the_context_network_and_the_context(name):
    f = flow_of(name)
    x, c = points(64, 2), points(64, 2, seed=1).requires_grad_()
    f.log_prob(x, context=c).sum().backward()
    assert torch.isfinite(c.grad).all() and c.grad.abs().sum() > 0
    first = {n: p for n, p in f.named_parameters() if n.endswith('0.weight') and ('net' in n or 'made' in n)}
    assert first                                                                 # the conditioners' first layers hold the context weights
    for n, p in f.named_parameters(): assert p.grad is not None and torch.isfinite(p.grad).all(), n
    for n, p in first.items(): assert p.grad[:, -2:].abs().sum() > 0, n
    f.zero_grad(); c.grad = None
    r = f.rsample(32, seed=1, context=c[0])                                     # and through the draws
    r.pow(2).sum().backward()
    assert c.grad.abs().sum() > 0 and all(p.grad.abs().sum() > 0 for p in first.values())


def cell_masses(f, h, c, lim=10.):
    "Cell centres of an h-grid over [-lim, lim]^2 and the flow's mass in each cell at context c."
    g = torch.arange(-lim, lim, h, dtype=F64) + h / 2
    X, Y = torch.meshgrid(g, g, indexing='xy')
    pts = torch.stack([X, Y], -1).view(-1, 2)
    with torch.no_grad(): return pts, torch.cat([f.log_prob(p, context=c).exp() for p in pts.split(50_000)]) * h * h


@pytest.mark.parametrize('name', PRESETS)
def test_density_integrates_to_one_and_samples_follow_it_at_two_contexts(name):
    """Quadrature of exp(log_prob(x | c)) over a wide 2-D grid is one at each of two contexts (the grid holds all but
    about 1e-4 of the mass, as in tests/test_flows.py), the two densities differ, and at each context the draws' mean is
    the quadrature mean (to 4 standard errors)."""
    f = flow_of(name, 2, 2, F64, scale=0.15)
    cs = torch.tensor([[-1.5, 0.5], [2., -1.]], dtype=F64)
    means = []
    for c in cs:
        pts, w = cell_masses(f, 0.05, c)
        assert abs(float(w.sum()) - 1) < 2e-3, (c, float(w.sum()))
        mean_q = (w[:, None] * pts).sum(0)
        s = f.sample(20_000, seed=0, context=c)
        torch.testing.assert_close(s.mean(0), mean_q, rtol=0, atol=4 * float(s.std(0).max()) / math.sqrt(20_000))
        means.append(mean_q)
    assert (means[0] - means[1]).abs().max() > 0.05                           # the context matters


# ---- torch.func ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', PRESETS)
def test_torch_func_with_a_context(name):
    "vmap over (x, context) pairs, jacrev in x at a fixed context, grad over the parameters with functional_call."
    f = flow_of(name, 2, 2, F64)
    x, c = points(6, 2, F64), points(6, 2, F64, seed=1)
    lp = lambda v, u: f.log_prob(v, context=u)
    torch.testing.assert_close(torch.func.vmap(lp)(x, c), f.log_prob(x, context=c), rtol=1e-12, atol=1e-12)
    xg = x.clone().requires_grad_()
    score = torch.autograd.grad(f.log_prob(xg, context=c).sum(), xg)[0]
    torch.testing.assert_close(torch.func.vmap(torch.func.jacrev(lp))(x, c), score, rtol=1e-10, atol=1e-10)
    params = {k: v.detach() for k, v in f.named_parameters()}
    g = torch.func.grad(lambda ps: torch.func.functional_call(f, ps, (x,), {'context': c}).mean())(params)
    want = torch.autograd.grad(f.log_prob(x, context=c).mean(), list(f.parameters()))
    for (k, a), b in zip(g.items(), want): torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=k)


# ---- a real fit: x | c ~ N(m(c), diag s(c)^2), whose density is known ------------------------------------------
def truth(c:torch.Tensor)->torch.distributions.Distribution:
    "A 2-D Gaussian whose mean bends and whose scale grows with the 1-D context c in [-2, 2]."
    m = torch.cat([torch.sin(2 * c), 0.5 * c], -1)
    s = torch.cat([0.3 + 0.2 * c.abs(), torch.full_like(c, 0.5)], -1)
    return torch.distributions.Independent(torch.distributions.Normal(m, s), 1)


def pairs(n, seed):
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(n, 1, generator=g) * 4 - 2
    m, s = truth(c).base_dist.loc, truth(c).base_dist.scale
    return m + s * torch.randn(n, 2, generator=g), c


def mean_kl(f, n=20_000, seed=1)->tuple[float, float]:
    "KL(p(. | c) || q(. | c)) averaged over contexts, by Monte Carlo on fresh pairs: the estimate and its standard error."
    x, c = pairs(n, seed)
    with torch.no_grad(): gap = (truth(c).log_prob(x) - f.log_prob(x, context=c)).double()
    return float(gap.mean()), float(gap.std() / math.sqrt(n))


@pytest.mark.parametrize('name', ['realnvp', 'maf'])
def test_maximum_likelihood_learns_the_conditional_density(name, device):
    """Trainer on (x, context) pairs: KL averaged over contexts from 1.05 nats (the untrained flow, a standard normal) to
    under 0.03 in 600 steps (measured on CPU: 0.0052 realnvp, 0.0032 maf, with a Monte Carlo error under 0.001), and the
    trainer's validation NLL is the flow's own on its validation pairs."""
    x, c = pairs(20_000, 0)
    f = {'realnvp': Flow.realnvp, 'maf': Flow.maf}[name](2, layers=4, hidden=16, context=1, seed=0)
    start = mean_kl(f)[0]
    tr = Trainer(f, x, context=c, seed=0, batch_size=256, val_size=2000, progress=False, device=device)
    tr.fit(600)
    f = tr.flow.cpu()
    kl, se = mean_kl(f)
    assert start > 1 and kl < 0.03 and se < 0.005, (start, kl, se)
    t = tr.target
    with torch.no_grad(): own = -float(f.log_prob(t.val.cpu(), context=t.val_ctx.cpu()).double().mean())
    assert math.isclose(tr.trace.last.val_nll, own, rel_tol=1e-5)
    assert tr.trace.last.samples.shape == (500, 2) and tr.trace.last.grid is None   # a density per context: no single grid


def test_conditional_trainer_resumes_exactly_and_names_a_diverging_layer():
    x, c = pairs(2000, 0)
    def make(**kw): return Trainer(Flow.realnvp(2, layers=2, hidden=8, context=1, seed=0), x, context=c, seed=3, batch_size=64,
                                   val_size=200, eval_every=10, pool=7, progress=False, **kw)
    a = make(); a.fit(20)
    buf = io.BytesIO(); torch.save(a.state_dict(), buf)
    a.fit(20)
    b = make(); buf.seek(0); b.load_state_dict(torch.load(buf, weights_only=False)); b.fit(20)
    for (k, u), v in zip(a.flow.state_dict().items(), b.flow.state_dict().values()): assert torch.equal(u, v), k
    with pytest.raises(TrainingDiverged, match=r'training diverged: .*layer \d+ \(AffineCoupling\)'):
        make(lr=1e300).fit(50)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')


@cuda
def test_cuda_graph_trains_a_conditional_flow_as_eager():
    x, c = pairs(4000, 0)
    def make(graph):
        return Trainer(Flow.realnvp(2, layers=2, hidden=16, context=1, seed=0).double(), x.double(), context=c.double(), batch_size=256,
                       device='cuda', val_size=500, grid_every=0, progress=False, cuda_graph=graph)
    eager, graph = make(False), make(True)
    for n in (2, 30):
        se, sg = eager.step(n), graph.step(n)
        assert math.isclose(se.loss, sg.loss, rel_tol=1e-9, abs_tol=1e-9)
    for u, v in zip(eager.flow.parameters(), graph.flow.parameters()): torch.testing.assert_close(u, v, rtol=0, atol=1e-6)


# ---- bad input ------------------------------------------------------------------------------------------------
CALLS = {
    'log_prob': lambda f, **kw: f.log_prob(torch.zeros(4, 2), **kw),
    'forward': lambda f, **kw: f(torch.zeros(4, 2), **kw),
    'sample': lambda f, **kw: f.sample(3, **kw),
    'rsample': lambda f, **kw: f.rsample(3, **kw),
    'rsample_and_log_prob': lambda f, **kw: f.rsample_and_log_prob(3, **kw),
    'log_prob_layers': lambda f, **kw: f.log_prob_layers(torch.zeros(4, 2), **kw),
}


@pytest.mark.parametrize('call', CALLS)
@pytest.mark.parametrize('name', PRESETS)
def test_a_missing_or_unexpected_context_is_named(call, name):
    cond, plain = flow_of(name, 2, 3), PRESETS[name](2, 0)
    with pytest.raises(ValueError, match=r'context: this flow is conditional on a context of size 3; pass context= of shape \(\.\.\., 3\)'):
        CALLS[call](cond)
    with pytest.raises(ValueError, match=r'context: this flow is unconditional \(built without context=\), so it takes no context; got one of shape \(3,\)'):
        CALLS[call](plain, context=torch.zeros(3))


@pytest.mark.parametrize('context,match', [
    (torch.zeros(4, 2), r'context: expected shape \(\.\.\., 3\) for this flow conditional on 3 numbers, got \(4, 2\)'),
    (torch.tensor(1.), r'context: expected shape \(\.\.\., 3\) .*got \(\)'),
    (torch.zeros(3, 3), r"context: its batch shape \(3,\) does not broadcast with x's \(4,\); expected shape \(\.\.\., 3\)"),
    (torch.tensor([[0., float('nan'), 0.]]), r'context: contains NaN at index \(0, 1\)'),
    (torch.tensor([[0., float('inf'), 0.]]), r'context: contains inf'),
    (torch.tensor([[1e300, 0., 0.]], dtype=F64), r'context: 1e\+300 at index \(0, 0\) .*overflows float32'),
    ([[0., 1., 'a']], 'context: expected real numbers'),
])
def test_a_misshapen_or_non_finite_context_is_named(context, match):
    f = flow_of('nsf', 2, 3)
    err = TypeError if isinstance(context, list) else ValueError
    with pytest.raises(err, match=match): f.log_prob(torch.zeros(4, 2), context=context)
    if 'broadcast' not in match:
        with pytest.raises(err, match=match): f.sample(2, context=context)


def test_initialize_needs_a_context_only_to_reach_past_a_conditional_layer():
    f = Flow([AffineCoupling(2, context=1), ActNorm(2)])
    with pytest.raises(ValueError, match='context: this flow is conditional on a context of size 1'): f.initialize(torch.randn(50, 2))
    x, c = pairs(500, 0)
    f.initialize(x, context=c)
    z = f.log_prob_layers(x, context=c).points[-1]
    torch.testing.assert_close(z.mean(0), torch.zeros(2), atol=1e-4, rtol=0)
    Flow.nsf(2, layers=2, context=1).initialize(x)                          # ActNorm first: no context needed


@pytest.mark.parametrize('make_it,err,match', [
    (lambda: Flow.nsf(2, context=-1), ValueError, 'context=-1'),
    (lambda: Flow.realnvp(2, context=1.5), TypeError, 'context=1.5'),
    (lambda: Flow.maf(2, context='3'), TypeError, "context='3'"),
    (lambda: AffineCoupling(2, context=-2), ValueError, 'context=-2'),
    (lambda: MADE(3, 2, context=True), TypeError, 'context=True'),
])
def test_bad_context_sizes_name_the_argument(make_it, err, match):
    with pytest.raises(err, match=match): make_it()


@pytest.mark.parametrize('kw,match', [
    ({}, r'context: this flow is conditional on a context of size 1; give the contexts of the training data, an array \(N, 1\)'),
    ({'context': torch.zeros(99, 1)}, r'context: expected shape \(100, 1\), one context per row of target, got \(99, 1\)'),
    ({'context': torch.zeros(100, 2)}, r'context: expected shape \(100, 1\)'),
    ({'context': torch.full((100, 1), float('nan'))}, 'context: contains NaN'),
    ({'context': torch.zeros(100, 1), 'objective': 'dsm'}, r"objective='dsm': a conditional flow is trained by maximum likelihood"),
    ({'context': torch.zeros(100, 1), 'dequantize': 4}, 'dequantize=4: not available for a conditional flow'),
])
def test_trainer_refuses_what_it_cannot_use(kw, match):
    with pytest.raises(ValueError, match=match):
        Trainer(Flow.realnvp(2, layers=2, hidden=8, context=1), torch.zeros(100, 2), progress=False, **kw)


def test_trainer_context_with_other_targets_or_flows():
    with pytest.raises(ValueError, match=r'context: a conditional flow trains on data pairs: target= an array \(N, D\) and context= an array \(N, 1\); got a target of type str'):
        Trainer(Flow.realnvp(2, layers=2, hidden=8, context=1), 'moons', context=torch.zeros(100, 1), progress=False)
    with pytest.raises(ValueError, match=r'context: this flow is unconditional \(built without context=\), so it trains without one'):
        Trainer(Flow.realnvp(2, layers=2, hidden=8), torch.zeros(100, 2), context=torch.zeros(100, 1), progress=False)


def test_path_likelihood_refuses_a_context():
    f = flow_of('realnvp', 2, 1)
    x, c = pairs(8, 0)
    torch.testing.assert_close(nll_loss(f, x, context=c), -f.log_prob(x, context=c).mean())
    with pytest.raises(ValueError, match="context: the path gradient of maximum likelihood is for unconditional flows"):
        nll_loss(f, x, 'path', lambda v: -(v * v).sum(-1), context=c)


@pytest.mark.parametrize('call', [
    lambda t: t(torch.zeros(3, 2)), lambda t: t.inverse(torch.zeros(3, 2)),
])
@pytest.mark.parametrize('layer', ['affine_coupling', 'spline_coupling', 'maf', 'spline_autoregressive'])
def test_a_conditional_layer_called_without_its_context_says_so(layer, call):
    "Called directly (or by a loss that does not know about contexts, such as reverse_kl_loss), a layer names what is missing."
    with pytest.raises(ValueError, match=r'context: \w+ is conditional on a context of size 2; pass one, shape \(N, 2\)'):
        call(TRANSFORMS[layer](2, 2))
    with pytest.raises(ValueError, match=r'context: \w+ was built without context=, so it takes no context'):
        TRANSFORMS[layer](2, 0)(torch.zeros(3, 2), torch.zeros(3, 2))


def test_a_loss_without_contexts_on_a_conditional_flow_names_the_context():
    with pytest.raises(ValueError, match=r'context: AffineCoupling is conditional on a context of size 2'):
        reverse_kl_loss(Flow.realnvp(2, layers=2, context=2), lambda x: -(x * x).sum(-1), n=8)


@pytest.mark.parametrize('call', [
    lambda m, c: m.log_prob(torch.zeros(3, 2), context=c), lambda m, c: m.sample(2, context=c), lambda m, c: m.rsample(2, context=c),
    lambda m, c: m(torch.zeros(3, 2), context=c), lambda m, c: m(torch.zeros(3, 2), check=False, context=c),
])
def test_a_continuous_flow_refuses_a_context(call):
    with pytest.raises(ValueError, match=r'context: this flow is unconditional'):
        call(ContinuousFlow(2, hidden=8, steps=2), torch.zeros(3, 1))
