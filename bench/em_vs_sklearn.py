"""EM per iteration: mlenb.em.GaussianMixture against scikit-learn, same data, same initial parameters, one process.

Both run on one CPU thread (torch.set_num_threads(1); threadpoolctl for NumPy's BLAS). Seconds per
iteration are differences of whole fits, (T(max_iter=b) - T(max_iter=a)) / (b - a), so set-up, the
first and the last E-step cancel. The ratio is scikit-learn's time over mlenb's (higher is better for
mlenb). `--device cuda` times mlenb on a GPU against scikit-learn on one CPU thread.

    python bench/em_vs_sklearn.py            # N=200,000 D=8 K=16 full float64; N=1,000,000 D=2 K=8 float64 and float32
    python bench/em_vs_sklearn.py --quick    # smaller, for a smoke test
    python bench/em_vs_sklearn.py --restarts # also: 16 restarts batched against one (mlenb only)
    python bench/em_vs_sklearn.py --device cuda --restarts --large   # the GPU targets; --large: N=10,000,000 (mlenb only)
    python bench/em_vs_sklearn.py --small    # the teaching size N=500 D=2 K=3 (full, float64 and float32): per iteration and a default fit
    python bench/em_vs_sklearn.py --diag     # N=1,000,000 D=50 K=20 diagonal, float64 and float32 (issue 17's case; about 3 minutes)
    python bench/em_vs_sklearn.py --diag --diag-n 100000    # the same at N=100,000, for a quick run

The diagonal rows time iterations 6 to 12: in float32 a component shrinks onto one point at iteration 3, and the M-step
then takes that component's statistics once more, from float64 features (one extra pass, once), to tell its variance
from rounding; the window starts after that one-off pass.

Skipping rows that have settled was tried for the diagonal case (2026-12-05, not kept): a row whose best component
leads every other by log(n / eps) + 8 nats changes nothing beyond rounding if it is counted one-hot, so its float64
features can be summed once per component and the row skipped until a bound says another component may have come
near. It stays exact (1e-12 from scikit-learn's means) but made this case slower: 0.11-0.15 s per iteration against
0.067 s at N=200,000 in float64 (iterations 4-15). From the shared initial means 9 of the 20 components end up on two or three blobs
or sharing one, so 15% (N=100,000) to 25% (N=200,000) of the rows never settle, and the bounds that cost O(1) per row (the lead lowered by
|dH| times each row's feature norms, or a radius around each component's mean within which no other component can
come near) let at most 26-40% of the rows be skipped (N=200,000): the components spanning several blobs have rows
25-39 from their mean and certify none. The rows left are gathered, which costs more per row than the chunked pass. Bounds per row
and component (Elkan's) would be as large as the logits themselves.

Where the time goes at N=1,000,000 (2026-12-06, a 2-core Intel Xeon with 2 MB of L2 per core, MKL; `gm.step()` timed
chunk by chunk): in float64, 0.325 s per step = building each chunk's features from the cached centred rows 0.10 s
(reading those rows alone takes 0.036 s), the E-step's product 0.068 s, its softmax 0.064 s, the M-step's product 0.092 s.
Both products run at 45-60 GFLOP/s, near one core's peak. In float32, 0.24 s: one component sits on one point from
iteration 3 on, and the test for the rows where it may count (its product bound is 496 nats) cost about 200 us per chunk
of 4,332 rows. That test now takes one `amax` and `index_select` instead of a subtraction and advanced indexing
(5.9% faster per float32 step, old and new code taking turns in one process). Also tried here, and not kept because they
help only on some machines or some shapes: chunks 2-4x larger (float32 0.232 -> 0.205 s, float64 0.327 -> 0.307 s, but
N=1,000,000 D=2 K=8 full 8-26% slower); the M-step's product as features @ R.T (8-30% faster per product at K <= 20,
10% slower with 16 restarts; BLAS-specific, not measured on the AMD machine); a sparse M-step through torch.sparse (the
product 4x faster at 1.2 nonzero responsibilities per row, but building the CSR matrix costs as much as the dense product,
and it needs the features by rows). On this machine scikit-learn took 1.75-2.23 s per iteration; mlenb read 5.1x-6.5x
in float64 and 6.3x-9.3x in float32 over three runs (the host is shared: the same command varied by 40%).

On a 2-core AMD EPYC (AVX-512, 1 MB of L2 per core, MKL; 2026-12-06, `--diag`): scikit-learn took 1.54 s per iteration
in float64 and the two products alone, on one cache-resident chunk, 0.207 s (37-40 GFLOP/s, near one core's float64
peak), so no exact EM that computes them reads more than 7.4x there; mlenb read 5.3x (0.293 s). In float32 6.1x
(0.259 s; products 0.122 s, a ceiling of 13x). Of a float32 `gm.step()` (0.21-0.23 s under torch.profiler) the products
take 128 ms, `exp` 18 ms, building the features from the cached rows 27 ms (`copy_` 19, x*x 7, the ones row 1.5), and
the rest many small ops of 1-5 ms per step each (`amax`, `index_select`, `sum`, `any`, `nonzero`, ...). Each chunk's
features are written into one reused buffer (Intel: 5-6% faster per float64 step at D=20-50 diagonal; AMD: 10% at
N=500,000 D=20 K=10 full float32, within noise at D=50). Tried on the AMD machine, not kept: chunks 2x larger (6-10%
faster per step at D=50, but slower at D=2-20 on the Intel one); the M-step's product as features @ R.T (slower there:
23 against 37 GFLOP/s at K=20 in float64); the exact rows' test returning early when no row needs them (1%, within
noise). On the same machine MKL's own one-thread rate (2048^3) is 75 GFLOP/s in float32 and 40 in float64, and the
E-step's product shape reaches 66 and 40: even at 75 the float32 products would take 108 ms, so 10x (0.158 s) would
leave 50 ms for exp, the features and the softmax, which take 93 ms now (a 0.215 s step). Also not kept: taking each
chunk's products straight from the cached rows (x and x^2 as separate products, no copy into the features buffer), 7%
slower over all chunks with both taking turns. Two threads for mlenb alone gave no clear gain (best of 5 steps
0.19-0.31 s against 0.21-0.22 s on one; the host was noisy).

Two changes on the same AMD machine (2026-12-07). The E-step's exponentials are now exp2 of u log2 e: exp takes 82 us
and exp2 28 us on 20 x 4,332 float32 logits (2.0x in float64), 5-7% per D=50 step and up to 26% at D=2 K=8 float32
(old and new `_e_chunk` taking turns in one process). And in float32 a second component, not collapsed, had sat just
above the direct form's threshold (its bound 0.020 nats: largest precision 38.5 times |x|^2 = 2,535): it made 60-90
rows per chunk take the direct form, 51 us per chunk. The bound now takes each feature's largest square where |x|^2
alone sends a component to the direct form (0.0037 nats for that one), 7% per float32 step. `--diag` then read 7.6x
in float32 (0.202 s against 1.54 s; mlenb 1.76x its products floor, 2.36x before) and 4.1x in float64 (0.353 s; this
host's float64 ratio moved 3.3-4.6x between runs of the same code). What is left of a float32 step beyond the products
is mostly the one collapsed component: its rows test (`_columns_near`, 47 us per chunk, 11 ms per step) and its float64
rows (`_exact_rows`, 11 ms); with neither, a step took 0.171 s before exp2, about 0.16 s with it: 9.6x at best.

Beyond the products floor: skipping a component's products over a chunk where its responsibilities are sure to be
floored is studied in `bench/em_chunk_screen.py` (2026-12-07, not built). Exactly, 0.24 of the (chunk, component)
pairs are needed in float64 and 0.07 in float32 once the rows are ordered by their best component; a bound from each
chunk's geometry keeps 0.42-0.60 (too loose in high D), while the last full step's margins widened by how far the
parameters moved keep 0.24-0.34 in float64 and 0.09-0.24 in float32 at N=1,000,000 from iteration 6 on (in float64
within 0.003 of the exact count from iteration 12), but little or nothing at N=200,000, where a component still moves.
Even skipping exactly the pairs no row needs, at no cost for the test, one float64 pass took 0.369 -> 0.292 s (1.26x;
float32 0.165 -> 0.105 s, 1.58x): the features, the softmax and the skip's own operations stay, so float64 stays at 5-6x.

Built (2026-12-07): the E-step's screen (`mlenb.em.steps._Screen`, nbs/02c_em_steps.ipynb; tests/test_em_screen.py).
After the first pass the cached rows are ordered by their best component (one argsort and one copy); each chunk's full
pass records its margins, and later passes skip the products those margins, widened by how far each block of H (the
constant, x, the second moments) moved times the chunk's largest norm of that block, put below the floor. The kept
components' softmax runs over them alone (the floored ones add a constant), and their floored share comes from one
product per chunk. A chunk renews its margins once stale margins have cost it a full pass of extra products (ski
rental); a screen whose fresh margins would skip under a quarter and solve no chunk for four passes in a row retires (one that skipped under a tenth, before solved chunks); it is off for several restarts, kept
responsibilities, uncached or streamed data, missing entries and devices other than the CPU (not measured there).
On the AMD machine, N=1,000,000, `gm.step()` one at a time (iterations 8-14, medians, screen on against
`_Screen.min_chunks = 10**9` in the same process): float64 0.379 -> 0.275 s (1.38x), float32 0.286 -> 0.142 s (2.0x),
skipping 0.55-0.68 / 0.67-0.79 of the products (the margins test of `em_chunk_screen.py` kept 0.24-0.34 / 0.09-0.24
with the largest |dH| and |f|; per block and with renewal it keeps somewhat more, since chunks renew only when that pays).
scikit-learn, stepped in the same process (`_e_step`, `_m_step`), took 1.92 s (fastest 1.15 s): 7.0x / 13.5x. Three
`--diag` runs the same hour read 3.3x-8.8x / 3.2x-39x: scikit-learn's own iteration moved 0.71-2.19 s between runs,
so the differencing of whole fits says little on this host now. Where nothing is floored the screen costs little:
fits of 4 and 12 iterations differenced, best of 3, on against off: N=200,000 D=8 K=16 full float64 1.03x (0.91-0.93x
in noisier runs), N=1,000,000 D=2 K=8 float64 / float32 1.02x / 0.98x (it retires there), N=200,000 D=50 diag
1.14x / 0.99x. Float64 stays short of 10x: the products it still takes run at about 20 GFLOP/s (five to eight
components per chunk make small products) and building each chunk's features stays; half-size chunks were slower
(0.33-0.35 against 0.25-0.27 s per step).

Solved chunks (2026-12-07, built; nbs/02c_em_steps.ipynb, tests/test_em_screen.py). In float64 the floor is 700 nats,
and 4 to 16 components per chunk lay within it; but a skipped responsibility of e^-g changes a component's statistics
by at most e^-g times the chunk's weight and block norms, so a pair whose share, summed over the chunks, stays within
eps of the component's own scales (its count, first and second moments in the last pass, with 7 nats to spare) is as
good as floored: about 40 nats instead of 700. `certify` checks the shares against the pass's own statistics after it
(tests/test_em_screen.py takes a failing one again by the floor alone). A chunk left one component is solved from its
weighted feature sums (taken once per order): its rows are not read. Rows are ordered by best component, those no other
comes near (within the threshold) first, and ordered again once the chunks a new order would solve add up to two passes.
A chunk that fresh margins would solve renews at once. On the AMD machine, N=1,000,000, `gm.step()` one at a time,
iterations 8-20, medians: float64 0.056-0.066 s (393 of 462 chunks solved; the screen off 0.337 s), float32 0.052 s
(166 of 231), means within 3e-15 of the unscreened fit's. `--diag` (float64): 0.077 s against scikit-learn's 1.27 s,
16.5x, means 3.8e-13 from scikit-learn's; the products floor above (0.207 s) no longer bounds it, since solved chunks
take no products.

At the teaching size one iteration takes well under a millisecond, so a busy machine's noise is as large as the
difference: the small rows interleave the two libraries' fits and keep the best of many (`--repeat`, default 30).

The teaching size on the AMD machine (2026-12-07, `--small`): scikit-learn took 0.33-0.35 ms per iteration and mlenb
0.36 / 0.37 ms (float64 / float32), 0.92-0.94x. An iteration there is about a hundred tensor operations of 1-4 us each
(a Python number in an operation adds about 1 us), so what counts is how many there are and how many syncs. The
M-step now makes one check in the usual case (no variance at its rounding level, no failed factor, nothing
overflowed), where it made three syncs and cleaned up every Cholesky factor (the where, the finiteness test: 14 of
its 21 us); only otherwise does it take the careful path, which gives the same bits. Lloyd's iterations (the default
`kmeans` start) make one sync each (about 90 -> 35 us per iteration). The old and new packages imported side by side,
their fits taking turns (best of 30): 1.23x / 1.19x per iteration; `--small` then read 1.14x-1.17x / 1.06x-1.12x per
iteration and 1.02x-1.18x for a default fit, over seven runs (one float64 run under a burst of load: 0.95x).
"""
import os
for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(_v, '1')
import argparse, time, warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from mlenb.em import GaussianMixture, ConvergenceWarning

def initial(X, K, seed=0, covariance_type='full'):
    "Shared initial parameters: K random points as means, equal weights, the data's precision for every component (its diagonal for 'diag')."
    rng = np.random.default_rng(seed)
    means = X[rng.choice(len(X), K, replace=False)]
    P = np.linalg.inv(np.cov(X.T).reshape(X.shape[1], X.shape[1]))
    if covariance_type == 'diag': P = P.diagonal().copy()
    return dict(weights_init=np.full(K, 1 / K), means_init=means, precisions_init=np.repeat(P[None], K, 0))

def interleaved(makes, Xs, repeat):
    "Best wall time of each fit in `makes` (built afresh, fitted on the matching X), taking turns `repeat` times; and the models."
    best, models = [float('inf')] * len(makes), [None] * len(makes)
    for _ in range(repeat):
        for i, (make, X) in enumerate(zip(makes, Xs)):
            m = make(); t = time.perf_counter(); m.fit(X); best[i] = min(best[i], time.perf_counter() - t); models[i] = m
    return best, models

def small(dtype, a, b, repeat, N=500, D=2, K=3, seed=0):
    "The panel's size: seconds per iteration (same initial parameters) and a default fit (each library's defaults, no progress bar)."
    X, _ = make_blobs(N, D, centers=K, random_state=seed)
    X = X.astype(np.float32 if dtype == torch.float32 else np.float64)
    init, Xt = initial(X.astype(np.float64), K, seed), torch.as_tensor(X)
    mine = lambda n: (lambda: GaussianMixture(K, tol=0, max_iter=n, dtype=dtype, progress=False, **init))
    theirs = lambda n: (lambda: SkGaussianMixture(K, tol=0, max_iter=n, **init))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ConvergenceWarning); warnings.simplefilter('ignore', SkConvergenceWarning)
        (ma, mb, sa, sb), (_, me, _, sk) = interleaved([mine(a), mine(b), theirs(a), theirs(b)], [Xt, Xt, X, X], repeat)
        (fm, fs), (dm, ds) = interleaved([lambda: GaussianMixture(K, random_state=seed, dtype=dtype, progress=False),
                                          lambda: SkGaussianMixture(K, random_state=seed)], [Xt, X], repeat)
    t_me, t_sk = (mb - ma) / (b - a), (sb - sa) / (b - a)
    name = str(dtype).replace('torch.', '')
    print(f"N={N:>9,} D={D} K={K:>2} full {name:7} cpu   | mlenb {t_me * 1e3:7.3f} ms/it | sklearn {t_sk * 1e3:7.3f} ms/it | ratio {t_sk / t_me:5.2f}x | "
          f"default fit: mlenb {fm * 1e3:6.2f} ms ({dm.n_iter_} it) sklearn {fs * 1e3:6.2f} ms ({ds.n_iter_} it) ratio {fs / fm:5.2f}x", flush=True)
    return t_me, t_sk, fm, fs

def fit_time(make, X, iters, repeat):
    "Best wall time of `repeat` fits stopped after `iters` iterations, and the last fitted model."
    best = float('inf')
    for _ in range(repeat):
        m = make(iters)
        t = time.perf_counter(); m.fit(X); best = min(best, time.perf_counter() - t)
    return best, m

def per_iter(make, X, a, b, repeat):
    "Seconds per iteration, by differencing fits of `a` and `b` iterations; and the `b`-iteration model."
    ta, _ = fit_time(make, X, a, repeat)
    tb, m = fit_time(make, X, b, repeat)
    return (tb - ta) / (b - a), m

def run(N, D, K, dtype, device, a, b, repeat, seed=0, ct='full'):
    X, _ = make_blobs(N, D, centers=K, random_state=seed)
    X = X.astype(np.float32 if dtype == torch.float32 else np.float64)
    init = initial(X.astype(np.float64), K, seed, ct)
    Xt = torch.as_tensor(X, device=device)
    mine = lambda n: GaussianMixture(K, covariance_type=ct, tol=0, max_iter=n, dtype=dtype, device=device, progress=False, **init)
    theirs = lambda n: SkGaussianMixture(K, covariance_type=ct, tol=0, max_iter=n, **init)
    note = ''
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ConvergenceWarning); warnings.simplefilter('ignore', SkConvergenceWarning)
        t_me, me = per_iter(mine, Xt, a, b, repeat)
        try: t_sk, sk = per_iter(theirs, X, a, b, repeat)
        except ValueError:   # D=50 diag in float32: a component on one point gets a negative variance and scikit-learn stops
            if X.dtype == np.float64: raise
            t_sk, sk = per_iter(theirs, X.astype(np.float64), a, b, repeat)
            note = ' | sklearn on float64 data (its float32 fit fails: "ill-defined empirical covariance")'
    dm = np.abs(me.means_.double().cpu().numpy() - sk.means_).max()
    dl = abs(me.lower_bounds_[-1] - sk.lower_bounds_[-1])
    name = str(dtype).replace('torch.', '')
    print(f"N={N:>9,} D={D} K={K:>2} {ct:4} {name:7} {device:5} | mlenb {t_me:9.5f} s/it | sklearn {t_sk:9.5f} s/it | "
          f"ratio {t_sk / t_me:6.2f}x | max|d means| {dm:.1e} |d loglik| {dl:.1e}{note}", flush=True)
    return t_me, t_sk

def matmul_floor(N, D, K, dtype, device, repeat=3, seed=0)->float:
    "Seconds of the two products every exact EM iteration needs, logits = W [1, x, x^2] and R [1, x, x^2]^T, on one cache-sized chunk taken N/c times: the arithmetic alone."
    g = torch.Generator(device=device).manual_seed(seed)
    c = GaussianMixture(K, dtype=dtype, device=device)._chunk(K, 1 + 2 * D)   # rows per chunk, as the E-step takes them
    F = torch.randn(1 + 2 * D, c, generator=g, dtype=dtype, device=device)   # one chunk of features, held transposed (as mlenb holds them), reused: it stays in cache
    W, R = torch.randn(K, 1 + 2 * D, generator=g, dtype=dtype, device=device), torch.rand(K, c, generator=g, dtype=dtype, device=device)
    def products():
        for _ in range(-(-N // c)): W @ F; R @ F.T
    t = float('inf')
    for _ in range(repeat):
        if device != 'cpu': torch.cuda.synchronize()
        s = time.perf_counter(); products()
        if device != 'cpu': torch.cuda.synchronize()
        t = min(t, time.perf_counter() - s)
    return t

def restarts(N, D, K, R, dtype, device, a, b, repeat, seed=0):
    "Seconds per iteration of R restarts run as one batch against one restart."
    X, _ = make_blobs(N, D, centers=K, random_state=seed)
    Xt = torch.as_tensor(X, dtype=dtype, device=device)
    make = lambda n_init: (lambda n: GaussianMixture(K, n_init=n_init, init_params='random_from_data', tol=0, max_iter=n,
                                                    random_state=seed, dtype=dtype, device=device, progress=False))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ConvergenceWarning)
        t1, _ = per_iter(make(1), Xt, a, b, repeat)
        tR, _ = per_iter(make(R), Xt, a, b, repeat)
    print(f"N={N:>9,} D={D} K={K:>2} full {str(dtype).replace('torch.', ''):7} {device:5} | 1 restart {t1:9.5f} s/it | "
          f"{R} batched {tR:9.5f} s/it | cost {tR / t1:5.2f}x one", flush=True)

def alone(N, D, K, dtype, device, a, b, repeat, seed=0):
    "mlenb alone, for sizes where scikit-learn would take minutes per iteration."
    g = torch.Generator(device=device).manual_seed(seed)
    centres = torch.randn(K, D, generator=g, device=device, dtype=dtype) * 10
    Xt = centres[torch.randint(K, (N,), generator=g, device=device)] + torch.randn(N, D, generator=g, device=device, dtype=dtype)
    make = lambda n: GaussianMixture(K, covariance_type='full', init_params='random_from_data', tol=0, max_iter=n, random_state=seed,
                                     dtype=dtype, device=device, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ConvergenceWarning)
        t, _ = per_iter(make, Xt, a, b, repeat)
    print(f"N={N:>9,} D={D} K={K:>2} full {str(dtype).replace('torch.', ''):7} {device:5} | mlenb {t:9.5f} s/it (no scikit-learn run)", flush=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='small sizes, for a smoke test')
    ap.add_argument('--device', default='cpu', help="where mlenb runs: 'cpu' or 'cuda'")
    ap.add_argument('--repeat', type=int, default=None, help='fits per timing (best of)')
    ap.add_argument('--restarts', action='store_true', help='also time 16 restarts batched against one')
    ap.add_argument('--large', action='store_true', help='also time mlenb alone at N=10,000,000, D=8, K=16 (float32 and float64)')
    ap.add_argument('--small', action='store_true', help='only the teaching size, N=500 D=2 K=3 full (float64, float32)')
    ap.add_argument('--diag', action='store_true', help='only D=50 K=20 diagonal (float64, float32), at N=--diag-n')
    ap.add_argument('--diag-n', type=int, default=1_000_000, help='N of the diagonal rows (default 1,000,000, the issue\'s case)')
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.small or args.diag:
        print(f"mlenb vs scikit-learn, 1 CPU thread, torch {torch.__version__}")
        with threadpool_limits(1):
            if args.small:
                for dt in (torch.float64, torch.float32): small(dt, 5, 55, args.repeat or 30)
            if args.diag:
                for dt in (torch.float64, torch.float32):
                    t_me, t_sk = run(args.diag_n, 50, 20, dt, args.device, 6, 12, args.repeat or 2, ct='diag')
                    fl = matmul_floor(args.diag_n, 50, 20, dt, args.device)   # no exact EM iteration that takes every product is faster than its two products
                    print(f"   the two products alone, features in cache: {fl:9.5f} s | mlenb = {t_me / fl:4.2f}x that | scikit-learn = {t_sk / fl:4.2f}x that, "
                          f"the most an exact EM that takes every product can gain (mlenb's screen skips those below the floor or rounding)", flush=True)
        return
    repeat = args.repeat or (3 if args.quick else 2)
    a, b = (2, 10) if args.quick else (2, 12)
    cases = [(20_000, 8, 16, torch.float64), (100_000, 2, 8, torch.float64), (100_000, 2, 8, torch.float32)] if args.quick else \
            [(200_000, 8, 16, torch.float64), (1_000_000, 2, 8, torch.float64), (1_000_000, 2, 8, torch.float32)]
    print(f"mlenb vs scikit-learn, seconds per EM iteration ({b} - {a} iterations, best of {repeat}), 1 CPU thread, "
          f"torch {torch.__version__}")
    with threadpool_limits(1):
        for N, D, K, dt in cases: run(N, D, K, dt, args.device, a, b, repeat)
        if args.restarts: restarts(20_000 if args.quick else 200_000, 8, 16, 16, torch.float32, args.device, a, b, repeat)
        if args.large:
            for dt in (torch.float32, torch.float64): alone(1_000_000 if args.quick else 10_000_000, 8, 16, dt, args.device, a, b, repeat)

if __name__ == '__main__':
    main()
