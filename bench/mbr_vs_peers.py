"""MBR utility matrices: mlenb.decoding.chrf_matrix against sacrebleu's pairwise loop and fastchrf, in one run.

The data are N sentences of about 20 words, like MBR samples: perturbations of one base sentence (70% of
its words kept, the rest drawn from a 3,000-word vocabulary of random lower-case words). Every method
computes the full N x N chrF matrix (char order 6, beta 2, whitespace removed: sacrebleu's sentence chrF)
from the strings, n-gram counting included. sacrebleu runs one `CHRF().sentence_score(h, [r])` per pair
(the reference loop); fastchrf runs `pairwise_chrf` (Rust); mlenb runs `chrf_matrix`. Ratios are the
peer's seconds over mlenb's (higher is better for mlenb), measured in this run; max |diff| is against
sacrebleu. Then BLEU (13a, exp smoothing, effective order) the same way, and MBR with its fast variants
(reference aggregation, confidence-based pruning): utility calls and seconds. CPU runs use one thread.

Looping samples (what a degenerate model produces): the same N sentences with the last one replaced by a loop,
'ab' * 1,000, 'ab' * 20,000 or a word said 120 times, and N samples that are all loops (a random word said 30 to
120 times: five times the characters, so over 1x is expected there); mlenb's time over its clean-data time (the target is at most
1.5x whatever the repeat count) and fastchrf's over mlenb's; max |diff| against sacrebleu on the loop's row and
column (against 32 sentences).

    python bench/mbr_vs_peers.py                 # N=256 on the CPU (sacrebleu's loop takes ~15-30 s)
    python bench/mbr_vs_peers.py --quick         # N=64, for a smoke test
    python bench/mbr_vs_peers.py --device cuda   # also mlenb on the GPU at N=256 and N=1,024
"""
import os
for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(_v, '1')
import argparse, random, time

import torch

from mlenb.decoding import chrf_matrix, bleu_matrix, ter_matrix, mbr_select


def sentences(n, words=20, seed=0):
    "n perturbations of one base sentence of `words` words."
    rng = random.Random(seed)
    vocab = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9))) for _ in range(3000)]
    base = [rng.choice(vocab) for _ in range(words)]
    return [' '.join(w if rng.random() < 0.7 else rng.choice(vocab) for w in base[:rng.randint(words - 3, words + 3)]) for _ in range(n)]


def best_time(f, repeat):
    "Best wall time of `repeat` calls, and the last result."
    best, out = float('inf'), None
    for _ in range(repeat):
        if torch.cuda.is_available(): torch.cuda.synchronize()
        t = time.perf_counter(); out = f()
        if torch.cuda.is_available(): torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, out


def sacrebleu_loop(metric, hyps, refs):
    return torch.tensor([[metric.sentence_score(h, [r]).score for r in refs] for h in hyps], dtype=torch.float64)


def chrf_bench(n, repeat):
    from sacrebleu.metrics import CHRF
    hy = sentences(n)
    t_sb, want = best_time(lambda: sacrebleu_loop(CHRF(), hy, hy), 1)
    t_me, got = best_time(lambda: chrf_matrix(hy), repeat)
    line = f"chrF  N={n:5} | sacrebleu loop {t_sb:8.3f} s | mlenb {t_me:7.4f} s | sacrebleu/mlenb {t_sb / t_me:7.1f}x"
    try:
        import fastchrf
        t_fc, fc = best_time(lambda: fastchrf.pairwise_chrf([hy], [hy]), repeat)
        dfc = (torch.tensor(fc[0], dtype=torch.float64) - want).abs().max().item()
        line += f" | fastchrf {t_fc:7.4f} s | fastchrf/mlenb {t_fc / t_me:6.1f}x | fastchrf max|diff| {dfc:.1e}"
    except ImportError:
        line += " | fastchrf not installed"
    print(line + f" | mlenb max|diff| {(got - want).abs().max().item():.1e}", flush=True)


def loop_bench(n, repeat):
    from sacrebleu.metrics import CHRF
    clean = sentences(n)
    t_clean, _ = best_time(lambda: chrf_matrix(clean), repeat)
    print(f"chrF  N={n:5} clean         | mlenb {t_clean:7.4f} s", flush=True)
    rng, words = random.Random(1), [w for s in clean for w in s.split()]
    every = [' '.join([rng.choice(words)] * rng.randint(30, 120)) for _ in range(n)]     # every sample a loop (5x the characters)
    for name, hy in [("'ab' * 1000", clean[:-1] + ['ab' * 1000]), ("'ab' * 20000", clean[:-1] + ['ab' * 20000]),
                     ("'the ' * 120", clean[:-1] + ['the ' * 120]), ("all loops", every)]:
        loop = hy[-1]
        t_me, got = best_time(lambda: chrf_matrix(hy), repeat)
        m, few = CHRF(), hy[:32]
        row = torch.tensor([m.sentence_score(loop, [r]).score for r in few], dtype=torch.float64)
        col = torch.tensor([m.sentence_score(h, [loop]).score for h in few], dtype=torch.float64)
        diff = max((got[-1, :32] - row).abs().max().item(), (got[:32, -1] - col).abs().max().item())
        line = f"chrF  N={n:5} + {name:13} | mlenb {t_me:7.4f} s | mlenb/clean {t_me / t_clean:5.2f}x"
        try:
            import fastchrf
            t_fc, _ = best_time(lambda: fastchrf.pairwise_chrf([hy], [hy]), repeat)
            line += f" | fastchrf {t_fc:7.4f} s | fastchrf/mlenb {t_fc / t_me:6.1f}x"
        except ImportError:
            line += " | fastchrf not installed"
        print(line + f" | mlenb max|diff| (loop's row and column) {diff:.1e}", flush=True)


def bleu_bench(n, repeat):
    from sacrebleu.metrics import BLEU
    hy = sentences(n, seed=1)
    t_sb, want = best_time(lambda: sacrebleu_loop(BLEU(effective_order=True), hy, hy), 1)
    t_me, got = best_time(lambda: bleu_matrix(hy), repeat)
    print(f"BLEU  N={n:5} | sacrebleu loop {t_sb:8.3f} s | mlenb {t_me:7.4f} s | sacrebleu/mlenb {t_sb / t_me:7.1f}x | "
          f"mlenb max|diff| {(got - want).abs().max().item():.1e}", flush=True)


def mbr_bench(n, repeat):
    hy = sentences(n, seed=2)
    exact = mbr_select(hy)
    for name, kw in [('exact', {}), ('aggregate', dict(method='aggregate')), ('aggregate, 8 groups', dict(method='aggregate', num_groups=8)),
                     ('prune', dict(method='prune'))]:
        t, r = best_time(lambda: mbr_select(hy, **kw), repeat)
        print(f"MBR   N={n:5} chrF {name:20} | {t:7.4f} s | utility calls {r.utility_calls:7,} | choice {'=' if r.index == exact.index else '!'}= exact's "
              f"(its true rank {int((exact.expected_utility > exact.expected_utility[r.index]).sum())})", flush=True)


def gpu_bench(sizes, repeat):
    for n in sizes:
        hy = sentences(n, seed=3)
        chrf_matrix(hy[:8], device='cuda')                              # warm-up
        t, got = best_time(lambda: chrf_matrix(hy, device='cuda'), repeat)
        t_cpu, ref = best_time(lambda: chrf_matrix(hy), 1)
        print(f"chrF  N={n:5} cuda | mlenb {t:7.4f} s (counting included) | mlenb cpu {t_cpu:7.3f} s | max|cuda - cpu| {(got - ref).abs().max().item():.1e}", flush=True)
def chrfpp_bench(n, repeat):
    from sacrebleu.metrics import CHRF
    hy = sentences(n, seed=2)
    t_sb, want = best_time(lambda: sacrebleu_loop(CHRF(word_order=2), hy, hy), 1)
    t_me, got = best_time(lambda: chrf_matrix(hy, word_order=2), repeat)
    print(f"chrF++ N={n:4} | sacrebleu loop {t_sb:8.3f} s | mlenb {t_me:7.4f} s | sacrebleu/mlenb {t_sb / t_me:7.1f}x | "
          f"mlenb max|diff| {(got - want).abs().max().item():.1e}", flush=True)


def ter_bench(n, repeat):
    "TER runs sacrebleu's algorithm in Python: the gain is a leaner loop and each distinct pair once."
    from sacrebleu.metrics import TER
    hy = sentences(n, seed=3)
    t_sb, want = best_time(lambda: sacrebleu_loop(TER(), hy, hy), 1)
    t_me, got = best_time(lambda: ter_matrix(hy), 1)
    print(f"TER   N={n:5} | sacrebleu loop {t_sb:8.3f} s | mlenb {t_me:7.4f} s | sacrebleu/mlenb {t_sb / t_me:7.1f}x | "
          f"mlenb max|diff| {(got - want).abs().max().item():.1e}", flush=True)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='N=64 only')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--repeat', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    n = 64 if a.quick else 256
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device for mlenb: cpu" + (' and cuda' if a.device == 'cuda' else ''))
    chrf_bench(n, a.repeat)
    loop_bench(n, a.repeat)
    bleu_bench(n // 2 if not a.quick else n, a.repeat)
    mbr_bench(n, a.repeat)
    chrfpp_bench(n, a.repeat)
    ter_bench(n // 4 if not a.quick else n // 2, a.repeat)
    if a.device == 'cuda': gpu_bench([256, 1024] if not a.quick else [64, 256], a.repeat)
