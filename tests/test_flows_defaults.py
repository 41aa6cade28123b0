"""What `Flow.nsf` and `Trainer` do when nobody chooses, read as examples: the preset's sizes, the LU mixing between
couplings beyond 2-D, that the default flow is an exact bijection (inverse, log-det against autograd's Jacobian),
and that the no-graph evaluation path (`sample`, `log_prob` under `torch.no_grad`) gives the same numbers as the
differentiable one. The KLs these defaults reach after 5,000 steps are measured by bench/flows_kl.py, not here."""
import inspect

import pytest
import torch

from mlenb.flows import Flow, LULinear, SplineCoupling, Trainer, rq_spline
from mlenb.flows import _rqs_fast, _rqs_reference
from flow_helpers import perturb

F64 = torch.float64


def defaults(f)->dict:
    return {k: v.default for k, v in inspect.signature(f).parameters.items() if v.default is not inspect.Parameter.empty}


def test_the_preset_and_trainer_defaults():
    "Flow.nsf(D): an ActNorm, 8 spline couplings of 64 bins on [-4, 4], hidden 64x2; Trainer: batch 1024, lr 3e-3 on a cosine schedule."
    nsf, tr = defaults(Flow.nsf), defaults(Trainer)
    assert (nsf['layers'], nsf['bins'], nsf['bound'], nsf['actnorm'], nsf['mixing']) == (8, 64, 4., True, None)
    assert (tr['batch_size'], tr['lr'], tr['schedule'], tr['objective']) == (1024, 3e-3, 'cosine', 'nll')
    f = Flow.nsf(2, seed=0)
    names = [type(t).__name__ for t in f.transform]
    assert names == ['ActNorm'] + ['SplineCoupling'] * nsf['layers']
    c = f.transform[1]
    assert (c.map.bins, c.map.bound) == (64, 4.)
    assert [m.out_features for m in c.net if isinstance(m, torch.nn.Linear)][:-1] == [nsf['hidden']] * 2 if isinstance(nsf['hidden'], int) else list(nsf['hidden'])


def test_nsf_mixes_with_lu_beyond_two_dimensions():
    "Flow.nsf(8): an LULinear after every coupling but the last; none in 2-D, none with mixing=False, image masks or autoregressive layers."
    f = Flow.nsf(8, seed=0)
    ts = list(f.transform)
    assert isinstance(ts[0], type(Flow.nsf(2).transform[0]))                       # ActNorm first
    assert [type(t) for t in ts[1:]] == [SplineCoupling, LULinear] * 7 + [SplineCoupling]
    perms = [t.P.argmax(1).tolist() for t in ts if isinstance(t, LULinear)]
    assert len({tuple(p) for p in perms}) > 1                                         # different fixed permutations
    assert not any(isinstance(t, LULinear) for t in Flow.nsf(2).transform)
    assert not any(isinstance(t, LULinear) for t in Flow.nsf(8, mixing=False).transform)
    assert not any(isinstance(t, LULinear) for t in Flow.nsf(8, autoregressive=True, layers=2, hidden=8).transform)
    assert not any(isinstance(t, LULinear) for t in Flow.nsf(4, mask=[1, 0, 1, 0], layers=2, hidden=8).transform)
    assert sum(isinstance(t, LULinear) for t in Flow.nsf(4, autoregressive=True, layers=3, hidden=8, mixing=True).transform) == 2
    with pytest.raises(TypeError, match='mixing'): Flow.nsf(8, mixing='lu')


@pytest.fixture(scope='module')
def flow8():
    "The default Flow.nsf(8), float64, every parameter perturbed so that no layer is the identity."
    return perturb(Flow.nsf(8, seed=0).double(), scale=0.05)   # 0.2 makes 95-output splines so steep that 15 layers amplify rounding 1e3x each


def test_default_nsf8_is_invertible(flow8):
    "Pushing base draws through the inverse and back gives the draws again, and the two log-dets cancel."
    z = torch.randn(500, 8, dtype=F64, generator=torch.Generator().manual_seed(1)) * 1.5
    with torch.no_grad():
        x, l_inv = flow8.transform.inverse(z)
        z2, l_fwd = flow8.transform(x)
    torch.testing.assert_close(z2, z, atol=1e-9, rtol=0)
    torch.testing.assert_close(l_fwd, -l_inv, atol=1e-9, rtol=0)


def test_default_nsf8_log_det_is_autograds(flow8):
    "log|det dz/dx| of the whole default flow against torch.autograd.functional.jacobian, point by point."
    x = torch.randn(6, 8, dtype=F64, generator=torch.Generator().manual_seed(2)) * 2
    _, ladj = flow8.transform(x)
    for i in range(len(x)):
        J = torch.autograd.functional.jacobian(lambda v: flow8.transform(v[None])[0][0], x[i])
        torch.testing.assert_close(ladj[i], torch.linalg.slogdet(J)[1], atol=1e-9, rtol=0)


def test_no_graph_path_matches_the_differentiable_one(flow8):
    "log_prob under no_grad (the bin-major spline) equals log_prob with a graph (the fused spline) and sample equals rsample."
    x = flow8.sample(2000, seed=3)
    with torch.no_grad(): fast = flow8.log_prob(x)
    slow = flow8.log_prob(x.clone().requires_grad_())
    torch.testing.assert_close(fast, slow.detach(), atol=1e-9, rtol=0)
    torch.testing.assert_close(flow8.rsample(2000, seed=3).detach(), x, atol=1e-9, rtol=0)


@pytest.mark.parametrize('inverse', [False, True])
def test_bin_major_spline_against_the_reference(inverse):
    "The no-graph spline against the reference, tails and both directions included, float64 and float32."
    g = torch.Generator().manual_seed(0)
    for dtype, tol in ((F64, 1e-9), (torch.float32, 2e-3)):
        p = (torch.randn(5000, 3 * 32 - 1, generator=g) * 2).to(dtype)
        x = (torch.rand(5000, generator=g) * 10 - 5).to(dtype)
        for a, b in zip(_rqs_fast(x, p, 4., inverse), _rqs_reference(x, p, 4., inverse)):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)
        with torch.no_grad(): y, l = rq_spline(x, p, 4., inverse)                   # what rq_spline takes without a graph
        torch.testing.assert_close(l, _rqs_fast(x, p, 4., inverse)[1], atol=0, rtol=0)


def test_default_nsf8_trains():
    "A few hundred default steps on a correlated 8-D Gaussian: the validation NLL falls well below the first one."
    g = torch.Generator().manual_seed(0)
    A = torch.randn(8, 8, generator=g) * 0.5 + torch.eye(8)
    X = torch.randn(4000, 8, generator=g) @ A.T + 1
    tr = Trainer(Flow.nsf(8, layers=4, hidden=32, seed=0), X, seed=0, progress=False, eval_every=150, val_size=1000, grid_every=0)
    tr.fit(300)
    first, last = tr.trace[0].val_nll, tr.trace[-1].val_nll
    gauss = torch.distributions.MultivariateNormal(X.mean(0), torch.cov(X.T))
    assert last < first - 1 and last < -gauss.log_prob(X).mean().item() + 1.5, (first, last)
