"""chrF++ and TER against sacrebleu: `chrf_matrix(word_order=2)` against `CHRF(word_order=2).sentence_score` and
`ter_matrix` against `TER().sentence_score` (shifts included), to 1e-12 on every pair of varied sentences (empty,
punctuation at either end of words, Unicode, case, long loops), the dense (GPU) path of chrF++ run on the CPU, the
utility names 'chrf++' and 'ter' in `utility_matrix` and `mbr_select`, and reference aggregation with chrF++."""
import random

import pytest
import torch

from mlenb.decoding import (chrf_matrix, chrfpp_matrix, chrf_words, ter_matrix, neg_ter_matrix, utility_matrix, mbr_select,
                            UTILITIES, _chrf_stats, _chrf_scores, _unique_index)
from test_decoding_utilities import sentences

sacrebleu = pytest.importorskip('sacrebleu')
from sacrebleu.metrics import CHRF, TER

PUNCT_WORDS = ['"Yes"', '(no)', 'ok!?', '.', '..', ',a', 'a,', '-', '--x', 'x--', "'s", 'U.S.', '...', '(', ')', '!x!', 'é.', '«x»']


def varied(n, seed):
    "Sentences with punctuation glued to words, case changes and loops, on top of `sentences`'."
    rng = random.Random(seed)
    out = sentences(n, seed)
    out += [' '.join(rng.choice(PUNCT_WORDS + ['the', 'The', 'THE', 'cat', 'Cat']) for _ in range(rng.randint(0, 12))) for _ in range(n)]
    out += ['the cat ' * 30, 'the cat. ' * 12, 'a a a a a a a a a a a', 'a', 'A', '.', ' . ', '']
    return out


def oracle(metric, hyps, refs):
    return torch.tensor([[metric.sentence_score(h, [r]).score for r in refs] for h in hyps], dtype=torch.float64)


def test_chrf_words_equals_sacrebleu():
    m = CHRF(word_order=2)
    for s in varied(40, 0): assert chrf_words(s) == m._remove_punctuation(s), s


@pytest.mark.parametrize('dense', [None, True])
def test_chrfpp_equals_sacrebleu(dense):
    hy, rf = varied(30, 1), varied(20, 2)
    want = oracle(CHRF(word_order=2), hy, rf)
    hu, hi = _unique_index(hy); ru, ri = _unique_index(rf)
    m, ht, rt = _chrf_stats(hu, ru, 6, 2, torch.device('cpu'), dense)
    torch.testing.assert_close(_chrf_scores(m, ht, rt, 2.)[hi][:, ri], want, atol=1e-12, rtol=0)
    if dense is None:
        torch.testing.assert_close(chrf_matrix(hy, rf, word_order=2), want, atol=1e-12, rtol=0)
        torch.testing.assert_close(chrfpp_matrix(hy, rf), want, atol=1e-12, rtol=0)
        torch.testing.assert_close(utility_matrix(hy, rf, 'chrf++'), want, atol=1e-12, rtol=0)


@pytest.mark.parametrize('char_order, word_order, beta', [(6, 1, 2), (4, 3, 1), (1, 2, 3)])
def test_chrf_word_orders(char_order, word_order, beta):
    hy = varied(15, 3)
    torch.testing.assert_close(chrf_matrix(hy, char_order=char_order, word_order=word_order, beta=beta),
                               oracle(CHRF(char_order=char_order, word_order=word_order, beta=beta), hy, hy), atol=1e-12, rtol=0)


@pytest.mark.parametrize('device', ['cpu'] + (['cuda'] if torch.cuda.is_available() else []))
def test_chrfpp_on_device(device):
    hy = varied(12, 4)
    torch.testing.assert_close(chrf_matrix(hy, word_order=2, device=device), oracle(CHRF(word_order=2), hy, hy), atol=1e-12, rtol=0)


def adversarial_ter():
    "Pairs where shifts matter: permuted blocks, repeats, long sentences past the beam and the shift distance, empty sides."
    rng = random.Random(5)
    W = 'a b c d e the of'.split()
    base = 'the quick brown fox jumps over the lazy dog'.split()
    out = [' '.join(base), ' '.join(base[4:] + base[:4]), ' '.join(base[::-1]), ' '.join(base[2:6] + base[:2] + base[6:]),
           'x ' * 70, 'x y ' * 40, ' '.join(str(i) for i in range(80)), ' '.join(str(i) for i in range(79, -1, -1)),
           'a b c d e f g h i j k l m n o p q r s t', 'The Quick brown FOX', '', ' ', 'a']
    out += [' '.join(rng.choice(W) for _ in range(rng.randint(0, 25))) for _ in range(25)]
    return out


def test_ter_equals_sacrebleu():
    hy = adversarial_ter() + varied(8, 6)
    torch.testing.assert_close(ter_matrix(hy), oracle(TER(), hy, hy), atol=1e-12, rtol=0)


def test_ter_case_sensitive_and_random_pairs():
    rng = random.Random(7)
    W = ['a', 'A', 'b', 'B', 'c', 'the', 'The', '.', ',']
    hy = [' '.join(rng.choice(W) for _ in range(rng.randint(0, 15))) for _ in range(30)]
    rf = [' '.join(rng.choice(W) for _ in range(rng.randint(0, 15))) for _ in range(20)]
    torch.testing.assert_close(ter_matrix(hy, rf, case_sensitive=True), oracle(TER(case_sensitive=True), hy, rf), atol=1e-12, rtol=0)
    torch.testing.assert_close(ter_matrix(hy, rf), oracle(TER(), hy, rf), atol=1e-12, rtol=0)


def test_ter_utility_is_minus_ter():
    hy = adversarial_ter()[:4] + adversarial_ter()[9:13]
    U = utility_matrix(hy, None, 'ter')
    assert torch.equal(U, -ter_matrix(hy)) and torch.equal(U, neg_ter_matrix(hy)) and (U <= 0).all()
    assert torch.equal(ter_matrix(hy).diagonal(), torch.zeros(len(hy), dtype=torch.float64))
    r = mbr_select(hy, utility='ter')
    assert r.index == int((U.mean(1)).argmax()) and {'chrf++', 'ter'} <= set(UTILITIES)


def test_chrfpp_in_mbr_and_aggregation():
    hy, rf = varied(10, 8), varied(12, 9)
    w = torch.rand(len(rf), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = mbr_select(hy, rf, w, 'chrf++')
    torch.testing.assert_close(exact.expected_utility, oracle(CHRF(word_order=2), hy, rf) @ (w / w.sum()), atol=1e-12, rtol=0)
    agg = mbr_select(hy, rf, w, 'chrf++', method='aggregate', num_groups=len(rf))   # one reference per group: the exact matrix
    torch.testing.assert_close(agg.expected_utility, exact.expected_utility, atol=1e-12, rtol=0)
    one = mbr_select(hy, rf, w, 'chrf++', method='aggregate')
    assert one.utility_calls == len(hy) and one.expected_utility.isfinite().all()


@pytest.mark.parametrize('call, msg', [
    (lambda: chrf_matrix(['a'], word_order=-1), 'word_order=-1'),
    (lambda: chrf_matrix(['a'], word_order=1.5), 'word_order=1.5'),
    (lambda: ter_matrix('a b'), 'hyps: expected a list of strings'),
    (lambda: ter_matrix(['a'], [3]), r'refs\[0\]=3'),
    (lambda: ter_matrix(['a'], case_sensitive=1), 'case_sensitive=1'),
    (lambda: mbr_select(['a'], utility='ter', method='aggregate'), "utility='ter'"),
    (lambda: utility_matrix(['a'], utility='chrf+'), "utility='chrf\\+'"),
])
def test_bad_arguments(call, msg):
    with pytest.raises((ValueError, TypeError), match=msg): call()
