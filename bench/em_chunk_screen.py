"""A study for issue 17's D=50 diagonal case: how many (chunk, component) products a bound per chunk could skip, by row order.

A component whose logit is sure to lie more than the E-step's floor (80 nats in float32, 700 in float64) below every
row's largest in a chunk gets the floor's responsibility whatever its exact value, so its two products over that chunk
(logits and statistics) could be skipped and its floored share added from one matrix-vector product. This script
measured what such a skip could gain before it was built (the E-step's screen, `mlenb.em.steps._Screen`). It fits `bench/em_vs_sklearn.py --diag`'s case (same data, same start)
for `--iters` iterations, then, for chunks of the E-step's size taken in several row orders, counts the pairs kept

- exactly: some row's logit lies within the floor of its largest (the most any per-chunk skip can drop);
- by a bound from each chunk's centre, radius and box: the component's largest logit over the chunk (the ball's
  sqrt q_k(c) - sqrt(max P_k) r, squared, or the box's nearest point, whichever is larger) against the best
  component's smallest (sqrt q_k(c) + sqrt(max P_k) r).

The orders: the data's own (make_blobs shuffles), by each row's true blob (not known to a fit), by its best component,
by its best and second-best components, and a random-projection tree (split at the median along the line through two
far points, to the chunk's size; its time is printed). Products scale with the pairs kept.

    python bench/em_chunk_screen.py             # N=1,000,000, float64 and float32, after 6 iterations (about 70 s)
    python bench/em_chunk_screen.py --margins   # also the test by the last full step's margins (about 5.5 minutes)
    python bench/em_chunk_screen.py --quick     # N=200,000
    python bench/em_chunk_screen.py --time      # one E+M pass, every product against skipping the pairs no row needs (about a minute)

Measured (2026-12-07, 2-core AMD EPYC, `python bench/em_chunk_screen.py`, 70 s): N=1,000,000, after 6 iterations,
fraction of the pairs kept (float64 chunks 2,166 rows, float32 4,332):

    order              float64: bound  exactly    float32: bound  exactly
    data's own                  1.000    0.950             1.000    0.950
    true blob                   0.289    0.239             0.187    0.067
    best component              0.598    0.240             0.518    0.069
    best and second             0.562    0.240             0.477    0.069
    projection tree             0.435    0.250             0.415    0.093    (the tree: 10.2 s / 5.2 s, in Python)

So a per-chunk skip could drop 3/4 of the products in float64 and 9/10 in float32 if it knew exactly, but the bound
keeps 0.42-0.60 in every order tried that a fit could build. The bound is loose in high D: a row's offset from its
chunk's centre is nearly orthogonal to the line to a far component, which the triangle inequality cannot see (the
cross term is bounded by 2 |mu_k - c|_P sqrt(max P_k) r with r = 9.5, the largest offset, where the rows' offsets
along that line reach 4.2, for a chunk of one blob and the line to another 61 away). Bounding it row by row costs a
product as large as the one to be skipped, and in an isotropic blob the chunk's covariance or its box give nothing
tighter. With the tree order the products would shrink to about 0.42-0.44 of today's, and the order costs seconds
before the first step (here more than a 12-iteration fit); `--time` below shows that even a perfect skip saves less
than the products' share.

The other test a skip could take needs no geometry: the exact margins of the last step that took every product,
widened by how far the natural parameters moved since (a row's margin L_nk - m_n moves by at most
(|dH_k| + |dH_best|) |f_n|; here the chunk's largest |f_n| and the largest |dH|). `--margins` counts it for the step
after iteration t0, rows in best-component order, beside the exact count for that step (2026-12-07, same machine,
5.5 min; the test missed no pair the exact count keeps):

    N          t0   max |dH|    float64: kept (exactly)   float32: kept (exactly)
    1,000,000   6     1.14         0.341 (0.240)             0.243 (0.069)
    1,000,000  12     0.303        0.243 (0.240)             0.116 (0.069)
    1,000,000  30     0.11         0.240 (0.240)             0.090 (0.069)
    200,000  6-30     3.7-13.2     1.000                     0.916-1.000

At N=1,000,000 the parameters settle: from iteration 12 on the test keeps within 0.003 of the exact count in float64
and within 0.02-0.05 in float32. At N=200,000 a component still moves (|dH| 4-13 per iteration against features of
norm ~10^3) and the test skips little or nothing.

Timed (`--time`, same machine, 2026-12-07, about a minute): one E+M pass over the engine's chunks (`_Memory`, rows
in best-component order after iteration 12), every product against skipping exactly the pairs no row needs (an
oracle: the test itself costs nothing here), `_e_chunk` both ways, the skipped pairs' floored share added from one
product per chunk (statistics equal within the products' rounding bound, asserted): float64 0.369 -> 0.292 s (1.26x,
0.760 of the pairs skipped), float32 0.165 -> 0.105 s (1.58x, 0.931 skipped); an earlier run with the features built
by hand read 0.318 -> 0.252 s and 0.164 -> 0.094 s. The products are not all of a pass: building each chunk's
features, the softmax over all K and the skip's own small operations per chunk (a logits buffer, gathers of the kept
rows, an index_add) stay. So even a free, exact test leaves float64 at 5-6x scikit-learn's 1.54 s on this machine;
float32 would pass 10x (15-16x per pass, before the collapsed component's direct form). To build it: order the rows
once by their best component (an argsort and one copy of the cached rows), keep each chunk's margins and largest
feature norm from its last full step, let a chunk that fails the test take every product and renew them, and add the
skipped pairs' floored share by one product per chunk. Built so since (`_Screen`, 2026-12-07): what it reads is in
`em_vs_sklearn.py`'s docstring.
"""
import os
for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(_v, '1')
import argparse, time, warnings
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.datasets import make_blobs

from em_vs_sklearn import initial
from mlenb.em import GaussianMixture
from mlenb.em.covariance import gmm_features
from mlenb.em.sources import _Memory
from mlenb.em.steps import _EXP_FLOOR, _e_chunk

FLOOR = {dt: -_EXP_FLOOR[dt] for dt in (torch.float32, torch.float64)}   # nats: the E-step's exp floor

def fitted(X:np.ndarray, dtype, iters:int)->SimpleNamespace:
    "The diagonal fit of `--diag` after `iters` iterations: its natural parameters H (K, F) and shift as the E-step takes them, const (log weight + log det / 2), means and precisions in float64, and the E-step's chunk size."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        gm = GaussianMixture(20, covariance_type='diag', tol=0, max_iter=iters, dtype=dtype, progress=False, **initial(X, 20, 0, 'diag'))
        gm.fit(torch.as_tensor(X).to(dtype))
    mu, P = (torch.as_tensor(np.asarray(a), dtype=torch.float64) for a in (gm.means_, gm.precisions_))
    const = torch.as_tensor(np.asarray(gm.weights_), dtype=torch.float64).log() + 0.5 * P.log().sum(1)
    return SimpleNamespace(H=gm._H[0].double(), shift=gm._shift.double(), const=const, mu=mu, P=P, chunk=gm._chunk(20, 101))

def logits(Xc:torch.Tensor, H:torch.Tensor, step:int=50_000)->torch.Tensor:
    "Every centred row's logits (n, K), float64: `gmm_features` times H."
    return torch.cat([gmm_features(Xc[a:a + step], 'diag').T @ H.T for a in range(0, len(Xc), step)])

def chunk_margins(L:torch.Tensor, c:int)->torch.Tensor:
    "Per chunk of `c` rows and component, the largest logit less its row's largest, (chunks, K)."
    return torch.stack([((G := L[a:a + c]) - G.amax(1, keepdim=True)).amax(0) for a in range(0, len(L), c)])

def chunk_max(v:torch.Tensor, c:int)->torch.Tensor: return torch.stack([v[a:a + c].max() for a in range(0, len(v), c)])

def tree_order(X:torch.Tensor, idx:torch.Tensor, leaf:int)->list:
    "Indices split at the median along the line through two far points, down to `leaf` rows."
    if len(idx) <= leaf: return [idx]
    S = X[idx]
    p1 = S[((S - S[0]) ** 2).sum(1).argmax()]
    p2 = S[((S - p1) ** 2).sum(1).argmax()]
    o, h = (S @ (p2 - p1)).argsort(), len(idx) // 2
    return tree_order(X, idx[o[:h]], leaf) + tree_order(X, idx[o[h:]], leaf)

def kept_by_bound(X:torch.Tensor, c:int, floor:float, const, mu, P)->float:
    "Fraction of pairs a bound from each chunk's centre, radius and box cannot rule out."
    kept = []
    for a in range(0, len(X), c):
        C = X[a:a + c]
        centre = C.mean(0)
        reach = P.amax(1).sqrt() * (C - centre).norm(dim=1).max()                       # sqrt(max P_k) r
        near = ((centre - mu) ** 2 * P).sum(1).sqrt()                                    # sqrt q_k(centre)
        box = (((C.amin(0) - mu).clamp_min(0) ** 2 + (mu - C.amax(0)).clamp_min(0) ** 2) * P).sum(1)
        upper = const - 0.5 * torch.maximum((near - reach).clamp_min(0) ** 2, box)     # largest logit over the chunk
        lower = (const - 0.5 * (near + reach) ** 2).max()                                # the best component's smallest
        kept.append(upper >= lower - floor)
    return float(torch.stack(kept).float().mean())

def margins_test(X:np.ndarray, dtype, t0:int)->tuple[float, float, int, float]:
    "For the step after iteration t0, rows in t0's best-component order: fractions of pairs kept by t0's exact margins widened by (|dH_k| + max |dH|) times the chunk's largest feature norm, and exactly; the pairs the test missed (0); max |dH|."
    f0, f1 = fitted(X, dtype, t0), fitted(X, dtype, t0 + 1)
    Xc = torch.as_tensor(X) - f0.shift
    L0 = logits(Xc, f0.H)
    order, c, dH = L0.argmax(1).argsort(stable=True), f0.chunk, (f1.H - f0.H).norm(dim=1)
    Xc, L0 = Xc[order], L0[order]
    norms = (1 + (Xc ** 2).sum(1) + (Xc ** 4).sum(1)).sqrt()   # |f_n|
    test = chunk_margins(L0, c) + (dH + dH.max()) * chunk_max(norms, c)[:, None] >= -FLOOR[dtype]
    exact = chunk_margins(logits(Xc, f1.H), c) >= -FLOOR[dtype]
    return float(test.float().mean()), float(exact.float().mean()), int((exact & ~test).sum()), float(dH.max())

def pass_times(N:int, dtype, iters:int=12, repeat:int=3)->tuple[float, float, float]:
    "Best seconds of one E+M pass over the engine's chunks (`_Memory`), rows in best-component order: every product, and skipping exactly the pairs no row needs (an oracle: the most a skip can gain); and the pairs kept."
    X, _ = make_blobs(N, 50, centers=20, random_state=0)
    f = fitted(X, dtype, iters)
    order = logits(torch.as_tensor(X) - f.shift, f.H).argmax(1).argsort(stable=True)
    X = torch.as_tensor(X).to(dtype)[order]
    keep = chunk_margins(logits(X.double() - f.shift, f.H), f.chunk) >= -FLOOR[dtype]
    kept, skipped = [k.nonzero()[:, 0] for k in keep], [(~k).nonzero()[:, 0] for k in keep]
    src, H, K = _Memory(X, None, 'diag', dtype, shift=f.shift), f.H.to(dtype)[None], 20
    def every():
        table = torch.zeros(K, src.F, dtype=torch.float64)
        for PT, _ in src.chunks(f.chunk):
            resp, _ = _e_chunk(H, PT); table += (resp[0] @ PT.T).double()
        return table
    def skipping():
        table = torch.zeros(K, src.F, dtype=torch.float64)
        for (PT, _), S, Z in zip(src.chunks(f.chunk), kept, skipped):
            def some(PT):   # the kept pairs' logits; -inf elsewhere, which the E-step's clamp floors as it floors them now
                L = PT.new_full((K, PT.shape[1]), -float('inf')); L[S] = H[0, S] @ PT; return L[None]
            resp, _ = _e_chunk(H, PT, some)
            table.index_add_(0, S, (resp[0, S] @ PT.T).double())
            if len(Z): table[Z] += (resp[0, Z[0]] @ PT.T).double()   # every skipped pair's responsibilities are the same floored column
        return table
    t_every = t_skip = float('inf')
    for _ in range(repeat):
        t = time.perf_counter(); A = every(); t_every = min(t_every, time.perf_counter() - t)
        t = time.perf_counter(); B = skipping(); t_skip = min(t_skip, time.perf_counter() - t)
    d = src.d   # the same responsibilities either way: only the products' rounding differs, at most c eps times sum |r f|
    scale = torch.cat([A[:, :1], (A[:, :1] * A[:, 1 + d:]).sqrt(), A[:, 1 + d:]], 1)   # sum |r x| <= sqrt(n_k sum r x^2)
    assert ((A - B).abs() <= 2 * f.chunk * torch.finfo(dtype).eps * scale).all(), 'the skip changed the statistics beyond rounding'
    return t_every, t_skip, float(keep.float().mean())

def study(N:int, dtype, iters:int, exact:bool, margins:bool):
    X, y = make_blobs(N, 50, centers=20, random_state=0)
    f = fitted(X, dtype, iters)
    Xd, c = torch.as_tensor(X), f.chunk
    L = logits(Xd - f.shift, f.H)
    top2 = L.topk(2, 1).indices
    t = time.perf_counter(); tree = torch.cat(tree_order(Xd.to(dtype), torch.arange(N), c)); t_tree = time.perf_counter() - t
    orders = {"data's own": torch.arange(N), 'true blob': torch.as_tensor(np.argsort(y, kind='stable')),
              'best component': top2[:, 0].argsort(stable=True), 'best and second': (top2[:, 0] * 20 + top2[:, 1]).argsort(stable=True),
              'projection tree': tree}
    print(f"N={N:,} D=50 K=20 diag {str(dtype).replace('torch.', '')}, after {iters} iterations, chunks of {c:,} rows (the tree took {t_tree:.1f} s)", flush=True)
    for o, order in orders.items():
        ex = f" | exactly {float((chunk_margins(L[order], c) >= -FLOOR[dtype]).float().mean()):.3f}" if exact else ''
        print(f"   {o:16} kept by the bound {kept_by_bound(Xd[order], c, FLOOR[dtype], f.const, f.mu, f.P):.3f}{ex}", flush=True)
    for t0 in ((6, 12, 30) if margins else ()):
        k, ex, missed, dH = margins_test(X, dtype, t0)
        print(f"   iteration {t0 + 1} by iteration {t0}'s margins (best-component order): kept {k:.3f} (exactly {ex:.3f}, missed {missed}), max |dH| {dH:.3g}", flush=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='N=200,000')
    ap.add_argument('--n', type=int, default=None, help='rows (default 1,000,000; 200,000 with --quick)')
    ap.add_argument('--iters', type=int, default=6, help='EM iterations before the count')
    ap.add_argument('--no-exact', action='store_true', help='skip the exact count')
    ap.add_argument('--time', action='store_true', help='only time one E+M pass, every product against the exact skip (after 12 iterations)')
    ap.add_argument('--margins', action='store_true', help="also the test by the last full step's margins (after iterations 6, 12, 30)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    N = args.n or (200_000 if args.quick else 1_000_000)
    for dt in (torch.float64, torch.float32):
        if not args.time: study(N, dt, args.iters, not args.no_exact, args.margins); continue
        t_every, t_skip, kept = pass_times(N, dt)
        print(f"N={N:,} D=50 K=20 diag {str(dt).replace('torch.', '')}: one E+M pass, every product {t_every:.3f} s, "
              f"skipping {1 - kept:.3f} of the pairs {t_skip:.3f} s ({t_every / t_skip:.2f}x)", flush=True)

if __name__ == '__main__':
    main()
