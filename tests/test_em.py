"""Oracle tests for mlenb.em: scikit-learn's GaussianMixture from the same initial parameters, in float64.

The `device` fixture (tests/conftest.py) runs the engine on MLENB_TEST_DEVICE (cpu unless set, cuda on the GPU check)."""
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from mlenb.em import GaussianMixture, ConvergenceWarning, MonotonicityWarning, COVARIANCE_TYPES

pytestmark = [pytest.mark.filterwarnings('ignore::sklearn.exceptions.ConvergenceWarning'),
              pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning'),
              pytest.mark.filterwarnings('error::mlenb.em.MonotonicityWarning')]
K, D, ATTRS = 4, 3, ('weights_', 'means_', 'covariances_', 'precisions_', 'precisions_cholesky_')

@pytest.fixture(scope='module')
def data():
    X, _ = make_blobs(600, D, centers=K, cluster_std=[1., 1.5, .5, 2.], random_state=0)
    return X @ np.array([[1., .4, 0], [0, 1., .3], [0, 0, 1.]])

def inits(X, ct, seed=0):
    "Initial weights, means and precisions of every covariance type, away from the answer."
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(K, D, D)); P = A @ A.transpose(0, 2, 1) + np.eye(D)
    prec = {'full': P, 'tied': P[0], 'diag': rng.uniform(.5, 2, (K, D)), 'spherical': rng.uniform(.5, 2, K)}[ct]
    return dict(weights_init=rng.dirichlet(np.ones(K)), means_init=X[rng.choice(len(X), K, replace=False)] + .3, precisions_init=prec)

def both(X, ct, device='cpu', **kw):
    "scikit-learn's and our fits from the same initial parameters, float64."
    kw = dict(covariance_type=ct, **inits(X, ct), **kw)
    return SkGaussianMixture(K, **kw).fit(X), GaussianMixture(K, dtype=torch.float64, progress=False, device=device, **kw).fit(X)

def arr(a): return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
def close(a, b, tol=1e-8): np.testing.assert_allclose(arr(a).astype(np.float64), arr(b).astype(np.float64), rtol=0, atol=tol)

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
@pytest.mark.parametrize('tol,max_iter', [(0., 25), (1e-3, 200)], ids=['fixed', 'converged'])
def test_parity_with_sklearn(data, ct, tol, max_iter, device):
    "Same log-likelihood trace, iterations, convergence and parameters as scikit-learn, to 1e-8."
    sk, me = both(data, ct, device, tol=tol, max_iter=max_iter)
    assert (me.n_iter_, me.converged_) == (sk.n_iter_, sk.converged_)
    close(me.lower_bounds_, sk.lower_bounds_); close(me.lower_bound_, sk.lower_bound_)
    # scikit-learn's lower bound at iteration t is the E-step value of the parameters it entered with:
    # our snapshots 0 .. n_iter-1; our last snapshot is the returned parameters' own log-likelihood.
    ll = arr(me.trace.series('loglik'))
    assert len(ll) == me.n_iter_ + 1
    close(ll[:-1], sk.lower_bounds_); close(ll[-1], sk.score(data))
    for a in ATTRS: close(getattr(me, a), getattr(sk, a))

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_parity_of_predictions(data, ct, device):
    "predict_proba, score_samples, score, predict, bic, aic and sample's shapes agree on the fitted parameters."
    sk, me = both(data, ct, device, max_iter=10)
    Xn = data[::7] + .5
    close(me.predict_proba(Xn), sk.predict_proba(Xn)); close(me.score_samples(Xn), sk.score_samples(Xn))
    close(me.score(Xn), sk.score(Xn)); close(me.bic(data), sk.bic(data), 1e-6); close(me.aic(data), sk.aic(data), 1e-6)
    assert (arr(me.predict(Xn)) == sk.predict(Xn)).all()
    assert me._n_parameters() == sk._n_parameters()
    (Xs, ys), (Xk, yk) = me.sample(50, seed=0), sk.sample(50)
    assert Xs.shape == Xk.shape and ys.shape == yk.shape

def test_parity_warm_start(data, device):
    "warm_start continues from the last solution with scikit-learn's first convergence test."
    kw = dict(covariance_type='full', **inits(data, 'full'), max_iter=4, warm_start=True)
    sk, me = SkGaussianMixture(K, **kw), GaussianMixture(K, dtype=torch.float64, progress=False, device=device, **kw)
    for _ in range(3): sk.fit(data); me.fit(data)
    assert me.n_iter_ == sk.n_iter_
    close(me.lower_bounds_, sk.lower_bounds_); close(me.means_, sk.means_); close(me.covariances_, sk.covariances_)

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_float32_one_step_at_a_time(data, ct, device):
    "float32 drifts over many iterations, so compare it with scikit-learn one step at a time from the same parameters."
    sk = SkGaussianMixture(K, covariance_type=ct, max_iter=5, **inits(data, ct)).fit(data)
    prec = sk.precisions_
    nxt = SkGaussianMixture(K, covariance_type=ct, max_iter=1, tol=0, weights_init=sk.weights_, means_init=sk.means_, precisions_init=prec).fit(data)
    me = GaussianMixture(K, covariance_type=ct, max_iter=1, tol=0, progress=False, device=device,
                         weights_init=sk.weights_.astype(np.float32), means_init=sk.means_, precisions_init=prec).fit(data.astype(np.float32))
    assert me.means_.dtype == np.float32 and torch.as_tensor(me.means_).dtype == torch.float32   # NumPy in, NumPy out
    close(me.lower_bounds_[0], nxt.lower_bounds_[0], 1e-5)
    close(me.means_, nxt.means_, 1e-4); close(me.covariances_, nxt.covariances_, 1e-4)

def test_kmeans_init_reaches_sklearns_answer(data, device):
    "Our torch k-means initialisation and scikit-learn's end at the same maximum on well-separated blobs."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', SkConvergenceWarning)
        sk = SkGaussianMixture(K, random_state=0, tol=1e-10, max_iter=1000).fit(data)
    me = GaussianMixture(K, dtype=torch.float64, random_state=0, tol=1e-10, max_iter=1000, progress=False, device=device).fit(data)
    close(me.score(data), sk.score(data), 1e-8)
    order = lambda m: np.argsort(arr(m)[:, 0])
    close(arr(me.means_)[order(me.means_)], sk.means_[order(sk.means_)], 1e-3)
