"""The E-step's screen (`_Screen`): skipping (chunk, component) products that are sure to be floored changes nothing beyond rounding.

Each test fits with small chunks (so the screen applies), then takes the same E-step, at the same parameters and over
the same rows, with the screen and without it. Only the kept products' rounding differs: their logits may round
differently (at most the pass's rounding bound b per logit, so a responsibility by a factor e^(2b)) and the sums
are taken in another grouping (c eps per chunk of c rows). What the screen skips short of the floor it certifies after
the pass to be within eps of each scale, and the kept ones' responsibilities within eps relative (else it takes the pass
again). So each entry of the table may differ by at most (2 (e^(2b) - 1) + (2 c + 2) eps) times its scale: n_k for the
counts, sqrt(n_k M_k) for the first moments and M_k for the second, M_k the component's largest second moment
(sum |r x_i| <= sqrt(n_k sum r x_i^2) <= sqrt(n_k M_k))."""
import math, warnings

import numpy as np
import pytest
import torch

from mlenb.em import GaussianMixture
from mlenb.em.steps import _Screen

pytestmark = pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning')
CHUNK = 500

@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    "Chunks of 500 rows: 20,000 rows make 40 of them, well above `_Screen.min_chunks`."
    monkeypatch.setattr(GaussianMixture, '_chunk', lambda self, RK, F: CHUNK)

def blobs(n=20_000, d=6, k=5, spread=15., seed=0, far=0):
    "k unit blobs with centres `spread` apart per feature, shuffled; with `far`, that many copies of one point far from them all."
    g = torch.Generator().manual_seed(seed)
    C = torch.randn(k, d, generator=g, dtype=torch.float64) * spread
    X = C[torch.randint(0, k, (n,), generator=g)] + torch.randn(n, d, generator=g, dtype=torch.float64)
    if far: X = torch.cat([X, torch.full((far, d), 6 * spread, dtype=torch.float64)])
    return X[torch.randperm(len(X), generator=g)], C

def screened(X, K, dtype, ct='diag', iters=6, w=None, **kw):
    "A model stepped `iters` times with the screen on, and the largest fraction of products it skipped; `gm.solved` the largest fraction of chunks it solved from their sums."
    gm = GaussianMixture(K, covariance_type=ct, dtype=dtype, tol=0, max_iter=iters, progress=False, **kw)
    gm._begin(X.to(dtype), w, True)
    most = gm.solved = 0.
    for _ in range(iters):
        gm.step()
        assert gm._screen is not None
        most, gm.solved = max(most, gm._screen.skipped), max(gm.solved, sum(gm._screen.solved) / gm._screen.n)
    return gm, most

def assert_same_stats(gm):
    "The last E-step's statistics (screened) against a full pass at the same parameters over the same rows."
    A = gm._stats.table[0]
    gm._screen, keep = None, _Screen.min_chunks
    _Screen.min_chunks = 10 ** 9
    try: B, _, b = gm._pass(gm._params, gm._H, gm._src)
    finally: _Screen.min_chunks = keep
    B, d = B.table[0], gm._src.d
    n, s1, s2 = B[:, :1], B[:, 1:1 + d], B[:, 1 + d:]
    top = s2.abs().amax(1, keepdim=True)   # each second moment, and every sum r x_i^2, is at most the largest: |sum r x_i x_j| <= sqrt(sum r x_i^2 sum r x_j^2)
    scale = torch.cat([n, (n * top).sqrt().expand_as(s1), top.expand_as(s2)], 1)
    tol = 2 * math.expm1(2 * max(b, 0.)) + (2 * CHUNK + 2) * torch.finfo(gm.dtype).eps
    assert ((A - B).abs() <= tol * scale + 1e-300).all(), float(((A - B).abs() / scale).max())

@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('ct', ['diag', 'full', 'spherical'])
def test_screened_statistics_equal_the_full_pass(dtype, ct):
    X, C = blobs()
    gm, most = screened(X, 5, dtype, ct, means_init=(C + 3).numpy())
    assert most > 0.5   # four of five components floored in most chunks: the screen did skip
    assert gm.solved > 0.5   # and most chunks came from their sums alone
    assert_same_stats(gm)

def test_screened_statistics_with_sample_weights():
    X, C = blobs()
    w = torch.rand(len(X), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    gm, most = screened(X, 5, torch.float64, w=w, means_init=(C + 3).numpy())
    assert most > 0.5 and gm.solved > 0.5 and gm._src.w is not None
    assert_same_stats(gm)

def test_screened_float32_with_a_collapsed_component():
    "A component on 300 copies of one far point: variance reg_covar, taken in the direct form and from float64 rows; the chunks holding it take every product."
    X, C = blobs(seed=3, far=300)
    means = torch.cat([C + 1, torch.full((1, C.shape[1]), 90., dtype=torch.float64)])
    gm, most = screened(X, 6, torch.float32, iters=8, means_init=means.numpy())
    assert gm._exact is not None and bool(gm._exact[0, 5])   # the collapsed one: float64 rows
    assert gm.covariances_[5].max() < 1e-5 and most > 0.5
    assert_same_stats(gm)

def test_screened_fit_matches_sklearn():
    "The oracle: a whole screened fit against scikit-learn from the same start, to the project's parity of 1e-8."
    sk = pytest.importorskip('sklearn.mixture')
    X, C = blobs(seed=4)
    init = dict(weights_init=np.full(5, 0.2), means_init=(C + 3).numpy(), precisions_init=np.ones((5, 6)))
    seen = []
    gm = GaussianMixture(5, covariance_type='diag', dtype=torch.float64, tol=0, max_iter=15, progress=False, **init)
    gm.fit(X, callback=lambda m, s: seen.append(m._screen is not None and m._screen.skipped > 0.5))
    ref = sk.GaussianMixture(5, covariance_type='diag', tol=0, max_iter=15, **init).fit(X.numpy())
    assert any(seen)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-8)
    np.testing.assert_allclose(gm.weights_, ref.weights_, rtol=1e-8)
    assert abs(gm.lower_bound_ - ref.lower_bound_) < 1e-8
    assert gm._screen is None   # released with the data after fit

def test_no_screen_where_it_cannot_apply():
    X, C = blobs(seed=5)
    two = GaussianMixture(5, covariance_type='diag', dtype=torch.float64, tol=0, max_iter=1, progress=False, n_init=2)   # restarts run together
    two._begin(X, None, True); two.step()
    assert two._screen is None
    small = GaussianMixture(5, covariance_type='diag', dtype=torch.float64, progress=False, display_size=10 ** 6)   # responsibilities kept for the panel
    small._begin(X, None, True); small.step()
    assert small._screen is None and small._resp is not None

def test_a_screen_that_skips_little_retires():
    "Overlapping blobs: no logit is ever floored, so after four passes the screen stops costing anything."
    X, _ = blobs(spread=0.5, seed=6)
    gm = GaussianMixture(5, covariance_type='diag', dtype=torch.float64, tol=0, max_iter=8, progress=False)
    gm._begin(X, None, True)
    for _ in range(8): gm.step()
    assert gm._screen is not None and gm._screen.idle >= 4 and gm._screen.skipped < 0.1

def test_a_component_moved_onto_another_blob_is_taken_again():
    "Margins from the last pass, then component 2 jumps onto component 0's blob: the widened margins must keep it there."
    from mlenb.em.steps import gmm_natural_params
    X, C = blobs()
    gm, most = screened(X, 5, torch.float64, means_init=(C + 3).numpy())
    assert most > 0.5
    with torch.inference_mode():
        gm._params.means[0, 2] = gm._params.means[0, 0] + 0.5
        gm._H = gmm_natural_params(gm._params, gm.covariance_type)
        gm._e(gm._all())
    assert 0 < gm._screen.skipped < most   # still skipping, less
    assert float(gm._stats.n[0, 2]) > 1000   # it now holds rows it was skipped on
    assert_same_stats(gm)

def test_a_pickle_mid_fit_carries_no_data():
    "The screen holds the data source it ordered; a model pickled between steps drops it with the data."
    import pickle
    X, C = blobs()
    gm, _ = screened(X, 5, torch.float64, iters=3, means_init=(C + 3).numpy())
    back = pickle.loads(pickle.dumps(gm))
    assert back._screen is None and back._src is None
    assert len(pickle.dumps(gm)) < X.numel() * 8 / 10

def test_a_pass_whose_skipped_share_passes_rounding_is_taken_again(monkeypatch):
    "Thresholds 30 nats short of what rounding allows: the skipped share is too large to certify, so the pass is taken again by the floor alone."
    X, C = blobs(spread=3., seed=7)   # blobs close enough that some logits lie tens of nats below the best
    calls, certify = [], _Screen.certify
    monkeypatch.setattr(_Screen, 'slack', -30.)
    monkeypatch.setattr(_Screen, 'certify', lambda self, table: calls.append(certify(self, table)) or calls[-1])
    gm, _ = screened(X, 5, torch.float64, means_init=(C + 0.5).numpy())
    assert True in calls and False in calls
    assert_same_stats(gm)

def test_rows_are_ordered_again_when_it_pays(monkeypatch):
    "From random rows as means the first pass's best components are not the last ones: once the chunks a new order would solve add up to two passes, the rows are ordered again."
    X, _ = blobs(seed=2, k=8)
    orders, order = [], _Screen.order
    monkeypatch.setattr(_Screen, 'order', lambda self: orders.append(1) or order(self))
    gm, _ = screened(X, 8, torch.float64, iters=20, init_params='random_from_data', random_state=2)
    assert len(orders) >= 2 and sum(gm._screen.solved) > 0
    assert_same_stats(gm)
