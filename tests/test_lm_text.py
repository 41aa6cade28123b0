"""Tests of the character-level pydoc model (issue 14): the character vocabulary next to the word one, the sentence
filter and its deterministic held-out split, the shipped checkpoint (loads without training, scores held-out text
as its metadata says and far better than a unigram model, the cache agrees with whole-sequence scoring), save/load,
dropout, `decoding_model('pydoc text')`, and the decoding tools that must work without a known P."""
import math, zlib, string
from collections import Counter
from pathlib import Path

import pytest
import torch

import mlenb
from mlenb.examples import decoding_model, DECODING_MODELS
from mlenb.lm import (Vocab, LanguageModel, TransformerLM, pydoc_sentences, pydoc_split,
                      pydoc_lm, pydoc_prompts, save_lm, load_lm)
from mlenb.decoding import analyze_prompt, compare_rules, greedy, sample

ASSET = Path(mlenb.__file__).parent / 'assets' / 'pydoc_lm.pt'


@pytest.fixture(scope='module')
def lm(): return pydoc_lm()


def bits(m, texts):
    return -m.logprob(texts).sum().item() / sum(len(t) + 1 for t in texts) / math.log(2)


# ---------------------------------------------------------------- vocabulary
def test_char_vocab_joins_with_nothing_word_vocab_with_spaces():
    c = Vocab.chars(['ab a', 'ba.'])
    assert c.itos == ['<s>', '</s>', ' ', '.', 'a', 'b'] and c.sep == ''
    assert c.encode('ab a') == [4, 5, 2, 4] and c.text(c.encode('ba. ab') + [1, 4]) == 'ba. ab'
    assert c.encode(['a', 'b']) == [4, 5] and c.encode('') == []
    with pytest.raises(ValueError, match="unknown token 'z' at position 2"): c.encode('abz')
    w = Vocab.build(['the', 'cat'])
    assert w.sep == ' ' and w.encode('the  cat') == [2, 3] and w.text([2, 3]) == 'the cat'
    assert Vocab(['<s>', '</s>', 'x', 'y'], sep='|').encode('x|y') == [2, 3] and Vocab(['<s>', '</s>', 'x'], sep='|').encode('') == []
    with pytest.raises(TypeError, match='sep=None'): Vocab(['<s>', '</s>'], sep=None)
    assert 'sep' not in repr(w) and "sep=''" in repr(c)


# ---------------------------------------------------------------- data
def test_sentences_are_plain_prose_and_the_split_is_deterministic_and_disjoint():
    s = pydoc_sentences()
    assert len(s) > 1000 and sum(map(len, s)) > 100_000 and len(set(s)) == len(s) and s == pydoc_sentences()
    printable = set(map(chr, range(32, 127)))
    for x in s:
        assert 24 <= len(x) <= 160 and set(x) <= printable and x[0].isupper() and x.endswith('.') and len(x.split()) >= 5
        assert sum(c.islower() or c == ' ' for c in x) >= .75 * len(x) and '  ' not in x
    train, val, test = pydoc_split(s)
    assert sorted(train + val + test) == sorted(s) and not (set(train) & set(test) or set(val) & set(test) or set(train) & set(val))
    assert all(zlib.crc32(x.encode()) % 10 == 0 for x in test) and all(zlib.crc32(x.encode()) % 10 == 1 for x in val)
    assert 0.07 < len(test) / len(s) < 0.13 and 0.07 < len(val) / len(s) < 0.13
    assert pydoc_split(list(reversed(s)))[2] == list(reversed(test))          # membership depends on the sentence alone


def test_sentence_filter_drops_code_indented_examples_and_fragments():
    topics = {'b': 'Plain words make a plain sentence.\n\n   >>> x = [1, 2, 3]\n   >>> print(x)\n\nx = y[0] + z[1] * w[2] is code.',
              'a': 'Too short here.  This line\n   has mixed indentation so it is dropped.\n\nA sentence of words without a stop',
              'c': 'Plain words make a plain sentence.  Another one follows it, quite plain.'}
    assert pydoc_sentences(topics) == ['Plain words make a plain sentence.', 'Another one follows it, quite plain.']


# ---------------------------------------------------------------- the shipped checkpoint
def test_checkpoint_is_small_and_loads_without_training(lm):
    assert ASSET.is_file() and ASSET.stat().st_size < 2 * 2**20
    assert isinstance(lm, TransformerLM) and lm.vocab.sep == '' and not lm.training and lm.max_len >= 162
    assert all(p.dtype == torch.float32 for p in lm.parameters()) and len(lm.trace_) == 0
    assert set(lm.meta) >= {'test', 'test_bits', 'val_bits', 'train_bits', 'config', 'python'}


def test_held_out_text_scores_as_the_metadata_says_and_beats_a_unigram_model(lm):
    test = lm.meta['test']
    train, val, _ = pydoc_split(pydoc_sentences())
    assert len(test) > 80 and not set(test) & set(train) and not set(test) & set(val)   # the crc split holds on any Python version
    b = bits(lm, test)
    assert abs(b - lm.meta['test_bits']) < 1e-6
    counts = Counter(''.join(train) + '\0' * len(train))                                 # '\0' stands for EOS
    n = sum(counts.values())
    uni = -sum(math.log2(counts.get(c, .5) / n) for t in test for c in t + '\0') / sum(len(t) + 1 for t in test)
    assert uni > 4.0 and b < uni - 1.5, (b, uni)                                       # far better than characters' frequencies
    assert b < 2.4 and abs(b - lm.meta['val_bits']) < 0.25                             # measured: 1.995 test, 1.956 validation


def test_cache_agrees_with_whole_sequence_scoring(lm):
    seqs, prompt = [s[:40] for s in lm.meta['test'][:4]], 'The '
    torch.testing.assert_close(lm.logprob(seqs, prompt), LanguageModel.logprob(lm, seqs, prompt), atol=1e-4, rtol=0)


def test_save_load_round_trip_and_bad_files(tmp_path):
    v = Vocab.chars(['ab ba.'])
    net = TransformerLM(v, d_model=16, n_heads=2, n_layers=2, max_len=20, seed=1, dropout=.1)
    save_lm(net, tmp_path / 'f.pt', half=False, k=[1, 'x'])
    back = load_lm(tmp_path / 'f.pt')
    assert back.meta == {'k': [1, 'x']} and back.vocab.itos == v.itos and back.dropout == .1 and len(back.blocks) == 2
    torch.testing.assert_close(back.logprob(['ab', 'b a.']), net.logprob(['ab', 'b a.']), atol=1e-12, rtol=0)
    save_lm(net, tmp_path / 'h.pt')
    assert (tmp_path / 'h.pt').stat().st_size < (tmp_path / 'f.pt').stat().st_size
    torch.testing.assert_close(load_lm(tmp_path / 'h.pt').logprob(['ab']), net.logprob(['ab']), atol=2e-2, rtol=0)
    torch.save([1, 2], tmp_path / 'x.pt')
    with pytest.raises(ValueError, match='not a checkpoint written by save_lm'): load_lm(tmp_path / 'x.pt')
    with pytest.raises(TypeError, match='expected a TransformerLM'): save_lm(object(), tmp_path / 'y.pt')


def test_dropout_acts_only_while_training():
    v = Vocab.chars(['ab ba.'])
    a, b = TransformerLM(v, d_model=16, n_heads=2, seed=0), TransformerLM(v, d_model=16, n_heads=2, seed=0, dropout=.5)
    ids = torch.tensor([[0, 4, 5, 2, 5]])
    torch.testing.assert_close(a(ids), b(ids))                                          # same weights; eval mode: no dropout
    b.train()
    assert not torch.allclose(a(ids), b(ids))
    with pytest.raises(ValueError, match='dropout=1'): TransformerLM(v, dropout=1)


# ---------------------------------------------------------------- decoding without a known P
def test_decoding_model_gives_the_pydoc_model_and_held_out_prompts():
    assert 'pydoc text' in DECODING_MODELS
    lm, inputs = decoding_model('pydoc text')
    assert isinstance(lm, TransformerLM) and len(inputs) == 6
    for label, p in inputs.items():
        assert isinstance(p, str) and label == p + '...' and p.endswith(' ') and len(p.split()) == 3
        assert any(s.startswith(p) for s in lm.meta['test'])
    pairs = pydoc_prompts(lm, n=6)
    assert [p for p, _ in pairs] == list(inputs.values()) and all(p + c in lm.meta['test'] for p, c in pairs)
    with pytest.raises(ValueError, match='n=0'): pydoc_prompts(lm, n=0)


def test_no_support_a_clear_error_and_the_rules_run_with_true_lm_none(lm):
    p = pydoc_prompts(lm, 1)[0][0]
    with pytest.raises(NotImplementedError, match='true_lm=None'): lm.support(p)
    with pytest.raises(NotImplementedError, match='true_lm=None'): compare_rules(lm, ['greedy'], [p], true_lm=lm, max_new_tokens=10)
    table = compare_rules(lm, ['greedy', 'beam', 'nucleus', 'mbr'], [p, 'It '], true_lm=None, max_new_tokens=40)
    assert [r['rule'] for r in table] == ['greedy', 'beam', 'nucleus', 'mbr'] and all('regret' not in r for r in table)
    a = analyze_prompt(lm, p, ['greedy', 'beam', 'nucleus', 'mbr'], true_lm=None, max_new_tokens=40, num_samples=8)
    assert 'truth' not in a and len(a['samples']['texts']) == 8 and a['prompt'] == p
    g = greedy(lm, p, 40)
    assert a['rules'][0]['output'] == g.text and g.text == ''.join(lm.vocab.itos[i] for i in g.best)
    assert set(a['next_token']) and all(isinstance(t, str) for t in sample(lm, p, 3, 30, seed=0).texts)
