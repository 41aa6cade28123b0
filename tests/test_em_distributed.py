"""Distributed EM over torch.distributed: two gloo workers, each with part of the data, reach the one-process answer.

One `torchrun --nproc_per_node 2` run (this file is its script: see `worker` below) fits every scenario on
both workers; the tests compare each worker's result with a fit in this process on all the data, to 1e-10
in float64. The shards are uneven (230 and 170 rows) so that nothing may assume equal shares. The engine
runs on the `device` fixture's device (MLENB_TEST_DEVICE); the collectives go through gloo on the CPU."""
import math, os, socket, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mlenb.em import GaussianMixture

N, CUT, K = 400, 230, 3
f64 = dict(dtype=torch.float64, progress=False)

def make_data():
    "400 points from three correlated 3-D blobs, a copy with 20% of entries missing, and integer sample weights."
    g = torch.Generator().manual_seed(0)
    C = torch.tensor([[0., 0., 0.], [6., 1., 0.], [2., 6., 3.]], dtype=torch.float64)
    X = C[torch.arange(N) % K] + torch.randn(N, 3, generator=g, dtype=torch.float64) @ torch.tensor([[1., .5, .2], [0., .8, .3], [0., 0., .6]], dtype=torch.float64)
    Xn = torch.where(torch.rand(N, 3, generator=g, dtype=torch.float64) < 0.2, math.nan, X)
    w = torch.randint(1, 4, (N,), generator=g).to(torch.float64)
    return X, Xn, w

def given(ct):
    "Initial parameters away from the answer, for covariance type `ct`."
    rng = np.random.default_rng(0)
    A = rng.normal(size=(K, 3, 3)); P = A @ A.transpose(0, 2, 1) + np.eye(3)
    prec = {'full': P, 'tied': P[0], 'diag': rng.uniform(.5, 2, (K, 3)), 'spherical': rng.uniform(.5, 2, K)}[ct]
    return dict(covariance_type=ct, weights_init=np.full(K, 1 / K), means_init=rng.normal(size=(K, 3)) * 2 + 2, precisions_init=prec)

# name: (constructor arguments, data: 'X' or 'Xn' (with NaN), how to fit: 'fit', 'weights', 'batches' or 'online')
SCENARIOS = {**{f'given-{ct}': (dict(tol=0, max_iter=15, **given(ct)), 'X', 'fit') for ct in ('full', 'tied', 'diag', 'spherical')},
             'kmeans': (dict(init_params='kmeans', n_init=2, random_state=0), 'X', 'fit'),
             'k-means++-diag': (dict(init_params='k-means++', covariance_type='diag', random_state=1), 'X', 'fit'),
             'random_from_data': (dict(init_params='random_from_data', n_init=3, random_state=2, covariance_type='spherical'), 'X', 'fit'),
             # 'random' draws each row's responsibilities by its position in the whole data (workers' rows in rank order)
             'random': (dict(init_params='random', n_init=2, random_state=3), 'X', 'fit'),
             'random-missing-diag-weights': (dict(init_params='random', missing='marginalise', covariance_type='diag', random_state=4), 'Xn', 'weights'),
             'random-batches': (dict(init_params='random', tol=0, max_iter=5, random_state=5), 'X', 'batches'),
             'random-online': (dict(init_params='random', random_state=6), 'X', 'online'),
             'missing': (dict(missing='marginalise', random_state=0), 'Xn', 'fit'),
             'missing-tied-weights': (dict(missing='marginalise', covariance_type='tied', random_state=0), 'Xn', 'weights'),
             'batches': (dict(tol=0, max_iter=10, **given('full')), 'X', 'batches'),
             'online': (dict(random_state=0), 'X', 'online')}

def shard(rank, n=N, cut=CUT):
    "The rows of worker `rank` (0 or 1) out of `n`, cut unevenly (`cut` rows to rank 0); rank None: all."
    return slice(None) if rank is None else slice(0, round(cut * n / N)) if rank == 0 else slice(round(cut * n / N), n)

def run(name, rank, device):
    "Fit scenario `name` on worker `rank`'s share (all the data if rank is None); the fitted parameters and trace."
    kw, which, how = SCENARIOS[name]
    X, Xn, w = make_data()
    X = (Xn if which == 'Xn' else X).to(device)
    gm = GaussianMixture(K, device=device, **kw, **f64)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if how == 'fit': gm.fit(X[shard(rank)])
        elif how == 'weights': gm.fit(X[shard(rank)], sample_weight=w[shard(rank)])
        elif how == 'batches':   # out of core: three (X, w) batches per worker; in one process all of them, in rank order
            gm.fit([(X[shard(r)][i::3], w[shard(r)][i::3]) for r in ((0, 1) if rank is None else (rank,)) for i in range(3)])
        else:                    # a stream of 8 batches of 50 rows; each worker sees its share of every batch
            for i in range(0, N, 50): gm.partial_fit(X[i:i + 50][shard(rank, 50, 29)])
    # Restarts that reach the same maximum differ by a permutation and rounding, so the best of them is a coin
    # toss: compare components in the order of their means, and every restart's log-likelihood.
    o = gm.means_[:, 0].argsort()
    out = {k: getattr(gm, k).cpu()[o.cpu()] for k in ('weights_', 'means_') + (('covariances_',) if gm.covariance_type != 'tied' else ())}
    if gm.covariance_type == 'tied': out['covariances_'] = gm.covariances_.cpu()
    out['loglik'] = gm.trace.series('loglik').cpu() if how != 'online' else torch.tensor(gm.lower_bounds_, dtype=torch.float64)
    out['logliks'] = gm.trace.last.get('logliks', torch.zeros(1)).cpu()
    m0 = gm.trace[0].means.cpu()   # the initial parameters (of the best restart then), before any EM iteration
    out['init_means'] = m0[m0[:, 0].argsort()]
    out['n_iter'] = gm.n_iter_
    return out

def worker(out_dir, device):
    "What each torchrun process runs: every scenario on its share, then a refused input that must fail on both workers."
    import torch.distributed as dist
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    res = {name: run(name, rank, device) for name in SCENARIOS}
    X = make_data()[0 if rank == 0 else 1][shard(rank)]   # rank 1 passes data with NaN, without the missing-data mode
    try: GaussianMixture(K, device=device, **f64).fit(X.to(device)); res['refused'] = None
    except ValueError as e: res['refused'] = str(e)
    torch.save(res, Path(out_dir) / f'rank{rank}.pt')
    dist.destroy_process_group()

def free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def workers(tmp_path_factory):
    "Run this file under torchrun with two gloo workers on 127.0.0.1; their results by rank."
    device = os.environ.get('MLENB_TEST_DEVICE', 'cpu')   # the `device` fixture's choice (that fixture is per test, this runs once)
    out = tmp_path_factory.mktemp('dist')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), __file__, str(out), device]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(Path(__file__).parents[1]))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return [torch.load(out / f'rank{r}.pt') for r in (0, 1)]

def same(a, b, atol=1e-10):
    torch.testing.assert_close(a, b, atol=atol, rtol=0)

@pytest.mark.parametrize('name', list(SCENARIOS))
def test_two_workers_reach_the_one_process_answer(workers, name, device):
    "Both workers end with the parameters and log-likelihood trace of one process fitting all the data, to 1e-10."
    ref = run(name, None, device)
    for res in workers:
        r = res[name]
        assert r['n_iter'] == ref['n_iter']
        for k in ('init_means', 'loglik', 'logliks', 'weights_', 'means_', 'covariances_'): same(r[k], ref[k])

def test_refused_data_stop_every_worker(workers):
    "Data refused on one worker raise on both (no worker is left waiting in a collective)."
    assert 'contains NaN' in workers[1]['refused'] and "missing='marginalise'" in workers[1]['refused']
    assert "another worker's data were refused" in workers[0]['refused']

if __name__ == '__main__': worker(*sys.argv[1:3])
