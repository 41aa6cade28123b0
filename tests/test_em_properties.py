"""Properties of mlenb.em's EM: monotone likelihood, consistent snapshots, batched restarts, weights, batches, online EM.

Tests that take the `device` fixture run the engine on MLENB_TEST_DEVICE (cpu unless set)."""
import io, math, pickle, warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from mlenb.core import Trace
from mlenb.em import _factor_precisions
from mlenb.em import (GaussianMixture, GMMParams, GMMStats, ConvergenceWarning, MonotonicityWarning, COVARIANCE_TYPES, INIT_PARAMS)

pytestmark = [pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning'),
              pytest.mark.filterwarnings('error::mlenb.em.MonotonicityWarning')]
K = 4
f64 = dict(dtype=torch.float64, progress=False)

@pytest.fixture(scope='module')
def X():
    "A tensor, so that everything comes back as tensors (NumPy data get NumPy back: test_em_sklearn.py)."
    X, _ = make_blobs(400, 2, centers=K, cluster_std=[.3, 1., 1.5, .6], random_state=1)
    return torch.as_tensor(X @ np.array([[1., .5], [0., .8]]))

def given_init(X, gm):
    "Constructor arguments that start from `gm`'s fitted parameters, moved a little."
    return dict(weights_init=gm.weights_.cpu().numpy(), means_init=gm.means_.cpu().numpy() + .4, precisions_init=gm.precisions_.cpu().numpy())

def same(a, b, atol=1e-10):
    "Tensors (or arrays) equal to `atol`, wherever they live."
    torch.testing.assert_close(torch.as_tensor(a).cpu(), torch.as_tensor(b).cpu(), atol=atol, rtol=0)

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
@pytest.mark.parametrize('reg', [0., 1e-6, 1e-1])
def test_loglik_never_falls(X, ct, reg, device):
    "EM's log-likelihood is monotone: exactly with reg_covar=0, within reg_covar's allowance otherwise (no MonotonicityWarning)."
    gm = GaussianMixture(K, covariance_type=ct, reg_covar=reg, init_params='random', tol=0, max_iter=60, random_state=0, device=device, **f64).fit(X)
    ll = gm.trace.series('loglik')
    assert (ll.diff() > -1e-12 * (1 + ll.abs()[1:])).all() if reg == 0 else (ll.diff() > -1e-3).all()

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_half_steps(X, ct, device):
    "An M-step raises the ELBO (up to reg_covar's allowance), the E-step lifts it to the log-likelihood."
    gm = GaussianMixture(K, covariance_type=ct, reg_covar=0., init_params='random_from_data', random_state=2, device=device, **f64)
    prev = gm.init(X)
    for _ in range(8):
        m, e = gm.m_step(), gm.e_step()
        assert (m.phase, e.phase, m.step, e.step) == ('M', 'E', prev.step + 1, prev.step + 1)
        assert math.isnan(m.loglik) and 'resp' not in m and 'resp' in e
        assert prev.loglik - 1e-12 <= m.elbo <= e.loglik + 1e-12 and e.elbo == e.loglik
        prev = e
    s = gm.step()
    assert (s.step, s.phase) == (prev.step + 1, 'E')

def test_monotonicity_warning_fires(X):
    "A bug that breaks EM (here a broken statistics reducer) is caught by the monotonicity check."
    gm = GaussianMixture(K, init_params='random_from_data', random_state=0, **f64)
    gm.init(X)
    def bad(st):
        st.table[:, 0] *= 5   # component 0 counted five times over: wrong weights
        return st
    gm.reduce_stats = bad
    with pytest.warns(MonotonicityWarning, match='lowered the mean log-likelihood'):
        for _ in range(3): gm.step()

@pytest.mark.parametrize('init', INIT_PARAMS)
def test_snapshots_are_consistent(X, init, device):
    "Every init/E snapshot's log-likelihood and responsibilities belong to the parameters stored with it."
    gm = GaussianMixture(K, init_params=init, random_state=0, tol=0, max_iter=6, device=device, **f64).fit(X)
    assert [s.phase for s in gm.trace] == ['init'] + ['E'] * 6 and [s.step for s in gm.trace] == list(range(7))
    s0 = gm.trace[0]
    assert abs(float(s0.weights.sum()) - 1) < 1e-12 and s0.covariances.diagonal(dim1=-2, dim2=-1).min() > 1e-3  # a real mixture
    times = gm.trace.series('time')
    assert (times.diff() >= 0).all()
    for s in gm.trace:
        m = GaussianMixture(K, device=device, **f64).load_state_dict(dict(weights_=s.weights, means_=s.means, covariances_=s.covariances,
                                                           precisions_cholesky_=torch.linalg.inv(torch.linalg.cholesky(s.covariances)).mT))
        assert abs(m.score(X) - s.loglik) < 1e-10
        assert torch.allclose(m.predict_proba(X), s.resp, atol=1e-10)

def test_no_responsibilities_beyond_display_size():
    X, _ = make_blobs(3000, 2, centers=3, random_state=0)
    gm = GaussianMixture(3, max_iter=2, random_state=0, progress=False)
    gm.display_size = 1000
    gm.fit(X)
    assert all('resp' not in s for s in gm.trace)

def test_batched_restarts_equal_sequential_fits(X, device):
    "n_init restarts run as one batch give exactly the fits each restart would give alone."
    starts = [GaussianMixture(K, init_params='random_from_data', random_state=s, max_iter=0, device=device, **f64).fit(X) for s in range(3)]
    kw = dict(tol=1e-5, max_iter=200, device=device, **f64)
    alone = [GaussianMixture(K, weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_, **kw).fit(X) for g in starts]
    batched = GaussianMixture(K, n_init=3, **kw)
    def draw(R):   # the three starting points, stacked as restarts
        U, C, _ = _factor_precisions(torch.stack([g.precisions_ for g in starts]), 'full')
        return GMMParams(torch.stack([g.weights_ for g in starts]), torch.stack([g.means_ for g in starts]) - batched._shift, C, U)
    batched._draw = draw
    batched.fit(X)
    lls = [a.trace.last.loglik for a in alone]
    best = int(np.argmax(lls))
    assert len(set(np.round(lls, 4))) >= 2, 'the starts should end in different maxima'
    assert batched.n_iter_ == alone[best].n_iter_ and batched.lower_bounds_ == pytest.approx(alone[best].lower_bounds_, abs=1e-10)
    same(batched.means_, alone[best].means_, 1e-9)
    assert batched.trace.last.restart == best
    same(batched.trace.last.logliks, torch.tensor(lls, dtype=torch.float64), 1e-9)

def test_more_restarts_never_hurt(X):
    one = GaussianMixture(K, init_params='random_from_data', random_state=3, **f64).fit(X)
    many = GaussianMixture(K, init_params='random_from_data', n_init=8, random_state=3, **f64).fit(X)
    assert many.score(X) >= one.score(X) - 1e-9 and len(many.trace.last.logliks) == 8

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(X, ct, device):
    ref = GaussianMixture(K, covariance_type=ct, random_state=0, **f64).fit(X)
    w = np.random.default_rng(0).integers(0, 4, len(X))
    kw = dict(covariance_type=ct, tol=0, max_iter=10, device=device, **given_init(X, ref), **f64)
    a = GaussianMixture(K, **kw).fit(X, sample_weight=w)
    b = GaussianMixture(K, **kw).fit(X.repeat_interleave(torch.as_tensor(w), 0))
    same(a.trace.series('loglik'), b.trace.series('loglik'))
    for attr in ('weights_', 'means_', 'covariances_'): same(getattr(a, attr), getattr(b, attr))
    assert a.score(X, sample_weight=w) == pytest.approx(b.score(X.repeat_interleave(torch.as_tensor(w), 0)), abs=1e-12)
    assert a.bic(X, sample_weight=w) == pytest.approx(b.bic(X.repeat_interleave(torch.as_tensor(w), 0)), abs=1e-8)

def test_weighted_kmeans_init_runs(X):
    w = np.r_[np.zeros(100), np.ones(300)]
    gm = GaussianMixture(K, random_state=0, **f64).fit(X, sample_weight=w)
    assert np.isfinite(gm.score(X[100:]))

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_out_of_core_equals_full_batch(X, ct, device):
    "EM over batches (list, (X, w) pairs, DataLoader, function) gives the full-batch answer."
    ref = GaussianMixture(K, covariance_type=ct, random_state=0, **f64).fit(X)
    kw = dict(covariance_type=ct, tol=0, max_iter=8, device=device, **given_init(X, ref), **f64)
    full = GaussianMixture(K, **kw).fit(X)
    Xt, parts = torch.as_tensor(X), np.array_split(np.arange(len(X)), 7)
    ds = torch.utils.data.TensorDataset(Xt)
    for batches in ([X[i] for i in parts], [(X[i], np.ones(len(i))) for i in parts], torch.utils.data.DataLoader(ds, batch_size=64),
                    lambda: (Xt[i] for i in parts)):
        b = GaussianMixture(K, **kw).fit(batches)
        same(b.trace.series('loglik'), full.trace.series('loglik'), 1e-12)
        same(b.covariances_, full.covariances_, 1e-12)

def test_out_of_core_initialises_from_the_first_batch(X):
    gm = GaussianMixture(K, random_state=0, **f64).fit([X[:200], X[200:]])
    assert gm.score(X) > GaussianMixture(K, random_state=0, **f64).fit(X).score(X) - 0.05

def test_partial_fit_approaches_batch_answer(device):
    "Stepwise online EM over a stream seen once ends near batch EM on all of it."
    Xs = torch.as_tensor(make_blobs(20_000, 2, centers=3, cluster_std=[.5, 1., 1.5], random_state=4)[0])
    batch = GaussianMixture(3, random_state=0, device=device, **f64).fit(Xs)
    online = GaussianMixture(3, random_state=0, device=device, **f64)
    for i in range(0, len(Xs), 200): online.partial_fit(Xs[i:i + 200])
    order = lambda m: m.means_[:, 0].argsort()
    assert online.n_iter_ == 100 and online.trace.last.phase == 'online' and len(online.lower_bounds_) == 100
    same(online.means_[order(online)], batch.means_[order(batch)], 0.05)
    same(online.covariances_[order(online)], batch.covariances_[order(batch)], 0.1)
    assert online.score(Xs) > batch.score(Xs) - 2e-3
    online.set_params(learning_decay=1.0)   # the step size then decays as 1/t: plain running averages

def test_partial_fit_after_fit_starts_from_the_model(X):
    gm = GaussianMixture(K, random_state=0, **f64).fit(X)
    before = gm.means_.clone()
    gm.partial_fit(X[:50])
    assert (gm.means_ - before).abs().max() < 1.0 and gm.n_iter_ == 1

def test_averaging_reduces_the_error_on_a_stream(device):
    """Polyak-Ruppert averaging of the running statistics (Cappe & Moulines 2009): with the default step size
    (t + 1) ** -0.6, a stream of 4,000 points in batches of 20 (200 updates, averaged after the first 50)
    ends far closer to batch EM on all of it, and closer to the truth.

    Averaging leaves the running parameters alone (the next test checks that), so one run gives both: the
    running means (what average=False reports) and the averaged ones. Measured over eight seeds: the squared
    error of the means against batch EM falls from about 1.4e-2 to 1.4e-3; asserted on three: fourfold."""
    C = torch.tensor([[0., 0.], [6., 1.], [2., 6.]], dtype=torch.float64)
    order = lambda mu: mu[:, 0].argsort()
    sq = lambda mu, ref: float(((mu[order(mu)] - ref[order(ref)]) ** 2).sum())
    to_batch, to_truth = {'running': 0., 'averaged': 0.}, {'running': 0., 'averaged': 0.}
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        Xs = C[torch.randint(0, 3, (4000,), generator=g)] + torch.randn(4000, 2, generator=g, dtype=torch.float64) @ torch.tensor([[1., .3], [0., .7]], dtype=torch.float64)
        batch = GaussianMixture(3, random_state=0, device=device, **f64).fit(Xs)
        online = GaussianMixture(3, random_state=0, device=device, average=50, **f64)
        for i in range(0, len(Xs), 20): online.partial_fit(Xs[i:i + 20])
        means = dict(running=(online._online['run'][0].means[0] + online._shift).cpu(), averaged=online.means_.cpu())
        for k, mu in means.items(): to_batch[k] += sq(mu, batch.means_.cpu()); to_truth[k] += sq(mu, C)
    assert to_batch['averaged'] * 4 < to_batch['running'], to_batch
    assert to_truth['averaged'] < to_truth['running'], to_truth

def test_averaging_starts_where_asked(X):
    "average=n leaves the first n updates alone; the E-step always uses the running (not the averaged) parameters."
    plain, late = (GaussianMixture(K, random_state=0, average=a, **f64) for a in (False, 3))
    for i in range(0, 300, 50):
        plain.partial_fit(X[i:i + 50]); late.partial_fit(X[i:i + 50])
        if i // 50 < 3: same(late.means_, plain.means_, 0)
    assert (late.means_ - plain.means_).abs().max() > 0
    same(late._online['run'][0].means, plain._params.means, 1e-12)

def test_state_dict_roundtrip(X, tmp_path):
    gm = GaussianMixture(K, covariance_type='diag', random_state=0, progress=False).fit(X)
    torch.save(gm.state_dict(), tmp_path / 'gm.pt')
    back = GaussianMixture(K, covariance_type='diag').load_state_dict(torch.load(tmp_path / 'gm.pt'))
    torch.testing.assert_close(back.score_samples(X), gm.score_samples(X), atol=3e-4, rtol=0)   # float32, centred differently
    assert (back.n_iter_, back.converged_, back.lower_bounds_) == (gm.n_iter_, gm.converged_, gm.lower_bounds_)
    pick = pickle.loads(pickle.dumps(gm))
    torch.testing.assert_close(pick.predict_proba(X), gm.predict_proba(X))
    with pytest.raises(ValueError, match='no data to step on'): pick.step()
    warm = GaussianMixture(K, covariance_type='diag', warm_start=True, max_iter=3, progress=False).load_state_dict(gm.state_dict())
    assert warm.fit(X).score(X) >= gm.score(X) - 32 * 2**-24 * abs(gm.score(X))   # EM never goes down, up to float32 rounding of a mean

def test_sample_matches_the_model(X):
    gm = GaussianMixture(K, covariance_type='tied', random_state=0, **f64).fit(X)
    Xs, ys = gm.sample(40_000, seed=0)
    counts = torch.bincount(ys, minlength=K).double() / len(ys)
    torch.testing.assert_close(counts, gm.weights_, atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(Xs[ys == 2].T), gm.covariances_, atol=0.05, rtol=0)
    assert torch.equal(gm.sample(10, seed=5)[0], gm.sample(10, seed=5)[0])
    assert GaussianMixture(K, random_state=7, **f64).fit(X).sample(3)[0].shape == (3, 2)

def test_same_seed_same_fit(X, device):
    a = GaussianMixture(K, n_init=3, random_state=11, progress=False, device=device).fit(X)
    b = GaussianMixture(K, n_init=3, random_state=11, progress=False, device=device).fit(X)
    assert torch.equal(a.means_, b.means_)

def test_float32_close_to_float64(X):
    "Both run to convergence (tol 1e-8), so no stopping rule can end them at different iterations on another CPU."
    a = GaussianMixture(K, random_state=0, progress=False, tol=1e-8, max_iter=1000).fit(X)
    b = GaussianMixture(K, random_state=0, tol=1e-8, max_iter=1000, **f64).fit(X)
    assert a.means_.dtype == torch.float32 and a.predict_proba(X).dtype == torch.float32
    assert abs(a.score(X) - b.score(X)) < 1e-4     # at the optimum the score is flat: what is left is float32 rounding, ~1e-6

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_float32_with_duplicates_far_from_the_centre(ct, device):
    "A component shrunk onto duplicates (variance reg_covar) is computed without cancellation, so float32 still agrees with float64."
    rng = np.random.default_rng(0)
    Xd = torch.as_tensor(np.concatenate([np.zeros((100, 3)) + 7, rng.normal(size=(150, 3)) * .1 - 5, rng.normal(size=(150, 3))]) + 1000)
    a = GaussianMixture(3, covariance_type=ct, random_state=0, progress=False, device=device).fit(Xd)
    b = GaussianMixture(3, covariance_type=ct, random_state=0, device=device, **f64).fit(Xd)
    assert abs(a.score(Xd) - b.score(Xd)) < 1e-4 and torch.isfinite(a.covariances_).all()

def test_tensors_in_and_out(X):
    "Tensors in, tensors out; per call, NumPy in, NumPy out."
    gm = GaussianMixture(K, random_state=0, **f64).fit(X)
    for out in (gm.predict(X), gm.predict_proba(X), gm.score_samples(X), gm.means_, gm.sample(2)[0]): assert isinstance(out, torch.Tensor)
    for out in (gm.predict(X.numpy()), gm.predict_proba(X.numpy()), gm.score_samples(X.numpy())): assert isinstance(out, np.ndarray)
    assert gm.predict(X).dtype == torch.int64 and torch.equal(gm.fit_predict(X), gm.predict(X))
    assert isinstance(gm.score(X), float) and isinstance(gm.bic(X), float)

def test_progress_bar_and_verbose(X, capsys):
    GaussianMixture(K, max_iter=3, random_state=0).fit(X)
    assert 'EM' in capsys.readouterr().err
    GaussianMixture(K, max_iter=3, random_state=0, progress=False).fit(X)
    assert capsys.readouterr().err == ''
    GaussianMixture(K, max_iter=4, n_init=2, random_state=0, progress=False, verbose=2, verbose_interval=2, tol=0).fit(X)
    out = capsys.readouterr().out
    assert 'Iteration 2' in out and 'Initialization 1 did not converge' in out

def test_convergence_warning_like_sklearn(X):
    with pytest.warns(ConvergenceWarning, match='did not converge'):
        GaussianMixture(K, max_iter=2, tol=0, random_state=0, progress=False).fit(X)

def test_sklearn_clone_and_params():
    from sklearn.base import clone
    gm = GaussianMixture(3, covariance_type='spherical', reg_covar=1e-3)
    c = clone(gm)
    assert c.get_params() == gm.get_params() and c is not gm

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu(X):
    kw = dict(n_init=4, random_state=None, tol=0, max_iter=10, **f64)
    ref = GaussianMixture(K, random_state=0, **f64).fit(X)
    a = GaussianMixture(K, **given_init(X, ref), **kw).fit(X)
    b = GaussianMixture(K, device='cuda', **given_init(X, ref), **kw).fit(X)
    torch.testing.assert_close(b.means_.cpu(), a.means_, atol=1e-9, rtol=0)

def test_outputs_are_ordinary_tensors(X):
    "EM runs in torch.inference_mode (less overhead a step), but nothing it hands out is an inference tensor: autograd can use all of it."
    gm = GaussianMixture(K, random_state=0, **f64)
    s0 = gm.init(X); gm.step(); gm.m_step()
    seen = []
    gm.fit(X, callback=lambda m, s: seen.append(torch.is_inference_mode_enabled()))
    assert seen and not any(seen)   # the callback runs outside inference mode
    gm.partial_fit(X[:50])
    outs = [s0.means, gm.trace.last.means, gm.means_, gm.covariances_, gm.weights_, gm.precisions_cholesky_, gm.predict_proba(X),
            gm.score_samples(X), gm.sample(3)[0], *gm.state_dict().values()]
    assert not any(t.is_inference() for t in outs)
    mu = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    ((gm.means_ - mu) ** 2).sum().backward()   # an inference tensor here would raise
    torch.testing.assert_close(mu.grad, -2 * gm.means_.sum(0))
    before = gm.means_.clone(); gm.means_.add_(1.)   # a copy: writing to it leaves the model alone
    torch.testing.assert_close(gm.means_, before, rtol=0, atol=0)
