"""Utilities of `mlenb.decoding` against oracles: chrF and BLEU matrices against sacrebleu's sentence scores
(to 1e-9, every pair, Unicode, punctuation, odd whitespace and empty strings, looping samples), a loop's cost that
does not grow with its repeats, self-BLEU against sacrebleu's multi-reference BLEU, token edit distance against a
plain dynamic programme, reference aggregation with one reference per group against the exact matrix."""
import random

import pytest
import torch

from mlenb.decoding import (chrf_matrix, bleu_matrix, edit_similarity_matrix, exact_match_matrix, utility_matrix, self_bleu,
                            tokenize_13a, mbr_select)

sacrebleu = pytest.importorskip('sacrebleu')
from sacrebleu.metrics import BLEU, CHRF

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
WORDS = ['the', 'cat', 'sat', 'on', 'mat', 'Katze', 'saß', 'façade', 'naïve', 'über', '中文', '字', 'δ', '🙂', 'a', 'I',
         "don't", 'U.S.', '3.50', '$', 'e-mail', '(yes)', 'end.', ',', '!', 'x-1', '&amp;', 'aaaa', 'aa']


def sentences(n, seed):
    "Random sentences: repeats, empty strings, single characters, tabs and double spaces, trailing spaces."
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.choice([0, 1, 1, 2, 3, 5, 8, 12, 20])
        s = rng.choice([' ', '  ', '\t', ' \n '][:1 + (i % 4)]).join(rng.choice(WORDS) for _ in range(k))
        out.append(s + (' ' if i % 7 == 0 else ''))
    out += ['', ' ', 'a', out[3], out[3]]
    return out


def chrf_oracle(hyps, refs, **kw):
    m = CHRF(**kw)
    return torch.tensor([[m.sentence_score(h, [r]).score for r in refs] for h in hyps], dtype=torch.float64)


def bleu_oracle(hyps, refs, **kw):
    m = BLEU(effective_order=True, **kw)
    return torch.tensor([[m.sentence_score(h, [r]).score for r in refs] for h in hyps], dtype=torch.float64)


@pytest.mark.parametrize('device', DEVICES)
def test_chrf_equals_sacrebleu_all_pairs(device):
    hy = sentences(45, 0)
    got = chrf_matrix(hy, device=device)
    assert got.dtype == torch.float64 and got.shape == (len(hy), len(hy))
    torch.testing.assert_close(got, chrf_oracle(hy, hy), atol=1e-9, rtol=0)


@pytest.mark.parametrize('char_order, beta', [(4, 1), (1, 3), (8, 2)])
def test_chrf_knobs(char_order, beta):
    hy, rf = sentences(20, 1), sentences(15, 2)
    torch.testing.assert_close(chrf_matrix(hy, rf, char_order=char_order, beta=beta), chrf_oracle(hy, rf, char_order=char_order, beta=beta),
                               atol=1e-9, rtol=0)


@pytest.mark.parametrize('device', DEVICES)
def test_bleu_equals_sacrebleu_all_pairs(device):
    hy, rf = sentences(40, 3), sentences(30, 4)
    torch.testing.assert_close(bleu_matrix(hy, rf, device=device), bleu_oracle(hy, rf), atol=1e-9, rtol=0)


def test_bleu_max_order():
    hy = sentences(20, 5)
    torch.testing.assert_close(bleu_matrix(hy, max_ngram_order=2), bleu_oracle(hy, hy, max_ngram_order=2), atol=1e-9, rtol=0)


def test_tokenize_13a_equals_sacrebleu():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    tok = Tokenizer13a()
    for s in sentences(60, 6) + ['He said: "x-1, 2.5,3" &quot;ok&quot; <skipped> done-\nnow.']:
        assert tokenize_13a(s) == tok(s.rstrip()).split()


def test_long_sentences_match_and_are_symmetric_in_ids():
    "About 20 words per sentence, the benchmark's shape, with many shared n-grams."
    rng = random.Random(7)
    base = [rng.choice(WORDS) for _ in range(20)]
    hy = [' '.join(w if rng.random() < 0.7 else rng.choice(WORDS) for w in base) for _ in range(40)]
    torch.testing.assert_close(chrf_matrix(hy), chrf_oracle(hy, hy), atol=1e-9, rtol=0)
    torch.testing.assert_close(bleu_matrix(hy), bleu_oracle(hy, hy), atol=1e-9, rtol=0)


def test_self_bleu_equals_sacrebleu_multi_reference():
    for seed in range(3):
        hy = [s for s in sentences(25, 10 + seed) if s.strip()]
        want = sum(sacrebleu.sentence_bleu(h, hy[:i] + hy[i + 1:]).score for i, h in enumerate(hy)) / len(hy)
        assert abs(self_bleu(hy) - want) < 1e-9


def levenshtein(a, b):
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


@pytest.mark.parametrize('device', DEVICES)
def test_edit_similarity_equals_dynamic_programme(device):
    hy, rf = sentences(30, 8), sentences(25, 9)
    got = edit_similarity_matrix(hy, rf, device=device)
    want = torch.tensor([[1.0 if not (h.split() or r.split()) else 1 - levenshtein(h.split(), r.split()) / max(len(h.split()), len(r.split()))
                          for r in rf] for h in hy], dtype=torch.float64)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_exact_match():
    hy = sentences(20, 11)
    want = torch.tensor([[float(h.split() == r.split()) for r in hy] for h in hy], dtype=torch.float64)
    assert torch.equal(exact_match_matrix(hy), want)


def test_utility_matrix_dispatch():
    hy = sentences(6, 12)
    assert torch.equal(utility_matrix(hy, utility='chrf'), chrf_matrix(hy))
    assert torch.equal(utility_matrix(hy, hy, utility=lambda h, r: torch.ones(len(h), len(r))), torch.ones(len(hy), len(hy), dtype=torch.float64))
    with pytest.raises(ValueError, match="utility='meteor'"): utility_matrix(hy, utility='meteor')


@pytest.mark.parametrize('utility', ['chrf', 'bleu'])
def test_aggregation_with_singleton_groups_is_exact(utility):
    hy, rf = sentences(15, 13), sentences(12, 14)
    w = torch.rand(len(rf), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = mbr_select(hy, rf, w, utility=utility)
    agg = mbr_select(hy, rf, w, utility=utility, method='aggregate', num_groups=len(rf))
    torch.testing.assert_close(agg.expected_utility, exact.expected_utility, atol=1e-9, rtol=0)
    assert agg.utility_calls == len(hy) * len(rf) and mbr_select(hy, rf, utility=utility, method='aggregate').utility_calls == len(hy)


@pytest.mark.parametrize('call, arg', [(lambda: chrf_matrix([]), 'hyps'), (lambda: chrf_matrix('a b'), 'hyps'), (lambda: bleu_matrix(['a'], []), 'refs'),
                                       (lambda: chrf_matrix(['a'], char_order=0), 'char_order=0'), (lambda: chrf_matrix([1]), 'hyps')])
def test_bad_input(call, arg):
    with pytest.raises((ValueError, TypeError), match=arg): call()


LOOPS = ['ab' * 1000, 'ab' * 999 + 'a', 'ba' * 300, ' '.join(['the'] * 30), ' '.join(['the'] * 120), ' '.join(['the cat'] * 45),
         'the ' * 77 + 'end', 'a' * 500, 'a' * 499, '']   # what a degenerate model samples: loops of every length


@pytest.mark.parametrize('device', DEVICES)
def test_looping_samples_equal_sacrebleu(device):
    "Loops ('ab' * 1000, a word said 30 to 120 times) among ordinary sentences, symmetric and not, chrF and BLEU."
    hy, rf = LOOPS + sentences(12, 17), LOOPS[::2] + sentences(6, 18)
    torch.testing.assert_close(chrf_matrix(hy, device=device), chrf_oracle(hy, hy), atol=1e-9, rtol=0)
    torch.testing.assert_close(chrf_matrix(hy, rf, device=device), chrf_oracle(hy, rf), atol=1e-9, rtol=0)
    torch.testing.assert_close(bleu_matrix(hy, device=device), bleu_oracle(hy, hy), atol=1e-9, rtol=0)
    torch.testing.assert_close(bleu_matrix(rf, hy, device=device), bleu_oracle(rf, hy), atol=1e-9, rtol=0)


def test_loop_cost_does_not_grow_with_its_repeats():
    "The interval matrix of a loop of k repeats has about k / 256 ones per n-gram, not k (the count levels' cost)."
    from mlenb.decoding import _intervals, _ngram_counts, _codes_of, _char_codes
    def ones(texts):
        flat, lens = _codes_of(_char_codes(texts), 'cpu')
        return sum(_intervals(s, g, c)[0].numel() for s, g, c, _ in _ngram_counts(flat, lens, 6))
    base = sentences(40, 19) + ['abba ab', 'ab ab ab']
    for k in (1000, 20000, 10 ** 6):
        assert ones(base + ['ab' * k]) - ones(base) <= 6 * 2 * (k // 256 + 8)     # 6 orders, two n-grams ('ab..', 'ba..') each


def test_dense_and_sparse_min_sum_agree():
    "The GPU path (dense products) gives the CPU path's matches, and counting a list once gives what counting it twice does; on the CPU, so it is tested without a GPU."
    from mlenb.decoding import _pair_stats, _char_codes
    hy, rf = sentences(30, 15) + LOOPS, sentences(20, 16) + LOOPS[1::2]
    a, ha, ra = _pair_stats(_char_codes(hy), _char_codes(rf), 6, torch.device('cpu'))
    b, hb, rb = _pair_stats(_char_codes(hy), _char_codes(rf), 6, torch.device('cpu'), dense=True)
    for x, y in zip(a, b): assert torch.equal(x, y)
    assert torch.equal(ha, hb) and torch.equal(ra, rb)
    for dense in (None, True):
        s, hs, rs = _pair_stats(_char_codes(hy), None, 6, torch.device('cpu'), dense=dense)
        t, ht, rt = _pair_stats(_char_codes(hy), _char_codes(hy), 6, torch.device('cpu'), dense=dense)
        for x, y in zip(s, t): assert torch.equal(x, y)
        assert torch.equal(hs, ht) and torch.equal(rs, rt)
