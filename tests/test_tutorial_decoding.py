"""The engine checks behind nbs/12_tutorial_decoding.ipynb, over several seeds: what the chapter shows on one draw holds in general.

Each test recomputes what the engine does independently (exact enumeration of the known P, NumPy by hand, a dynamic program over
a bigram chain) and compares; sampled numbers are held to their binomial error, never to a lucky seed."""
import math, warnings
from collections import Counter

import numpy as np
import pytest
import torch

from mlenb.lm import MarkovLM, ToyTranslation
from mlenb.decoding import (TruncatedSupportWarning, analyze_prompt, beam_search, compare_rules, mbr_select, next_token_view,
                            process_logits, sample, utility_matrix)


def binomial_ok(observed:float, p:float, n:int, k:float=4.)->bool:
    "observed share within k binomial standard errors of p (k=4 fails about once in 16,000 honest draws)."
    return abs(observed - p) <= k * math.sqrt(max(p * (1 - p), 0.) / n) + 1e-9


# --- section 1, 2 and exercise 2: the noise of ToyTranslation, by its definition -----------------------------------------------

@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('truncate_prob', [0.12, 0.4])
def test_toy_translation_noise_has_the_stated_mass(seed, truncate_prob):
    "Empty output = truncate_prob / L, the copy = copy_prob, clean outputs = the rest, for any synonym probabilities."
    task = ToyTranslation(seed=seed, truncate_prob=truncate_prob)
    for x in task.sources(6, seed=seed + 10):
        ys, lps, exact = task.support(task.prompt(x))
        p = dict(zip((tuple(task.vocab.decode(y)) for y in ys), lps.exp().tolist()))
        assert exact and math.isclose(sum(p.values()), 1., abs_tol=1e-12)
        assert math.isclose(p[()], truncate_prob / len(x), abs_tol=1e-12)
        assert math.isclose(p[tuple(x)], task.copy_prob, abs_tol=1e-12)
        clean = sum(q for y, q in p.items() if len(y) == len(x) and list(y) != list(x))
        assert math.isclose(clean, 1 - task.copy_prob - truncate_prob, abs_tol=1e-12)
        assert (lps[:-1] >= lps[1:]).all()                                           # most probable first


@pytest.mark.parametrize('seed', range(3))
def test_expected_utility_and_regret_against_enumeration(seed):
    "analyze_prompt's true log-probabilities, expected chrF and optimum equal sums over the enumerated support."
    task = ToyTranslation(seed=seed)
    src = task.prompt(task.sources(1, seed=seed)[0])
    ys, lps, _ = task.support(src)
    texts, p = [task.text(y) for y in ys], lps.exp()
    eu = (utility_matrix(texts, texts, 'chrf') @ p).numpy()
    a = analyze_prompt(task, src, true_lm=task, num_samples=20, seed=seed)
    for r in a['rules']:
        i = texts.index(r['output'])
        assert math.isclose(r['true_logprob'], lps[i].item(), abs_tol=1e-12)
        assert math.isclose(r['expected_utility'], eu[i], abs_tol=1e-9)
        assert r['regret'] >= -1e-9
    assert a['truth']['optimum'] == texts[eu.argmax()]
    assert a['rules'][[r['rule'] for r in a['rules']].index('mode')]['output'] == texts[0]


@pytest.mark.parametrize('seed', range(3))
def test_mode_frequency_among_samples(seed):
    "The share of samples equal to the mode, and below a quarter of its probability, match the exact support's sums."
    task = ToyTranslation(seed=0)
    src = task.prompt('hund mag katze heute')
    ys, lps, _ = task.support(src)
    probs = lps.exp().numpy()
    s_lp = task.logprob(sample(task, src, 2000, seed=seed).sequences, src).numpy()
    assert binomial_ok(np.mean(s_lp == lps[0].item()), probs[0], len(s_lp))
    below = probs[probs < probs[0] / 4].sum()
    assert below > 0.5 and binomial_ok(np.mean(s_lp < lps[0].item() - math.log(4)), below, len(s_lp))


@pytest.mark.parametrize('seed', range(3))
def test_mbr_beats_the_mode_for_any_sampling_seed(seed):
    "Section 6's claims with other sampling seeds: MBR (32 samples) beats the mode and a single sample; the mode is worst."
    task = ToyTranslation(seed=0)
    prompts = [task.prompt(x) for x in task.sources(20, seed=1)]
    by = {r['rule']: r for r in compare_rules(task, ['greedy', 'mode', 'sample', 'nucleus', 'mbr'], prompts, true_lm=task, seed=seed)}
    assert by['mbr']['expected_utility'] > by['mode']['expected_utility'] + 5
    assert by['mbr']['expected_utility'] > by['sample']['expected_utility']
    assert min(by, key=lambda k: by[k]['expected_utility']) == 'mode'


# --- exercise 4: MBR with exact match ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(3))
def test_exact_match_mbr_is_the_mode(seed):
    "Over the whole support exact-match MBR is the mode; over samples it is a most frequent sample."
    task = ToyTranslation(seed=seed)
    src = task.prompt(task.sources(1, seed=seed + 5)[0])
    ys, lps, _ = task.support(src)
    texts = [task.text(y) for y in ys]
    eu = utility_matrix(texts, texts, 'exact') @ lps.exp()
    torch.testing.assert_close(eu, lps.exp(), atol=1e-12, rtol=0)
    ss = sample(task, src, 32, seed=seed).texts
    r = mbr_select(ss, utility='exact')
    assert Counter(ss)[ss[r.index]] == max(Counter(ss).values())


# --- section 7: the beam tree -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('num_beams', [1, 3, 5])
def test_beam_tree_scores_are_prefix_logprobs(seed, num_beams):
    "Every finite node of record_tree's tree carries log P(prefix) (with EOS for an end node); finished nodes are the n-best."
    task = ToyTranslation(seed=seed, truncate_prob=0.4)
    src = task.prompt(task.sources(1, seed=seed)[0])
    d = beam_search(task, src, num_beams=num_beams, length_penalty=0., record_tree=True)
    tree = {n['id']: n for n in d.info['tree']}
    for n in tree.values():
        if n['parent'] is None or n['logprob'] == -math.inf: continue
        if n['logprob'] < -1e8:                # a step-1 candidate grown from the start's placeholder beams (score -1e9): dropped
            assert n['step'] == 1 and n['status'] == 'dropped'; continue
        toks, m = [], n
        while m['parent'] is not None: toks.append(m['token']); m = tree[m['parent']]
        toks = toks[::-1]
        want = sum(task.next_logprobs(toks[:t], src)[toks[t]].item() for t in range(len(toks)))   # log P(prefix), token by token
        if toks[-1] == task.vocab.eos_id: assert math.isclose(want, task.logprob(toks[:-1], src).item(), abs_tol=1e-9)
        assert math.isclose(n['logprob'], want, abs_tol=1e-9)
    fin = sorted((n['logprob'] for n in tree.values() if n['status'] == 'finished'), reverse=True)
    assert math.isclose(fin[0], d.scores[0].item(), abs_tol=1e-12)
    assert math.isclose(d.logprobs[0].item(), task.logprob(d.best, src).item(), abs_tol=1e-12)


@pytest.mark.parametrize('seed', range(3))
def test_wider_beam_finds_the_empty_mode(seed):
    "Section 7 with other synonym seeds: with truncate_prob=0.4 the empty output is the mode; wide beams find it, greedy does not."
    task = ToyTranslation(seed=seed, truncate_prob=0.4)
    prompts = [task.prompt(x) for x in task.sources(30, seed=1)]
    rules = [dict(name=f'b{k}', rule='beam', num_beams=k, length_penalty=0.) for k in (1, 10)] + ['mode']
    res = {r['rule']: r for r in compare_rules(task, rules, prompts, true_lm=task)}
    assert res['mode']['empty'] == 1 and res['b1']['empty'] == 0 and res['b10']['empty'] > 0.5
    assert res['b1']['true_logprob'] <= res['b10']['true_logprob'] <= res['mode']['true_logprob'] + 1e-12


# --- section 8: the filters against their definitions -----------------------------------------------------------------------

def kept_by_hand(p:np.ndarray, knob:str, v:float)->np.ndarray:
    "The set each filter keeps, from its definition (p has no ties)."
    order = np.argsort(-p, kind='stable'); keep = np.zeros(len(p), bool); live = p > 0
    H = -(p[live] * np.log(p[live])).sum()
    if knob == 'top_k': keep[order[:v]] = True
    elif knob == 'top_p': keep[order[:np.searchsorted(np.cumsum(p[order]), v) + 1]] = True
    elif knob == 'min_p': keep = p >= v * p.max()
    elif knob == 'epsilon_cutoff': keep = p >= v
    elif knob == 'eta_cutoff': keep = p >= min(v, math.sqrt(v) * math.exp(-H))
    elif knob == 'typical_p':
        dev = np.where(live, np.abs(-np.log(np.where(live, p, 1)) - H), np.inf)
        o = np.argsort(dev, kind='stable'); keep[o[:np.searchsorted(np.cumsum(p[o]), v) + 1]] = True
    return keep & live


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('knob,value', [('top_k', 5), ('top_p', 0.9), ('min_p', 0.2), ('typical_p', 0.5), ('epsilon_cutoff', 0.03), ('eta_cutoff', 0.03)])
def test_next_token_view_keeps_what_each_filter_defines(seed, knob, value):
    "next_token_view's kept set equals the definition, on random (tie-free) bigram rows."
    lm = MarkovLM.random(30, order=2, sparsity=0.3, seed=seed, scale=1.5)
    for ctx in ('w0', 'w1', 'w2'):
        v = next_token_view(lm, ctx, top=None, **{knob: value})
        ids, p = np.array(v['ids']), np.array(v['probs'])
        full = np.zeros(len(p)); full[ids] = p
        np.testing.assert_array_equal(np.array(v['kept']), kept_by_hand(full, knob, value)[ids])


# --- section 9: unfinished against impossible, exactly ------------------------------------------------------------------------

def exact_fates(q:np.ndarray, P:MarkovLM, contexts, T:int=60)->np.ndarray:
    "Exact (finished possible, finished P=0, unfinished possible, unfinished P=0) of sampling the bigram table q."
    allowed, eos = (P.log_probs > -math.inf).numpy(), P.vocab.eos_id
    step = q.copy(); step[:, eos] = 0
    out = []
    for c in [P.vocab.stoi[w] for w in contexts]:
        ok, bad, fin = np.eye(len(q))[c], np.zeros(len(q)), np.zeros(2)
        for _ in range(T):
            fin += [ok @ (q[:, eos] * allowed[:, eos]), bad @ q[:, eos] + ok @ (q[:, eos] * ~allowed[:, eos])]
            ok, bad = ok @ (step * allowed), bad @ step + ok @ (step * ~allowed)
        out.append([fin[0], fin[1], ok.sum(), bad.sum()])
    return np.array(out).mean(0)


@pytest.fixture(scope='module')
def degeneration():
    P = MarkovLM.random(30, order=2, sparsity=0.5, seed=0, eos_weight=1.0)
    Q = MarkovLM.fit(P.sample(300, seed=1), order=2, smoothing=0.1, vocab=P.vocab)
    contexts = [P.vocab.text(s[:1]) for s in P.sample(60, seed=2) if s][:40]
    return P, Q, contexts


@pytest.mark.parametrize('seed', range(4))
def test_unfinished_and_impossible_match_the_exact_chain(degeneration, seed):
    "compare_rules' unfinished and impossible, for any seed, agree with the exact dynamic program within binomial error."
    P, Q, contexts = degeneration
    samplers = {'sample': {}, 'top_p=0.95': dict(top_p=0.95), 'temp=0.7': dict(temperature=0.7)}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', TruncatedSupportWarning)
        table = compare_rules(Q, [dict(name=k, rule='sample', **kn) for k, kn in samplers.items()] + ['greedy'], contexts, true_lm=P,
                              max_new_tokens=60, max_support=1, seed=seed)
    by = {r['rule']: r for r in table}
    assert by['greedy']['unfinished'] == 1 and by['greedy']['impossible'] == 0
    for k, kn in samplers.items():
        e = exact_fates(process_logits(Q.log_probs.clone(), **kn).softmax(-1).numpy(), P, contexts)
        assert math.isclose(e.sum(), 1., abs_tol=1e-9)
        assert binomial_ok(by[k]['unfinished'], e[2:].sum(), len(contexts))
        assert binomial_ok(by[k]['impossible'], e[1], len(contexts))
        if k == 'top_p=0.95': assert e[[1, 3]].sum() < 1e-12 and by[k]['impossible'] == 0     # nucleus: never impossible


def test_exact_fates_match_many_samples(degeneration):
    "The dynamic program itself, against 4,000 pure samples from Q after one context."
    P, Q, contexts = degeneration
    e = exact_fates(Q.log_probs.exp().numpy(), P, ['w3'])
    s = sample(Q, 'w3', 4000, max_new_tokens=60, seed=0)
    ok = [P.logprob(q, 'w3').item() > -math.inf if f else
          (P.logprob(q, 'w3') - P.next_logprobs(q, 'w3')[P.vocab.eos_id]).item() > -math.inf for q, f in zip(s.sequences, s.finished)]
    obs = np.array([np.mean([f and o for f, o in zip(s.finished, ok)]), np.mean([f and not o for f, o in zip(s.finished, ok)]),
                    np.mean([not f and o for f, o in zip(s.finished, ok)]), np.mean([not f and not o for f, o in zip(s.finished, ok)])])
    for o, p in zip(obs, e): assert binomial_ok(o, p, 4000)


@pytest.mark.parametrize('seed', range(3))
def test_degeneration_statistics_for_any_seed(degeneration, seed):
    "Section 9's table claims with other sampling seeds: nucleus keeps human-like statistics, greedy loops."
    from mlenb.decoding import diversity
    P, Q, contexts = degeneration
    table, rows = compare_rules(Q, ['greedy', dict(name='top_p', rule='sample', top_p=0.95)], contexts, max_new_tokens=60, per_input=True, seed=seed)
    human = [P.vocab.text(P.sample(1, c, 60, seed=100 + i)[0]) for i, c in enumerate(contexts)]
    H, G, N = diversity(human), *[diversity([x['output'] for x in rows if x['rule'] == k]) for k in ('greedy', 'top_p')]
    assert G['repetition'] > 0.5 and G['self_bleu'] > 90 and N['repetition'] < 0.1
    for k in ('distinct_2', 'zipf'): assert abs(N[k] - H[k]) < abs(G[k] - H[k]) / 4


@pytest.mark.parametrize('seed', range(3))
def test_history_processors_break_greedy_loops(degeneration, seed):
    "Exercise 3 on other Q's: no_repeat_ngram_size=3 and repetition_penalty=1.5 stop greedy repeating; no repeated 3-gram."
    P, _, contexts = degeneration
    Q = MarkovLM.fit(P.sample(300, seed=seed + 1), order=2, smoothing=0.1, vocab=P.vocab)
    fixes = [dict(name='nr', rule='greedy', no_repeat_ngram_size=3), dict(name='rp', rule='greedy', repetition_penalty=1.5)]
    table, rows = compare_rules(Q, fixes, contexts[:20], max_new_tokens=60, per_input=True)
    for r in table: assert r['repetition'] < 0.1
    for x in rows:
        if x['rule'] != 'nr': continue
        w = (x['prompt'] + ' ' + x['output']).split()
        grams = [tuple(w[i:i + 3]) for i in range(len(w) - 2)]
        assert len(grams) == len(set(grams))


@pytest.mark.parametrize('seed', range(4))
def test_mbr_from_32_samples_lands_near_the_optimum(seed):
    "Section 4 with other seeds: MBR's pick stays within a few points of the best output's expected chrF (the mode is 25 off)."
    task = ToyTranslation(seed=0)
    src = task.prompt('hund mag katze heute')
    a = analyze_prompt(task, src, rules=('mode', 'mbr'), true_lm=task, num_samples=1, seed=seed)
    by = {r['rule']: r for r in a['rules']}
    best = a['truth']['optimum_expected_utility']
    assert best - by['mode']['expected_utility'] > 20
    assert best - by['mbr']['expected_utility'] < 10


@pytest.mark.parametrize('seed', range(3))
def test_mbr_shortcuts_land_next_to_the_exact_pick(degeneration, seed):
    "Section 10 with other samples: aggregation and pruning pick within half a chrF point of exact MBR, with fewer calls."
    P = degeneration[0]
    texts = sample(P, 'w3', 512, max_new_tokens=60, seed=seed).texts
    eu = mbr_select(texts, method='exact').expected_utility
    for method in ('aggregate', 'prune'):
        r = mbr_select(texts, method=method)
        assert eu.max() - eu[r.index] < 0.5 and r.utility_calls < 512 ** 2 / 4


# --- section 11 and exercise 5: decoding real text with the pydoc model (no known P) ----------------------------------------

@pytest.fixture(scope='module')
def doc():
    from mlenb.lm import pydoc_lm
    return pydoc_lm()


def test_per_character_surprisal_from_one_forward_pass_adds_up_to_logprob(doc):
    "Section 11's picture reads -log Q of each character off one forward pass: with EOS it sums to -logprob, position by position next_logprobs."
    from mlenb.lm import pydoc_prompts
    for p, held in pydoc_prompts(doc, 3):
        ids = [doc.vocab.bos_id] + doc.prompt_ids(p) + doc.vocab.encode(held) + [doc.vocab.eos_id]
        with torch.no_grad(): lp = doc(torch.tensor([ids])).log_softmax(-1)[0].double()
        k = 1 + len(doc.prompt_ids(p))
        per = lp[k - 1:-1].gather(-1, torch.tensor(ids[k:])[:, None])[:, 0]
        assert math.isclose(per.sum().item(), doc.logprob(held, p).item(), rel_tol=1e-5, abs_tol=1e-4)
        for j in (0, 5, len(held)):                                   # the first, a middle one, EOS
            want = doc.next_logprobs(doc.vocab.encode(held)[:j], p)[ids[k + j]].item()
            assert math.isclose(per[j].item(), want, abs_tol=1e-4)


def test_nucleus_keeps_the_smallest_top_set_with_the_mass_on_the_pydoc_model(doc):
    "top_p=0.9 after a held-out prompt: the kept characters are the most probable ones whose mass first reaches 0.9 (NumPy by hand)."
    from mlenb.lm import pydoc_prompts
    for p, held in pydoc_prompts(doc, 4):
        for prefix in ((), tuple(held[:3])):
            v = next_token_view(doc, p, prefix, top=None, top_p=0.9)
            q = np.exp(doc.next_logprobs(doc.vocab.encode(list(prefix)), p).double().numpy())
            order = np.argsort(-q, kind='stable')
            k = int(np.searchsorted(np.cumsum(q[order]), 0.9) + 1)
            kept = {doc.vocab.itos[i] for i in order[:k]}
            assert {t for t, kk in zip(v['tokens'], v['kept']) if kk} == kept
            assert math.isclose(sum(v['processed_probs']), 1., abs_tol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize('part', range(3))
def test_mbr_beats_greedy_on_expected_chrf_and_beam_is_short_on_other_prompts(doc, part):
    "Eikema & Aziz on held-out prompts the chapter does not show: MBR's expected chrF under the model above greedy's; a log-Q-ranked beam shorter than held-out text."
    from mlenb.lm import pydoc_prompts
    from mlenb.decoding import degeneration_table
    pairs = pydoc_prompts(doc, 60)[30 + 10 * part:40 + 10 * part]    # the chapter uses the first 30
    assert len(pairs) == 10
    modal = dict(name='modal beam', rule='beam', num_beams=5, length_penalty=0.)   # ranked by log Q itself, as the mode is
    rows = {r['rule']: r for r in degeneration_table(doc, [p for p, _ in pairs], ('greedy', modal, 'mbr'), references=[c for _, c in pairs],
                                                      max_new_tokens=130, eval_samples=32, seed=part)}
    assert rows['mbr']['expected_utility'] > rows['greedy']['expected_utility']
    assert rows['modal beam']['length'] < rows['held-out']['length']
