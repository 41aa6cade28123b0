"""float32 EM on badly scaled data (one feature in units, another in hundreds to ten thousands) against scikit-learn.

The M-step sets to zero the variances at or below rounding level. That level must be each feature's own: one level
from the largest feature's second moment exceeded the small feature's variance in float32, erased it, and EM collapsed
(a mean log-likelihood of -4.5e6 where scikit-learn reaches -10.6).

Tolerance: float32 rounding of a mean log-likelihood, as the engine's monotonicity check allows for it:
1e3 * eps32 * (1 + |ll|) (eps32 = 2**-23; about 1.3e-3 at ll = -10), plus the fits' stopping tolerance 1e-5. At the
same optimum the float32 and float64 scores here differ by 3e-6 at most; before the fix, by up to 5e6."""
import functools, warnings

import numpy as np
import pytest
import torch

pytest.importorskip('sklearn')
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from mlenb.em import COVARIANCE_TYPES, INIT_PARAMS, GaussianMixture, MonotonicityWarning

pytestmark = pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning', 'ignore::sklearn.exceptions.ConvergenceWarning')
EPS32, TOL, N_INIT = float(np.finfo(np.float32).eps), 1e-5, 4
CENTRES = ([0, 0], [7, 0], [0, 7])
SCALES = [(1, 500), (1, 1e3), (1, 1e4), (1e4, 1)]   # the first is the reported case

def data(scale)->np.ndarray:
    "Three unit blobs, 7 apart, with one feature multiplied by 500 to 1e4 (240 rows)."
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(80, 2)) + c for c in CENTRES]) * np.array(scale)

def allowed(ref:float)->float: return 1e3 * EPS32 * (1 + abs(ref)) + TOL   # float32 rounding of a mean log-likelihood, plus the fits' tol

def fit32(X, **kw)->GaussianMixture:
    "mlenb's float32 fit; a MonotonicityWarning fails the test."
    with warnings.catch_warnings():
        warnings.simplefilter('error', MonotonicityWarning)
        return GaussianMixture(3, dtype=torch.float32, progress=False, tol=TOL, max_iter=1000, **kw).fit(X)

@functools.cache
def sklearn_best(scale, ct:str, init:str)->float:
    "The better of scikit-learn's float64 and float32 scores, each from N_INIT restarts."
    X = data(scale)
    return max(SkGaussianMixture(3, covariance_type=ct, init_params=init, n_init=N_INIT, tol=TOL, max_iter=1000, random_state=0)
               .fit(X.astype(dt)).score(X) for dt in (np.float64, np.float32))

CASES = [(s, ct, init) for s in SCALES for ct in COVARIANCE_TYPES for init in INIT_PARAMS]

@pytest.mark.parametrize('scale,ct,init', CASES, ids=[f"{s[0]:g}x{s[1]:g}-{ct}-{init}" for s in SCALES for ct in COVARIANCE_TYPES for init in INIT_PARAMS])
def test_float32_reaches_sklearn_on_badly_scaled_data(scale, ct, init):
    "Every covariance type and initialisation: the float32 fit scores at least scikit-learn's best, within float32 rounding."
    X, ref = data(scale), sklearn_best(scale, ct, init)
    g = fit32(X, covariance_type=ct, init_params=init, n_init=N_INIT, random_state=0)
    assert g.score(X) >= ref - allowed(ref), (g.score(X), ref)
    assert np.isfinite(g.trace_[0].loglik) and g.trace_[0].loglik > 2 * ref   # a sound start, not a collapsed one (-20 to -30 before)

def test_float32_restart_on_nearly_collinear_points_keeps_their_variance():
    "A restart shrinking onto ~5 nearly collinear points: a variance (0.015) under its one-pass level (0.018) is taken again from float64 features, not zeroed."
    X = data((1, 1))   # no scaling: the case is about float32 rounding far from the centre
    kw = dict(covariance_type='full', init_params='random', random_state=7)
    g = fit32(X, **kw)   # lowered the likelihood at iteration 34 (by 0.048) before
    ref = GaussianMixture(3, dtype=torch.float64, progress=False, tol=TOL, max_iter=1000, **kw).fit(X)
    assert abs(g.score(X) - ref.score(X)) <= allowed(ref.score(X))   # float64's path, to float32 rounding ...
    assert abs(g.n_iter_ - ref.n_iter_) <= 3   # ... whose stopping test (tol 1e-5) may fall an iteration or two either way on another CPU
    small, small64 = np.linalg.eigvalsh(g.covariances_).min(), np.linalg.eigvalsh(ref.covariances_).min()
    assert abs(small - small64) <= 0.05 * small64   # 1.5e-4, not reg_covar; condition number ~3e5 times float32's eps
    lb = np.array(g.lower_bounds_)
    assert (np.diff(lb) >= -allowed(lb[-1])).all()
    b = fit32([X[:100], X[100:]], **kw)   # out of core: the second look reads the batches again
    assert abs(b.score(X) - g.score(X)) <= allowed(g.score(X))

def test_float32_with_missing_entries_keeps_that_variance_too():
    "The same restart with 5% of entries missing (marginalised): the observed parts' features are taken again in float64 too."
    X = data((1, 1)).copy()
    X[np.random.default_rng(1).random(X.shape) < 0.05] = np.nan
    kw = dict(covariance_type='full', init_params='random', random_state=7, missing='marginalise')
    g = fit32(X, **kw)   # lowered the likelihood at iteration 57 (by 0.049) before
    ref = GaussianMixture(3, dtype=torch.float64, progress=False, tol=TOL, max_iter=1000, **kw).fit(X)
    assert abs(g.score(X) - ref.score(X)) <= allowed(ref.score(X)) and abs(g.n_iter_ - ref.n_iter_) <= 3   # as above

def true_start(X:np.ndarray, ct:str)->dict:
    "Initial parameters from the blobs' own labels, in scikit-learn's form: weights, means and precisions."
    lab = np.repeat(np.arange(3), 80)
    means = np.stack([X[lab == k].mean(0) for k in range(3)])
    covs = np.stack([np.cov(X[lab == k].T, bias=True) for k in range(3)])
    if ct == 'full': P = np.linalg.inv(covs)
    elif ct == 'tied': P = np.linalg.inv(covs.mean(0))
    elif ct == 'diag': P = 1 / covs.diagonal(axis1=1, axis2=2)
    else: P = 1 / covs.diagonal(axis1=1, axis2=2).mean(1)
    return dict(weights_init=np.full(3, 1 / 3), means_init=means, precisions_init=P)

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
@pytest.mark.parametrize('scale', SCALES, ids=lambda s: f"{s[0]:g}x{s[1]:g}")
def test_float32_from_a_shared_start_matches_sklearn_float64(scale, ct):
    "The same start for both: every M-step on badly scaled data, the initialisation aside; the scores agree both ways."
    X = data(scale)
    start = true_start(X, ct)
    ref = SkGaussianMixture(3, covariance_type=ct, tol=TOL, max_iter=1000, **start).fit(X).score(X)
    got = fit32(X, covariance_type=ct, **start).score(X)
    assert abs(got - ref) <= allowed(ref), (got, ref)

@pytest.mark.parametrize('ct', ['full', 'tied', 'diag'])
def test_float32_init_keeps_the_small_feature(ct):
    "The reported case: the initial covariances are the float64 ones to float32 accuracy (they had lost feature 0's variance)."
    X = data(SCALES[0])
    c32, c64 = (GaussianMixture(3, covariance_type=ct, random_state=0, dtype=dt, progress=False).init(torch.as_tensor(X, dtype=dt)).covariances
                for dt in (torch.float32, torch.float64))
    v32, v64 = (c.diagonal(dim1=-2, dim2=-1) if ct != 'diag' else c for c in (c32, c64))
    v32, v64 = v32.reshape(-1, 2).double().sort(0).values, v64.reshape(-1, 2).sort(0).values   # components in any order
    torch.testing.assert_close(v32, v64, rtol=1e3 * EPS32, atol=0)

def test_float32_far_components_take_the_direct_form_only_on_rows_they_may_hold(monkeypatch):
    "A component collapsed onto three copies of one far point (its product bound passes 0.01 nats): the E-step that takes its direct form on those rows only follows the one that takes it on every row."
    from sklearn.datasets import make_blobs
    import mlenb.em.steps as steps
    X, _ = make_blobs(2000, 5, centers=3, random_state=0)
    X = np.concatenate([X, np.full((3, 5), 40.)])
    kw = dict(means_init=np.concatenate([X[[0, 700, 1400]], X[-1:]]), tol=0, max_iter=20, random_state=0)
    rows, near = [], steps._columns_near
    monkeypatch.setattr(steps, '_columns_near', lambda *a: rows.append(len(c := near(*a))) or c)
    g = GaussianMixture(4, dtype=torch.float32, progress=False, **kw).fit(X)
    assert rows and max(rows) <= 10   # the direct form ran, on a few rows of 2003
    every = GaussianMixture._logit_fn
    monkeypatch.setattr(GaussianMixture, '_logit_fn', lambda self, p, src, floor=None: every(self, p, src))   # the direct form on every row
    ref = GaussianMixture(4, dtype=torch.float32, progress=False, **kw).fit(X)
    np.testing.assert_allclose(g.lower_bounds_, ref.lower_bounds_, rtol=0, atol=allowed(ref.lower_bounds_[-1]))
    np.testing.assert_allclose(g.means_, ref.means_, rtol=0, atol=1e3 * EPS32 * np.abs(X).max())   # float32 rounding of means up to 40
