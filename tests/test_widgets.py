"EMPanel driven headlessly, as a person would: click, set values, read the figure back."
import math
import numpy as np, pytest, torch
from mlenb.widgets import EMPanel


@pytest.mark.parametrize('cov', ['full', 'tied', 'diag', 'spherical'])
@pytest.mark.parametrize('data', ['blobs', 'anisotropic blobs', 'iris'])
def test_stepping_climbs_and_draws_every_covariance_type(cov, data):
    p = EMPanel(data=data, covariance_type=cov, n_samples=300, seed=2)
    for _ in range(4): p.step_button.click()
    assert p.last_error is None, p.last_error
    ll = np.asarray(p.fig.data[-4].y, dtype=float)              # the curve as drawn
    assert len(ll) == 9 and (np.diff(ll) >= -1e-9).all()       # start, then M (the ELBO) and E (the likelihood) per Step
    K = p.engine.n_components
    for k in range(K):                                          # every ellipse drawn, finite
        x = np.asarray([v for v in p.fig.data[2 + k].x if v is not None], dtype=float)
        assert len(x) > 0 and np.isfinite(x).all()
    assert len(p.fig.data[0].marker.color) == len(p.X)           # one colour per point


def test_scrubbing_redraws_a_stored_snapshot_without_stepping():
    p = EMPanel(seed=0)
    for _ in range(3): p.step_button.click()
    n = len(p.engine.trace)
    means_last = list(p.fig.data[2 + p.engine.n_components].x)
    p.history.value = 0
    assert len(p.engine.trace) == n                             # nothing recomputed
    assert list(p.fig.data[2 + p.engine.n_components].x) != means_last
    assert np.allclose(p.fig.data[2 + p.engine.n_components].x, p.engine.trace[0]['means'][:, 0].numpy())


def test_play_ticks_step_until_converged():
    p = EMPanel(seed=0, init_params='kmeans')
    for tick in range(1, 200):
        if tick > 1 and not p.play.playing: break
        p.play.playing = True
        p.play.value = tick                                      # what the browser's Play widget does
    assert 'converged' in p.message.value and not p.play.playing


def test_user_data_with_truth():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 5]
    p = EMPanel(X, truth=(np.array([[0., 0], [5, 5]]), np.stack([np.eye(2)] * 2)), n_components=2)
    assert p.data.value == 'your data' and len(p.fig.data[1].x) > 0  # truth drawn
    p.step_button.click(); assert p.last_error is None


def test_errors_show_in_the_panel_and_it_stays_usable():
    p = EMPanel(np.ones((5, 2)) * np.arange(5)[:, None], n_components=2)
    p.k.value = 9                                                # more components than points
    assert 'failed' in p.message.value and 'n_components=9' in p.message.value
    p.k.value = 2
    p.step_button.click()
    assert 'Try first' in p.message.value and len(p.engine.trace) == 3    # start, M, E; the message line is back to the hint
    bad = EMPanel(np.array([[0., float('nan')], [1, 2], [3, 4]]), n_components=1)  # refused data: a message, no exception
    assert 'NaN' in bad.message.value


def test_data_that_is_not_numbers_is_named_and_a_later_step_says_so_again():
    p = EMPanel('abc')
    assert 'X: expected real numbers' in p.message.value and p.last_error is not None
    p.step_button.click()
    assert 'Step failed' in p.message.value and 'X: expected real numbers' in p.message.value and 'NoneType' not in p.message.value
    p.data.value = 'blobs'                                       # another data set: the panel works, and the error is gone
    assert 'Try first' in p.message.value and p.last_error is None and len(p.engine.trace) == 1


def test_buttons_are_disabled_while_the_engine_works():
    p = EMPanel(seed=0)
    seen = []
    real = p.engine.e_step
    p.engine.e_step = lambda: (seen.append((p.step_button.disabled, p.e_button.disabled)), real())[1]
    p.step_button.click()
    assert seen == [(True, True)] and not p.step_button.disabled and not p.e_button.disabled


from mlenb.widgets import FlowPanel, DecodingPanel
from mlenb.examples import DECODING_MODELS


@pytest.mark.parametrize('arch', ['nsf', 'realnvp', 'maf'])
def test_flow_panel_trains_every_architecture(arch):
    p = FlowPanel(target='8gaussians', architecture=arch, layers=2, hidden=16, steps=40)
    for _ in range(2): p.train_button.click()
    assert p.last_error is None, p.last_error
    kl = p.trainer.trace.series('kl').numpy()
    assert kl[-1] < kl[0]
    for l in range(p.layer.max + 1):                             # every layer of the warp draws finite lines
        p.layer.value = l
        y = np.asarray(p.fig.data[8].y, dtype=float)
        assert np.isfinite(y[~np.isnan(y)]).all() and (~np.isnan(y)).sum() > 0


def test_flow_panel_seeds_its_flow_and_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    a, b = FlowPanel(layers=2, hidden=16, seed=3), FlowPanel(layers=2, hidden=16, seed=3)
    b.reset_button.click()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(u, v) for u, v in zip(a.trainer.flow.state_dict().values(), b.trainer.flow.state_dict().values()))
    b.seed.value = 4                                              # a new seed: other initial weights
    assert not all(torch.equal(u, v) for u, v in zip(a.trainer.flow.state_dict().values(), b.trainer.flow.state_dict().values()))


def test_flow_panel_user_target_and_play():
    log_p = lambda x: -0.5 * ((x - 1.) ** 2).sum(-1) * 4            # an unnormalised Gaussian
    p = FlowPanel(target='your target', log_prob=log_p, bounds=((-2., 4.), (-2., 4.)), objective='rkl', layers=2, hidden=16, steps=20)
    assert p.last_error is None, p.last_error
    p.play.value = 1; p.play.value = 2                             # two Play ticks: two more snapshots
    assert len(p.trainer.trace) == 3 and p.fig.data[0].z is not None
    assert np.isnan(p.trainer.trace.last['kl'])                   # no samples, no entropy: the KL is not known


@pytest.mark.parametrize('model', DECODING_MODELS)
def test_decoding_panel_runs_every_model_and_steps_to_the_end(model):
    p = DecodingPanel(model=model, num_samples=8)
    assert p.last_error is None, p.last_error
    rows = p.table.value.count('<tr>') - 1
    assert rows == len(p.rules.value)
    for _ in range(200):                                       # a word model ends within ~10 Steps, the character model within ~110
        p.step_button.click()
        if 'sampled the end' in p.message.value: break
    assert 'sampled the end' in p.message.value and p.prefix == []


def test_decoding_panel_runs_on_the_device_under_test(device):
    p = DecodingPanel(model='toy translation', rules=('greedy', 'mbr'), num_samples=8)
    assert p.device.options[0] == 'cpu' and p.device.value == 'cpu'
    if device != 'cpu': p.device.value = device                    # the model moves: its tables live there
    p.run_button.click()
    assert p.last_error is None, p.last_error
    assert str(p.lm.device).startswith(device) and p.table.value.count('<tr>') == 3
    assert [s.get('device') for s in p._specs()] == [None, device]   # MBR's utility matrices run there too


# ---- Train in a live event loop: chunks, Stop, and a reset mid-run --------------------------------------
import asyncio


async def start_training(p, steps=5000, chunks=2):
    "Click Train in a running event loop and let `chunks` chunks finish."
    p.steps.value = steps
    p.train_button.click()
    while len(p.trainer.trace) < 1 + chunks:
        assert not p._task.done(), f"training ended before {chunks} chunks: {p.message.value}"   # never wait forever
        await asyncio.sleep(0.01)


def test_train_click_shows_progress_and_stop_ends_it():
    p = FlowPanel(layers=2, hidden=16, seed=0)
    async def run():
        await start_training(p)
        assert p.training and p.train_button.description == 'Stop' and p.reset_button.disabled and p.play.disabled
        assert 'trained' in p.message.value and 'of 5000 steps' in p.message.value    # progress in the panel
        p.train_button.click()                                                     # Stop
        await p._task; await asyncio.sleep(0)
    asyncio.run(run())
    n = p.trainer.step_count
    assert 0 < n < 5000 and f'stopped after {n} of 5000 steps' in p.message.value
    assert not p.training and p.train_button.description == 'Train' and not p.reset_button.disabled and not p.play.disabled
    steps = [s.step for s in p.trainer.trace]
    assert steps == sorted(steps) and len(steps) >= 3 and p.history.value == len(steps) - 1   # one snapshot per chunk, followed


def test_changing_a_control_mid_training_starts_over():
    p = FlowPanel(layers=2, hidden=16, seed=0)
    async def run():
        await start_training(p, chunks=1)
        p.target.value = 'rings'                                 # a reset: the run is cancelled, a fresh trainer built
        await asyncio.sleep(0.05)
    asyncio.run(run())
    assert not p.training and p.train_button.description == 'Train' and not p.reset_button.disabled
    assert p.trainer.target.name == 'rings' and p.trainer.step_count == 0 and p.last_error is None


def test_a_failing_chunk_shows_the_error_and_frees_the_buttons():
    p = FlowPanel(layers=2, hidden=16, seed=0)
    def boom(n): raise RuntimeError('out of memory, say')
    p.trainer.step = boom
    async def run():
        p.train_button.click()
        await p._task; await asyncio.sleep(0)
    asyncio.run(run())
    assert 'Train failed: RuntimeError: out of memory, say' in p.message.value
    assert not p.training and p.train_button.description == 'Train' and not p.reset_button.disabled


def test_decoding_table_flags_unfinished_outputs():
    "Beam on the random bigram loops until max_new_tokens: the table says unfinished, not a true log p of '–'."
    d = DecodingPanel(model='random bigram', num_samples=16)
    beam = next(r for r in d.analysis['rules'] if r['rule'] == 'beam')
    assert not beam['finished']
    row = next(r for r in d.table.value.split('<tr>') if r.startswith('<td style="padding:2px 10px">beam<'))
    assert '(unfinished)' in row and '<i>unfinished</i>' in row


def test_decoding_temperature_knob_reaches_only_the_temperature_rule():
    d = DecodingPanel(rules=('sample', 'temperature'), num_samples=8)
    d.temperature.value = 0.5
    specs = {s['name']: s for s in d._specs()}
    assert 'temperature' not in specs['sample'] and specs['temperature']['temperature'] == 0.5


def test_flow_panel_counts_the_layers_set_and_shows_one_snapshot_consistently():
    fp = FlowPanel(layers=3, hidden=8, steps=20, seed=0)
    assert fp.layer.max == 3                                    # the 3 layers set (the ActNorm joins layer 1)
    fp.layer.value = 3
    warp = lambda: np.asarray([d.x for d in fp.fig.data if d.name == 'warped grid'][0], dtype=float)
    first = warp()
    fp.train_button.click(); fp.train_button.click()
    assert not np.array_equal(warp(), first, equal_nan=True)
    fp.history.value = 0                                        # scrub back: snapshot 0's warp, not the trained flow's
    assert np.array_equal(warp(), first, equal_nan=True) and 'layer 3 of 3' in fp.fig.layout.annotations[-1].text


def test_panels_send_their_figure_to_the_page_once_per_update():
    p = EMPanel(seed=0)
    before = p.view.widget.outputs
    p.step_button.click()
    (out,) = p.view.widget.outputs                              # one display, replaced
    assert out is not before[0] and 'application/vnd.plotly.v1+json' in out['data'] and 0 < p.view.sent < 200_000


def test_decoding_table_shows_each_rules_knobs():
    d = DecodingPanel(num_samples=8)
    d.top_p.value = 0.5; d.run_button.click()
    row = next(r for r in d.table.value.split('<tr>') if r.startswith('<td style="padding:2px 10px">nucleus<'))
    assert '<small>top_p=0.5</small>' in row


def test_decoding_status_says_how_much_of_P_a_truncated_truth_covers():
    "Random bigram's P has no finite support: the status says what share the expected utilities stand on, and no warning leaks."
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')                              # a TruncatedSupportWarning would fail here
        d = DecodingPanel(model='random bigram', num_samples=8)
    tr = d.analysis['truth']
    assert not tr['exact'] and 0 < tr['support_mass'] < 1
    assert f"{tr['support_size']} most probable outputs" in d.status.value and f"{tr['support_mass']:.0%}" in d.status.value
    t = DecodingPanel(model='toy translation', num_samples=8)      # an exact support: nothing to say
    assert t.analysis['truth']['exact'] and 'most probable outputs' not in t.status.value


def test_a_long_session_still_colours_the_points_when_the_trace_is_thinned():
    "Past the engine's display budget the trace keeps every 2nd, 4th, ... snapshot's responsibilities: every shown one is coloured."
    p = EMPanel(n_samples=200)
    p.engine.display_size = 600                              # 200 points x K=3: the trace keeps 50 snapshots' worth
    for _ in range(40): p.step_button.click()
    tr = p.engine.trace
    assert sum(s.get('resp') is not None for s in tr) < len(tr)          # some were dropped ...
    for i in range(len(tr)):
        p.history.value = i
        assert p.fig.data[0].marker.color is not None and len(p.fig.data[0].marker.color) == 200, i   # ... none shows grey,
        kept = tr[i].get('resp') is not None or (tr[i]['phase'] == 'M' and tr[i - 1].get('resp') is not None)
        assert ('colours of snapshot' in p.status.value) != kept, (i, p.status.value)               # and a stand-in says so


def test_each_panel_says_what_to_try_first_and_the_decoding_hint_holds():
    "With nothing else to say, a panel's message line says what to try first; the decoding panel's claim is checked here."
    for P in (EMPanel, FlowPanel, DecodingPanel): assert 'Try first' in P().message.value, P
    d = DecodingPanel(model='noisy toy translation', num_samples=8)
    rule = lambda name: next(r['output'] for r in d.analysis['rules'] if r['rule'] == name)
    assert d.analysis['truth']['mode'] == '' and rule('mbr') not in ('', d.source.value)
    d.num_beams.value = 10; d.run_button.click()
    assert rule('beam') == d.source.value                        # the source's words, copied


# --- the model of real text (issue 14): no known P, characters for tokens ------------------------------------------------------
PYDOC = DECODING_MODELS['pydoc text']   # the rules, knobs and hint the panel starts from on real text


def _cells(table:str, rule:str)->list[str]:
    "The cells of one rule's row of the decoding table."
    import re
    row = next(r for r in table.split('<tr>') if r.startswith(f'<td style="padding:2px 10px">{rule}<'))
    return re.findall(r'<td style="padding:2px 10px">(.*?)</td>', row)


def test_decoding_panel_on_pydoc_text_scores_each_rule_against_model_samples():
    "Without a known P: no true log p, expected chrF = the mean of sacrebleu's chrF against the 200 model samples, all finite."
    sacrebleu = pytest.importorskip('sacrebleu')
    p = DecodingPanel(model='pydoc text', num_samples=8)
    assert p.last_error is None, p.last_error
    assert p.rules.value == tuple(PYDOC.rules) and 'mode' not in p.rules.value   # no exact search on a transformer
    assert 'truth' not in p.analysis and p.table.value.count('<tr>') == 1 + len(p.rules.value)
    s = p.analysis['samples']
    refs = s['texts']                                                               # every sample, as degeneration_table
    chrf = sacrebleu.metrics.CHRF()
    for r in p.analysis['rules']:
        cells = _cells(p.table.value, r['rule'])
        assert cells[4] == '–'                                                       # true log p: not known
        want = float(np.mean([chrf.sentence_score(r['output'], [y]).score for y in refs]))
        assert math.isfinite(r['model_expected_utility']) and math.isclose(r['model_expected_utility'], want, rel_tol=1e-6, abs_tol=1e-6)
        assert cells[5] == f'{want:.2f}'
    assert len(refs) == 200 and f'expected chrf against 200 model samples; P is not known for this model' in p.status.value
    fig = p.fig                                                                     # the figure draws: bars, samples, one line per rule
    assert len(fig.data[0].x) + len(fig.data[1].x) == len(p.analysis['next_token']['tokens'])
    hist = next(d for d in fig.data if d.type == 'histogram')
    assert len(hist.x) == sum(math.isfinite(v) for v in s['model_logprobs']) > 0
    assert sum(d.meta == 'rule' for d in fig.data) == sum(math.isfinite(r['model_logprob']) for r in p.analysis['rules'])


def test_decoding_panel_steps_a_character_model_with_readable_labels():
    "A character's space shows as '␣' on the bars and in the title; the title holds the prefix stepped so far."
    from mlenb.viz import show_token
    p = DecodingPanel(model='pydoc text', rules=('greedy',), num_samples=8)
    view = p._draw_next()
    shown = list(p.fig.data[0].x) + list(p.fig.data[1].x)
    assert sorted(shown) == sorted(show_token(t) for t in view['tokens']) and ' ' not in shown
    for _ in range(6):
        p.step_button.click()
        assert p.last_error is None, p.last_error
        want = ''.join('␣' if c == ' ' else c for c in ''.join(p.prefix))
        assert p.fig.layout.annotations[0].text == (f"next token after '{want[-40:] if len(want) <= 40 else '…' + want[-40:]}'" if p.prefix else 'next token')


def test_choosing_pydoc_text_sets_its_rules_and_hint_and_errors_stay_in_the_panel():
    p = DecodingPanel(model='toy translation', num_samples=8)
    assert 'mode' in p.rules.value
    p.model.value = 'pydoc text'
    assert p.rules.value == tuple(PYDOC.rules) and p.top_p.value == PYDOC.knobs['top_p']
    assert PYDOC.hint in p.message.value and '\n' not in PYDOC.hint
    p.run_button.click()
    assert p.last_error is None and p.table.value.count('<tr>') == 1 + len(p.rules.value)
    p.rules.value = ()
    p.run_button.click()                                                           # an error: said in the message line, the panel lives on
    assert 'choose at least one rule' in p.message.value and isinstance(p.last_error, ValueError)
    p.rules.value = ('greedy', 'mbr'); p.run_button.click()
    assert p.last_error is None and p.table.value.count('<tr>') == 3


def test_the_pydoc_hint_holds_on_the_first_input():
    "The hint's claims on the panel's first pydoc input: MBR's expected chrF is the highest; greedy and beam beat the samples' log Q per character."
    p = DecodingPanel(model='pydoc text')
    rows = {r['rule']: r for r in p.analysis['rules']}
    assert max(rows, key=lambda r: rows[r]['model_expected_utility']) == 'mbr'
    s = p.analysis['samples']                                      # most probable phrases: more log Q per character than the samples
    per_char = sum(s['model_logprobs']) / sum(len(t) + f for t, f in zip(s['texts'], s['finished']))
    for r in ('greedy', 'beam'): assert rows[r]['model_logprob'] / (rows[r]['length'] + rows[r]['finished']) > per_char, r
