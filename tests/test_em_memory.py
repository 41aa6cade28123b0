"What a GaussianMixture keeps: after fit no data, and a trace whose responsibilities stay within `display_size`'s bound."
import dataclasses, pickle, types
from collections.abc import Mapping

import numpy as np
import pytest
import torch

from mlenb.core import Trace
from mlenb.em import GaussianMixture

pytestmark = pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning')


def held_bytes(obj)->int:
    "Bytes of the distinct tensor storages reachable from `obj` (attributes, containers, dataclasses, traces, snapshots)."
    seen, storages, stack = set(), {}, [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or o is None or isinstance(o, (str, bytes, int, float, bool, torch.dtype, torch.device, type, types.ModuleType)): continue
        seen.add(id(o))
        if isinstance(o, torch.Tensor):
            s = o.untyped_storage(); storages[s.data_ptr()] = max(storages.get(s.data_ptr(), 0), s.nbytes())
        elif isinstance(o, np.ndarray): storages[id(o)] = o.nbytes
        elif isinstance(o, Mapping): stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, Trace)): stack.extend(o)
        elif dataclasses.is_dataclass(o): stack.extend(getattr(o, f.name) for f in dataclasses.fields(o))
        elif hasattr(o, '__dict__'): stack.extend(vars(o).values())
    return sum(storages.values())


def blobs(n, k, seed=0):
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.normal(size=(k, 2)) * 5)[torch.arange(n) % k] + torch.as_tensor(rng.normal(size=(n, 2)))


def test_held_bytes_sees_the_data():
    "The oracle of the tests below: it finds a model's data while the model holds them (after init)."
    X = blobs(20_000, 10)
    gm = GaussianMixture(10, max_iter=0, dtype=torch.float64, progress=False, random_state=0)
    gm.init(X)
    assert held_bytes(gm) >= X.nbytes


def test_a_long_fit_keeps_within_twice_the_data():
    "The issue's case: N=20,000, D=2, K=10, 300 iterations in float64 (was a 461 MiB pickle): the model and its pickle stay under 2x the data."
    X = blobs(20_000, 10)
    gm = GaussianMixture(10, tol=0, max_iter=300, dtype=torch.float64, progress=False, random_state=0).fit(X)
    assert gm.n_iter_ == 300 and len(gm.trace) == 301
    assert all('resp' not in s for s in gm.trace)   # N K = 200,000 > display_size
    assert held_bytes(gm) <= 2 * X.nbytes, held_bytes(gm)
    assert len(pickle.dumps(gm)) <= 2 * X.nbytes
    back = pickle.loads(pickle.dumps(gm))
    torch.testing.assert_close(back.predict_proba(X[:100]), gm.predict_proba(X[:100]), rtol=0, atol=0)


def test_fit_releases_the_data_and_can_fit_again():
    X = blobs(3000, 3)
    gm = GaussianMixture(3, dtype=torch.float64, progress=False, random_state=0, warm_start=True).fit(X)
    assert gm._src is None and gm._resp is None
    with pytest.raises(ValueError, match='call init\\(X\\) first'): gm.step()
    lb = gm.lower_bound_
    assert gm.fit(X).lower_bound_ >= lb - 1e-12   # warm start needs only the parameters
    back = pickle.loads(pickle.dumps(gm))
    assert back.fit(X).converged_


@pytest.mark.parametrize('n,k,display_size', [(60, 2, 120), (50, 3, 600), (200, 4, 800)])
def test_responsibilities_stay_bounded_and_spread(n, k, display_size):
    "Stepping for long: at most 50 * display_size responsibilities in all, always the first and the newest, with even gaps."
    X = blobs(n, k)
    gm = GaussianMixture(k, dtype=torch.float64, progress=False, random_state=0, display_size=display_size, init_params='random')
    gm.init(X)
    for t in range(400):
        gm.m_step() if t % 3 == 0 else gm.step()
        held = [i for i, s in enumerate(gm.trace) if 'resp' in s]
        assert len(held) * n * k <= 50 * display_size
        assert held[0] == 0 and held[-1] == len(gm.trace) - (2 if gm.trace.last.phase == 'M' else 1)
    held = np.array([i for i, s in enumerate(gm.trace) if 'resp' in s])
    assert len(held) * n * k > 50 * display_size / 4   # thinning halves, so at least a quarter of the budget is used
    gaps = np.diff(held)
    assert gaps.max() <= 4 * np.median(gaps), gaps   # no hole much wider than the others
    for i in held[[0, len(held) // 2, -1]]:   # what is kept is still right
        s = gm.trace[i]
        m = GaussianMixture(k, dtype=torch.float64).load_state_dict(dict(weights_=s.weights, means_=s.means, covariances_=s.covariances,
            precisions_cholesky_=torch.linalg.inv(torch.linalg.cholesky(s.covariances)).mT))
        torch.testing.assert_close(m.predict_proba(X), s.resp, rtol=0, atol=1e-10)


def test_display_size_zero_keeps_none_and_is_checked():
    X = blobs(100, 2)
    gm = GaussianMixture(2, progress=False, random_state=0, display_size=0).fit(X)
    assert all('resp' not in s for s in gm.trace)
    with pytest.raises(ValueError, match='display_size'): GaussianMixture(2, display_size=-1)


def test_cursor_survives_thinning():
    "A panel scrubbing history keeps its place when older responsibilities are dropped."
    X = blobs(50, 2)
    gm = GaussianMixture(2, dtype=torch.float64, progress=False, random_state=0, display_size=100)
    gm.init(X)
    for _ in range(10): gm.step()
    gm.trace.cursor = 3
    for _ in range(100): gm.step()
    assert gm.trace.cursor == 3
