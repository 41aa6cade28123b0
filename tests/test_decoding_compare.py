"""`compare_rules` columns against a known P: unfinished outputs kept apart from impossible ones, and the covered mass of a
truncated support reported, with a warning when expected utility and regret are renormalised over little of P."""
import math, warnings

import pytest
import torch

from mlenb.lm import MarkovLM, TabularLM, Vocab, ToyTranslation
from mlenb.decoding import compare_rules, analyze_prompt, TruncatedSupportWarning


def test_outputs_cut_at_max_new_tokens_are_unfinished_not_impossible():
    "Beam search on a random bigram loops until the cut: 100% unfinished, 0% impossible (it was counted as probability 0)."
    P = MarkovLM.random(12, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', TruncatedSupportWarning)
        table, rows = compare_rules(P, ['greedy', 'beam'], true_lm=P, repeats=3, per_input=True)
    by = {r['rule']: r for r in table}
    assert by['beam']['unfinished'] == 1.0 and by['beam']['impossible'] == 0.0
    assert 'zero_prob' not in by['beam']
    assert math.isnan(by['beam']['true_logprob'])                               # no finished output to average
    for r in rows:
        if r['finished']:
            assert r['true_logprob'] == pytest.approx(P.logprob(r['output']).item(), abs=1e-12)
            assert r['impossible'] == (r['true_logprob'] == -math.inf)
        else: assert math.isnan(r['true_logprob']) and not r['impossible']


def test_finished_outputs_outside_the_support_are_impossible():
    "A model Q that ends outputs P never gives: finished, impossible, true log p -inf."
    vocab = Vocab.build(['a', 'b'])
    P = TabularLM(vocab, [['a'], ['a', 'a']], [0.7, 0.3])
    Q = TabularLM(vocab, [['b'], ['a']], [0.9, 0.1])                             # greedy under Q: 'b', impossible under P
    table, rows = compare_rules(Q, ['greedy'], true_lm=P, per_input=True)
    (test_row,) = rows
    assert test_row['finished'] and test_row['impossible'] and test_row['true_logprob'] == -math.inf
    assert table[0]['impossible'] == 1.0 and table[0]['unfinished'] == 0.0 and table[0]['true_logprob'] == -math.inf
    assert table[0]['support_mass'] == pytest.approx(1.0, abs=1e-15)


def test_truncated_support_reports_its_mass_and_warns():
    "The top of a MarkovLM's support: covered mass in the table, equal to the support's own sum, and a warning naming it."
    P = MarkovLM.random(12, seed=0)
    seqs, lps, exact = P.support(None, mass=0.999, max_sequences=100)
    covered = lps.exp().sum().item()
    assert not exact and covered < 0.9
    with pytest.warns(TruncatedSupportWarning, match=rf"cover {100 * covered:.1f}% of it.*max_support"):
        table = compare_rules(P, ['greedy'], true_lm=P, max_support=100)
    assert table[0]['support_mass'] == pytest.approx(covered, rel=1e-12)
    with pytest.warns(TruncatedSupportWarning):
        a = analyze_prompt(P, None, ['greedy'], true_lm=P, max_support=100, num_samples=4)
    assert a['truth']['support_mass'] == pytest.approx(covered, rel=1e-12)


def test_no_warning_when_the_support_is_exact_or_covers_the_mass():
    task = ToyTranslation(seed=0)
    P = MarkovLM.random(4, seed=1, eos_weight=3.)
    with warnings.catch_warnings():
        warnings.simplefilter('error', TruncatedSupportWarning)
        compare_rules(task, ['greedy'], [task.prompt(x) for x in task.sources(2, seed=1)], true_lm=task)
        t = compare_rules(P, ['greedy'], true_lm=P, support_mass=0.9, max_support=5000)
    assert t[0]['support_mass'] >= 0.9
