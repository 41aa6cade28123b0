"""The engine checks behind nbs/10_tutorial_em.ipynb, over several seeds: what the chapter shows on one data set holds in general.

Each test recomputes what the engine does independently (NumPy by hand, torch.distributions, scikit-learn) and compares.
Outputs go through `np.asarray`, so the tests hold whether the engine returns tensors or arrays."""
import math, warnings

import numpy as np
import pytest
import torch

from mlenb.data import blobs
from mlenb.em import GaussianMixture, CollapseError

sklearn_mixture = pytest.importorskip('sklearn.mixture')
pytestmark = [pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning'),
              pytest.mark.filterwarnings('error::mlenb.em.MonotonicityWarning')]
f64 = dict(dtype=torch.float64, progress=False)

def A(t): return np.asarray(t, dtype=float)


def normal(x, mu, var): return np.exp(-(x - mu) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)

def em_1d(x, pi, mu, var):
    "One EM iteration by hand (the chapter's section 4)."
    p = pi * normal(x[:, None], mu, var)
    r = p / p.sum(1, keepdims=True)
    Nk = r.sum(0)
    mu = (r * x[:, None]).sum(0) / Nk
    return r, (Nk / len(x), mu, (r * (x[:, None] - mu) ** 2).sum(0) / Nk)


@pytest.mark.parametrize('seed', range(5))
def test_hand_em_1d_matches_engine_and_sklearn(seed):
    "Five iterations of 1-D, two-component EM by hand equal the engine's init/step and scikit-learn's fit from the same start."
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-2, 1, 15), rng.normal(1.5, .7, 25)])
    pi, mu, var = np.array([.5, .5]), np.sort(rng.normal(0, 1, 2)), rng.uniform(.5, 2, 2)
    gm = GaussianMixture(2, reg_covar=0., weights_init=torch.tensor(pi), means_init=torch.tensor(mu)[:, None],
                         precisions_init=torch.tensor(1 / var)[:, None, None], **f64)
    X = torch.tensor(x)[:, None]
    gm.init(X)
    theta = (pi, mu, var)
    for t in range(5):
        r, theta = em_1d(x, *theta)
        if t == 0: np.testing.assert_allclose(A(gm.predict_proba(X)), r, atol=1e-12)
        snap = gm.step()
        np.testing.assert_allclose(A(gm.weights_), theta[0], atol=1e-12)
        np.testing.assert_allclose(A(gm.means_)[:, 0], theta[1], atol=1e-12)
        np.testing.assert_allclose(A(gm.covariances_)[:, 0, 0], theta[2], atol=1e-12)
        np.testing.assert_allclose(snap.loglik, np.log((theta[0] * normal(x[:, None], theta[1], theta[2])).sum(1)).mean(), atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        sk = sklearn_mixture.GaussianMixture(2, reg_covar=0., weights_init=pi, means_init=mu[:, None], precisions_init=(1 / var)[:, None, None],
                                             max_iter=5, tol=0.).fit(x[:, None])
    np.testing.assert_allclose(sk.means_[:, 0], theta[1], atol=1e-12)
    np.testing.assert_allclose(sk.covariances_[:, 0, 0], theta[2], atol=1e-12)


def _log_joint(X, w, mu, cov):
    "log pi_k N(x_n | mu_k, Sigma_k), (n, K), by torch.distributions."
    w, mu, cov = (torch.as_tensor(A(a), dtype=torch.float64) for a in (w, mu, cov))
    return torch.log(w) + torch.distributions.MultivariateNormal(mu, covariance_matrix=cov).log_prob(X[:, None])

def _elbo(X, q, w, mu, cov): return float((q * (_log_joint(X, w, mu, cov) - torch.log(q.clamp_min(1e-300)))).sum(1).mean())
def _loglik(X, w, mu, cov): return float(torch.logsumexp(_log_joint(X, w, mu, cov), 1).mean())


@pytest.mark.parametrize('seed', range(3))
def test_elbo_touches_then_rises_2d(seed):
    "The chapter's section 6 in 2-D: after E the bound equals the likelihood; after M it rises and stays below it; the engine reports both."
    X = blobs(600, 3, d=2, seed=seed, anisotropic=True).X.double()
    gm = GaussianMixture(3, init_params='random', random_state=seed, **f64)
    s = gm.init(X)
    for _ in range(4):
        q = torch.as_tensor(A(gm.predict_proba(X)))
        old = (s.weights, s.means, s.covariances)
        np.testing.assert_allclose(_elbo(X, q, *old), _loglik(X, *old), atol=1e-10)          # E: the bound touches
        np.testing.assert_allclose(s.loglik, _loglik(X, *old), atol=1e-10)
        m = gm.m_step()
        new = (m.weights, m.means, m.covariances)
        np.testing.assert_allclose(m.elbo, _elbo(X, q, *new), atol=1e-8)                      # the engine's bound is the ELBO
        assert _elbo(X, q, *new) > _elbo(X, q, *old)                                          # M raises the bound ...
        assert _loglik(X, *new) >= _elbo(X, q, *new) - 1e-12                                  # ... and the likelihood is above it
        s = gm.e_step()


@pytest.mark.parametrize('seed', range(4))
def test_local_optimum_is_the_start_not_the_engine(seed):
    "From the same start, the engine and scikit-learn take the same path (60 iterations): which hill EM climbs is decided by the start."
    X = blobs(900, 6, d=2, seed=11).X.double()
    s0 = GaussianMixture(6, init_params='random_from_data', random_state=seed, **f64).init(X)
    w, mu, cov = A(s0.weights), A(s0.means), A(s0.covariances)
    P = np.linalg.inv(cov)
    gm = GaussianMixture(6, weights_init=torch.tensor(w), means_init=torch.tensor(mu), precisions_init=torch.tensor(P),
                         tol=0., max_iter=60, **f64).fit(X)                     # exactly 60 iterations each
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        sk = sklearn_mixture.GaussianMixture(6, weights_init=w, means_init=mu, precisions_init=P, tol=0., max_iter=60).fit(A(X))
    np.testing.assert_allclose(gm.score(X), sk.score(A(X)), atol=1e-9)
    np.testing.assert_allclose(A(gm.means_), sk.means_, atol=1e-6)


def _sklearn_with(g, d):
    "A scikit-learn GaussianMixture holding the parameters of the mlenb fit `g` (full covariances)."
    sk = sklearn_mixture.GaussianMixture(len(A(g.weights_)))
    sk.weights_, sk.means_, sk.covariances_ = A(g.weights_), A(g.means_), A(g.covariances_)
    sk.precisions_cholesky_ = np.linalg.inv(np.linalg.cholesky(sk.covariances_)).transpose(0, 2, 1)
    sk.n_features_in_ = d
    return sk


@pytest.mark.parametrize('seed', [0, 1, 2, 3, 5])
def test_bic_picks_three_and_equals_sklearn(seed):
    "On 600 points from three separated components BIC is least at K = 3, and equals scikit-learn's bic on the same parameters."
    X = blobs(600, 3, d=2, seed=seed, anisotropic=True).X.double()
    fits = [GaussianMixture(k, n_init=3, random_state=0, **f64).fit(X) for k in range(1, 7)]
    bic = np.array([g.bic(X) for g in fits])
    assert bic.argmin() == 2
    for g, b in zip(fits, bic):
        np.testing.assert_allclose(_sklearn_with(g, 2).bic(A(X)), b, rtol=1e-9)
        K = len(A(g.weights_))
        np.testing.assert_allclose(b, -2 * len(X) * g.score(X) + (K - 1 + 2 * K + 3 * K) * math.log(len(X)), rtol=1e-10)


@pytest.mark.parametrize('seed', range(3))
def test_online_one_pass_close_to_batch(seed):
    "One pass of stepwise online EM in batches of 500 lands within 0.01 nats per point of converged batch EM."
    X = blobs(20_000, 3, d=2, seed=seed, anisotropic=True).X.double()
    batch = GaussianMixture(3, n_init=3, random_state=0, tol=1e-8, max_iter=500, **f64).fit(X)
    online = GaussianMixture(3, random_state=0, **f64)
    for chunk in X.split(500): online.partial_fit(chunk)
    gap = batch.score(X) - online.score(X)
    assert -1e-6 < gap < 0.01


def _hand_marginal_resp(Xm, w, mu, S):
    "Responsibilities of rows with one missing entry of two from the observed coordinate's marginal, by hand; NaN elsewhere."
    R = np.full((len(Xm), len(w)), np.nan)
    for n in np.nonzero(np.isnan(Xm).sum(1) == 1)[0]:
        o = 1 - int(np.isnan(Xm[n]).argmax())
        lp = np.log(w) - .5 * np.log(2 * np.pi * S[:, o, o]) - .5 * (Xm[n, o] - mu[:, o]) ** 2 / S[:, o, o]
        R[n] = np.exp(lp - lp.max()) / np.exp(lp - lp.max()).sum()
    return R


@pytest.mark.parametrize('seed', range(3))
def test_missing_marginal_responsibilities_and_recovery(seed):
    "With 10% of entries missing completely at random: predict_proba is the hand marginal posterior; the fit stays near the complete-data fit."
    X = blobs(600, 3, d=2, seed=seed, anisotropic=True).X.double()
    rng = np.random.default_rng(seed)
    Xm = A(X).copy()
    Xm[rng.random(Xm.shape) < .1] = np.nan
    Xm[np.isnan(Xm).all(1), 0] = A(X)[np.isnan(Xm).all(1), 0]      # keep one entry of every row
    marg = GaussianMixture(3, n_init=3, random_state=0, missing='marginalise', **f64).fit(torch.tensor(Xm))
    full = GaussianMixture(3, n_init=3, random_state=0, **f64).fit(X)
    one = np.isnan(Xm).sum(1) == 1
    R = _hand_marginal_resp(Xm, A(marg.weights_), A(marg.means_), A(marg.covariances_))
    np.testing.assert_allclose(A(marg.predict_proba(torch.tensor(Xm)))[one], R[one], atol=1e-9)
    order = lambda g: A(g.means_)[np.lexsort(A(g.means_).T[::-1])]
    np.testing.assert_allclose(order(marg), order(full), atol=.3)


@pytest.mark.parametrize('reg', [1e-8, 1e-5, 1e-3])
def test_reg_covar_is_a_floor_on_a_collapsing_component(reg):
    "Six identical points and a narrow start: reg_covar=0 stops naming the component; otherwise its variances sit at the floor, never below."
    X = blobs(600, 3, d=2, seed=3, anisotropic=True).X.double()
    Xd = torch.cat([X[:50], X[:1].repeat(5, 1)])
    kw = dict(means_init=torch.stack([X[0], X[10:50].mean(0)]), weights_init=torch.tensor([.1, .9], dtype=torch.float64),
              precisions_init=torch.stack([torch.eye(2) * 1e2, torch.eye(2) * .1]).double(), **f64)
    with pytest.raises(CollapseError, match='component 0'): GaussianMixture(2, reg_covar=0., **kw).fit(Xd)
    g = GaussianMixture(2, reg_covar=reg, **kw)
    g.init(Xd)
    for _ in range(10):
        g.step()
        assert np.linalg.eigvalsh(A(g.covariances_)).min() >= reg * (1 - 1e-9)
    np.testing.assert_allclose(A(g.covariances_)[0], reg * np.eye(2), atol=reg * 1e-6)


@pytest.mark.parametrize('covariance_type', ['full', 'diag', 'spherical'])
def test_symmetric_start_is_a_fixed_point(covariance_type):
    "Identical components stay identical: every one becomes the single-Gaussian fit (the chapter's exercise 2)."
    X = blobs(600, 3, d=2, seed=3, anisotropic=True).X.double()
    P = {'full': torch.eye(2).repeat(3, 1, 1), 'diag': torch.ones(3, 2), 'spherical': torch.ones(3)}[covariance_type].double()
    same = GaussianMixture(3, covariance_type=covariance_type, means_init=X.mean(0).repeat(3, 1), weights_init=torch.ones(3, dtype=torch.float64) / 3,
                           precisions_init=P, max_iter=30, **f64).fit(X)
    one = GaussianMixture(1, covariance_type=covariance_type, **f64).fit(X)
    np.testing.assert_allclose(A(same.predict_proba(X)), 1 / 3, atol=1e-9)
    np.testing.assert_allclose(same.score(X), one.score(X), atol=1e-9)
