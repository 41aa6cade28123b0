"""Distributed EM that cannot go on: workers given different arguments, and a worker that stalls.

One `torchrun --nproc_per_node 2` run (this file is its script: see `worker`) tries both on two gloo workers;
each worker writes what it raised, and the tests read that back. A stalled worker must not leave the other
waiting for the default process-group timeout (30 minutes): it stops after `distributed_timeout` minutes
with an error that names both its own rank and the rank that fell behind."""
import json, os, socket, subprocess, sys, time, warnings
from pathlib import Path

import pytest
import torch

from mlenb.em import GaussianMixture

TIMEOUT_S = 2.   # the stalled case's distributed_timeout, in seconds
f64 = dict(dtype=torch.float64, progress=False)

def data(rank):
    g = torch.Generator().manual_seed(rank)
    C = torch.tensor([[0., 0.], [6., 1.], [2., 6.]], dtype=torch.float64)
    return C[torch.arange(150) % 3] + torch.randn(150, 2, generator=g, dtype=torch.float64)

def attempt(f)->dict:
    t = time.perf_counter()
    try: f(); return dict(error=None, seconds=time.perf_counter() - t)
    except Exception as e: return dict(error=f"{type(e).__name__}: {e}", seconds=time.perf_counter() - t)

def worker(out_dir):
    "What each torchrun process runs: the cases in order (the stall last: after it the process group is gone)."
    import torch.distributed as dist
    dist.init_process_group('gloo')
    rank, res, X = dist.get_rank(), {}, data(dist.get_rank())
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        res['n_components'] = attempt(lambda: GaussianMixture(3 if rank == 0 else 4, random_state=0, **f64).fit(X))
        res['means_init'] = attempt(lambda: GaussianMixture(2, means_init=[[0., 0.], [1., rank]], **f64).fit(X))
        res['partial_fit'] = attempt(lambda: GaussianMixture(3, covariance_type='diag' if rank else 'full', **f64).partial_fit(X))
        res['agreeing'] = attempt(lambda: GaussianMixture(3, random_state=rank, device='cpu', verbose=rank, **f64).fit(X))   # their own seeds, prints
        def stall(gm, snap):   # rank 1 stops answering in its second iteration, for longer than rank 0 waits
            if snap.step == 2:
                (Path(out_dir) / 'rank1.json').write_text(json.dumps(res)); time.sleep(TIMEOUT_S + 1); os._exit(0)
        res['stall'] = attempt(lambda: GaussianMixture(3, tol=0, max_iter=50, random_state=0, distributed_timeout=TIMEOUT_S / 60, **f64)
                               .fit(X, callback=stall if rank == 1 else None))
    (Path(out_dir) / f'rank{rank}.json').write_text(json.dumps(res))
    os._exit(0)   # no destroy_process_group: the other worker is gone

def free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist-fail')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), __file__, str(out)]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(Path(__file__).parents[1]))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)   # a hang fails here, not after 30 minutes
    assert p.returncode == 0, p.stderr[-3000:]
    return [json.loads((out / f'rank{r}.json').read_text()) for r in (0, 1)]

@pytest.mark.parametrize('case,arg', [('n_components', 'n_components'), ('means_init', 'means_init'), ('partial_fit', 'covariance_type')])
def test_different_arguments_fail_on_every_worker_naming_them(results, case, arg):
    "Checked before the first all-reduce (gloo aborted the process before): a ValueError on both ranks, with each rank's value."
    for res in results:
        e = res[case]['error']
        assert e.startswith(f'ValueError: {arg}: the workers were given different values'), e
        assert 'rank 0: ' in e and 'rank 1: ' in e
    if case == 'n_components': assert 'rank 0: 3; rank 1: 4' in results[0][case]['error']

def test_arguments_that_are_each_workers_own_may_differ(results):
    assert results[0]['agreeing']['error'] is None and results[1]['agreeing']['error'] is None

def test_a_stalled_worker_stops_the_other_after_the_timeout(results):
    "Rank 1 stalls mid-fit; rank 0 stops after distributed_timeout (not the process group's 30 minutes), naming itself and rank 1."
    r = results[0]['stall']
    assert r['error'].startswith('RuntimeError: distributed EM: rank 0 of 2 stopped in all_reduce: rank 1 did not reach it'), r['error']
    assert f'distributed_timeout={TIMEOUT_S / 60:g} minutes' in r['error']
    assert r['seconds'] >= TIMEOUT_S

def test_timeout_is_a_checked_argument():
    assert GaussianMixture().get_params()['distributed_timeout'] == 10.   # minutes
    for bad in (0, -1.):
        with pytest.raises(ValueError, match='distributed_timeout'): GaussianMixture(distributed_timeout=bad)

if __name__ == '__main__': worker(sys.argv[1])
