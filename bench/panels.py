"""Panel latency: one EM step with 2,000 points redrawn (target < 100 ms) and 50 flow training steps plus a redraw
(target < 1 s), on the CPU with one thread, driven headlessly as a person would (button clicks).

    python bench/panels.py [--quick] [--device cpu]
"""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, statistics, time
import torch
from mlenb.widgets import EMPanel, FlowPanel

def clicks(button, n):
    "Wall time of each of n clicks."
    out = []
    for _ in range(n):
        t = time.perf_counter(); button.click(); out.append(time.perf_counter() - t)
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--quick', action='store_true'); ap.add_argument('--device', default='cpu')
    a = ap.parse_args()
    torch.set_num_threads(1)
    n = 3 if a.quick else 10
    em = EMPanel(n_samples=2000, device=a.device); em.step_button.click()
    t = clicks(em.step_button, n)
    print(f"EM step + redraw, 2,000 points: median {1e3 * statistics.median(t):.0f} ms (target < 100 ms)")
    fp = FlowPanel(steps=50, device=a.device); fp.train_button.click()
    t = clicks(fp.train_button, n)
    print(f"50 flow steps + redraw (nsf, 4 layers, hidden 32, batch 512): median {statistics.median(t):.2f} s (target < 1 s)")
