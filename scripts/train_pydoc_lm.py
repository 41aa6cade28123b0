"""Train the character-level pydoc model shipped as mlenb/assets/pydoc_lm.pt, reproducibly (fixed seeds, one CPU thread).

    OMP_NUM_THREADS=1 python scripts/train_pydoc_lm.py            # writes mlenb/assets/pydoc_lm.pt
    python scripts/train_pydoc_lm.py --out /tmp/x.pt --rounds 2   # a quick check

Sentences of CPython's `pydoc_data.topics` (`mlenb.lm.pydoc_sentences`), split by CRC-32 (`pydoc_split`): training,
validation (chooses the number of rounds) and held-out test. The model trains by likelihood (`TransformerLM.fit`) in
rounds of `--steps` steps, the learning rate falling by `--decay` each round; the weights of the round with the best
validation bits per character are kept, rounded to float16 and saved with the test sentences and the measured bits.
The held-out sentences are stored in the checkpoint, so prompts and comparisons do not depend on the Python version."""
import argparse, math, platform, sys, time
from pathlib import Path

import torch
from mlenb.lm import TransformerLM, Vocab, pydoc_sentences, pydoc_split, save_lm, load_lm


def bits_per_char(lm, texts)->float:
    "Mean negative log2-probability per scored character (each text's characters and its EOS)."
    lp = torch.cat([lm.logprob(texts[i:i + 64]) for i in range(0, len(texts), 64)])
    return -lp.sum().item() / sum(len(t) + 1 for t in texts) / math.log(2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(Path(__file__).resolve().parents[1] / 'mlenb' / 'assets' / 'pydoc_lm.pt'))
    ap.add_argument('--d-model', type=int, default=128); ap.add_argument('--layers', type=int, default=3)
    ap.add_argument('--heads', type=int, default=4); ap.add_argument('--max-len', type=int, default=200)
    ap.add_argument('--dropout', type=float, default=0.2); ap.add_argument('--lr', type=float, default=4e-3)
    ap.add_argument('--decay', type=float, default=0.9); ap.add_argument('--rounds', type=int, default=20)
    ap.add_argument('--steps', type=int, default=100); ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--seed', type=int, default=0); ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)                                       # dropout draws from torch's global generator
    train, val, test = pydoc_split(pydoc_sentences())
    vocab = Vocab.chars(train + val + test)
    lm = TransformerLM(vocab, d_model=a.d_model, n_layers=a.layers, n_heads=a.heads, max_len=a.max_len, seed=a.seed, dropout=a.dropout)
    print(f"{len(train)} / {len(val)} / {len(test)} sentences, {len(vocab)} tokens, {sum(p.numel() for p in lm.parameters())} weights", flush=True)
    t0, best, log = time.perf_counter(), (math.inf, None, 0), []
    for r in range(a.rounds):
        lm.fit(train, steps=a.steps, batch_size=a.batch_size, lr=a.lr * a.decay ** r, seed=a.seed + r)
        v = bits_per_char(lm, val)
        log.append(dict(round=r + 1, steps=(r + 1) * a.steps, train_bits=lm.trace_.last.loss / math.log(2), val_bits=v,
                        seconds=time.perf_counter() - t0))
        print(' '.join(f'{k}={x:.3f}' if isinstance(x, float) else f'{k}={x}' for k, x in log[-1].items()), flush=True)
        if v < best[0]: best = (v, {k: t.clone() for k, t in lm.state_dict().items()}, r + 1)
    lm.load_state_dict(best[1])
    meta = dict(test=test, config={k: v for k, v in vars(a).items() if k != 'out'}, rounds_kept=best[2], log=log, train_seconds=time.perf_counter() - t0,
                python=platform.python_version(), torch=str(torch.__version__), sentences=dict(train=len(train), val=len(val), test=len(test)))
    save_lm(lm, a.out, **meta)
    back = load_lm(a.out)                                            # what ships: float16 weights, read back as float32
    back.meta.update(val_bits=bits_per_char(back, val), test_bits=bits_per_char(back, test), train_bits=bits_per_char(back, train))
    save_lm(back, a.out, **back.meta)
    m = back.meta
    print(f"kept round {best[2]}; float16 checkpoint: bits/char train {m['train_bits']:.3f} val {m['val_bits']:.3f} test {m['test_bits']:.3f} "
          f"(perplexity per character {2 ** m['test_bits']:.2f}); {Path(a.out).stat().st_size / 2**20:.2f} MiB at {a.out}")


if __name__ == '__main__': main(sys.argv[1:])
