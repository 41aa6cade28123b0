"The `mlenb` command as a user runs it: a subprocess, strict JSON on stdout, errors as one line and exit status 2 (1: a failed run, 130: Ctrl-C)."
import contextlib, json, pathlib, signal, socket, subprocess, sys, threading, time
import numpy as np, pytest

MLENB = str(pathlib.Path(sys.executable).parent / 'mlenb')


def run(*args):
    return subprocess.run([MLENB, *args], capture_output=True, text=True, timeout=300)


def test_em_json_on_blobs():
    r = run('em', '--data', 'blobs', '--k', '4', '--json', '--quiet')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out['n_components'] == 4 and out['converged'] and out['n_iter'] >= 1
    assert out['bic'] > out['aic']  # log(2000) > 2
    assert r.stderr == ''           # --quiet: no progress bar


@pytest.mark.parametrize('name', ['anisotropic-blobs', 'iris'])
def test_em_runs_every_named_data_set_the_panel_offers(name):
    from mlenb.widgets import PANEL_DATASETS
    assert name.replace('-', ' ') in PANEL_DATASETS   # one registry, two spellings: the panel's and the command line's
    r = run('em', '--data', name, '--k', '3', '--json', '--quiet', '--max-iter', '20')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out['data'] == name and out['n_features'] == (2 if 'blobs' in name else 4) and np.isfinite(out['loglik'])


def test_em_names_the_data_sets_it_knows():
    r = run('em', '--data', 'blobs-aniso')
    assert r.returncode == 2 and 'anisotropic-blobs' in r.stderr and 'digits' in r.stderr and 'Traceback' not in r.stderr


def test_em_shows_progress_unless_quiet():
    r = run('em', '--data', 'blobs', '--k', '3', '--json', '--init', 'random', '--tol', '1e-9', '--max-iter', '30')
    assert r.returncode == 0 and 'it' in r.stderr  # tqdm writes its bar on stderr
    json.loads(r.stdout)


def test_em_reads_a_user_file(tmp_path):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + 6]
    np.save(tmp_path / 'x.npy', X); np.savetxt(tmp_path / 'x.csv', X, delimiter=',')
    res = [json.loads(run('em', '--data', str(tmp_path / f), '--k', '2', '--json', '--quiet').stdout) for f in ('x.npy', 'x.csv')]
    assert res[0]['n_features'] == 3 and abs(res[0]['loglik'] - res[1]['loglik']) < 1e-9
    assert sorted(round(w, 2) for w in res[0]['weights']) == [0.5, 0.5]


@pytest.mark.parametrize('args,msg', [(('--data', 'nope'), "--data 'nope'"), (('--k', '0'), 'k=0'),
                                      (('--tol', '-1'), 'tol=-1.0'), (('--device', 'tpu'), "device='tpu'")])
def test_em_bad_arguments_exit_2_with_one_line(args, msg):
    r = run('em', '--quiet', *args)
    assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr


def test_unknown_choice_is_argparse_error():
    r = run('em', '--covariance-type', 'ful')
    assert r.returncode == 2 and 'invalid choice' in r.stderr


@pytest.mark.parametrize('flow', ['nsf', 'realnvp', 'maf'])
def test_flow_on_the_digits_reports_bits_per_dimension(flow):
    r = run('flow', '--target', 'digits', '--flow', flow, '--steps', '100', '--hidden', '16', '--layers', '2', '--json', '--quiet')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out['target'] == 'digits' and out['layers'] == 2 and out['steps'] == 100
    assert (out['batch_size'], out['lr'], out['schedule']) == (256, 1e-3, 'cosine')   # the measured recipe's defaults
    assert 1.5 < out['test_bits_per_dim'] < np.log2(17)            # below uniform noise on 17 grey levels
    assert abs(out['test_nll'] - out['test_bits_per_dim'] * 64 * np.log(2)) < 1e-9 and out['kl'] is None


def test_flow_on_the_digits_refuses_density_objectives():
    r = run('flow', '--target', 'digits', '--objective', 'rkl', '--quiet')
    assert r.returncode == 2 and '--objective rkl' in r.stderr and 'Traceback' not in r.stderr


# --- user errors: one line on stderr, no traceback, exit 2 (bad input) or 1 (a failed run); with --json, {"error": ...} on stdout

def strict(s):
    "Parse strict JSON: NaN and Infinity are refused."
    return json.loads(s, parse_constant=lambda c: pytest.fail(f'not JSON: {c}'))


def one_line_error(r, command, status):
    assert r.returncode == status, (r.returncode, r.stderr)
    assert 'Traceback' not in r.stderr and r.stderr.startswith(f'mlenb {command}: error: ') and r.stderr.count('\n') == 1, r.stderr
    return r.stderr.removeprefix(f'mlenb {command}: error: ').strip()


@pytest.mark.parametrize('args,status,msg', [
    (('flow', '--lr', '10', '--flow', 'realnvp', '--steps', '300'), 1, 'training diverged'),
    (('em', '--n', '1000000000'), 2, '--n 1000000000: the run needs about'),
    (('em', '--k', '1000000000000'), 2, '--k 1000000000000: the run needs about'),
    (('em', '--max-iter', '1000000000000'), 2, '--max-iter 1000000000000: the run needs about'),
    (('flow', '--steps', '1000000000000'), 2, '--steps 1000000000000: the run needs about'),
    (('flow', '--hidden', '1000000'), 2, '--hidden 1000000 --layers 8: the run needs about'),
    (('flow', '--batch-size', '100000000000'), 2, '--batch-size 100000000000: the run needs about'),
    (('decode', '--inputs', '100000000000'), 2, '--inputs 100000000000: the run needs about'),
    (('em', '--k', 'two'), 2, "argument --k: invalid int value: 'two'"),
    (('em', '--seed', '-1'), 2, "argument --seed: '-1': expected an integer from 0"),
    (('flow', '--threads', '0'), 2, "argument --threads: '0': expected an integer from 1"),
    (('decode', '--device', 'tpu'), 2, "device='tpu'"),
])
@pytest.mark.parametrize('as_json', [False, True])
def test_user_errors_are_one_line(args, status, msg, as_json):
    r = run(*args, '--quiet', *(['--json'] if as_json else []))
    line = one_line_error(r, args[0], status)
    assert msg in line
    if as_json: assert strict(r.stdout) == {'error': line}
    else: assert r.stdout == ''


@pytest.mark.parametrize('name,make,msg', [
    ('dir.npy', lambda p: p.mkdir(), 'Is a directory'), ('dir', lambda p: p.mkdir(), 'a path ending in .npy or .csv'),
    ('empty.npy', lambda p: p.write_bytes(b''), 'cannot read it'), ('words.csv', lambda p: p.write_text('a,b\nc,d\n'), 'cannot read it'),
    ('missing.csv', lambda p: None, 'No such file or directory'), ('nan.csv', lambda p: p.write_text('1,2\nnan,3\n'), 'NaN'),
])
def test_bad_data_files_are_one_line(tmp_path, name, make, msg):
    make(tmp_path / name)
    r = run('em', '--data', str(tmp_path / name), '--k', '1', '--quiet', '--json')
    line = one_line_error(r, 'em', 2)
    assert msg in line and strict(r.stdout) == {'error': line}


@pytest.mark.parametrize('port', ['-1', '0', '70000', 'http'])
def test_app_refuses_a_bad_port_before_serving(port):
    r = subprocess.run([MLENB, 'app', '--port', port], capture_output=True, text=True, timeout=120)
    assert 'from 1 to 65535' in one_line_error(r, 'app', 2) and 'serving' not in r.stdout


def test_app_refuses_a_port_in_use():
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0)); busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([MLENB, 'app', '--port', str(port)], capture_output=True, text=True, timeout=120)
    assert f'cannot listen on 127.0.0.1:{port}' in one_line_error(r, 'app', 2) and 'serving' not in r.stdout


def test_no_command_is_a_usage_error():
    r = run('--json')
    assert r.returncode == 2 and r.stderr.startswith('mlenb: error: the following arguments are required') and r.stderr.count('\n') == 1
    assert 'error' in strict(r.stdout)


# --- strict JSON

def test_json_is_strict_when_numbers_are_not_finite():
    r = run('em', '--max-iter', '0', '--json', '--quiet')
    out = strict(r.stdout)
    assert r.returncode == 0 and out['n_iter'] == 0 and out['lower_bound'] is None and out['interrupted'] is False
    r = run('flow', '--target', 'digits', '--steps', '2', '--hidden', '8', '--layers', '1', '--json', '--quiet')
    assert r.returncode == 0 and strict(r.stdout)['entropy'] is None


# --- decode --device reaches the engines

@pytest.mark.parametrize('device', ['cpu', 'cuda'])
def test_decode_runs_on_the_device_asked(device):
    import torch
    r = run('decode', '--device', device, '--inputs', '1', '--rules', 'greedy,mbr', '--json', '--quiet')
    if device == 'cuda' and not torch.cuda.is_available():
        assert 'CUDA is not available' in one_line_error(r, 'decode', 2)
        return
    assert r.returncode == 0, r.stderr
    assert strict(r.stdout)['device'].startswith(device)   # the model's own device, as the engine reports it


# --- Ctrl-C: stop at the next step, print what was reached (interrupted: true), exit 130, no traceback

def _drain(stream, buf):
    for chunk in iter(lambda: stream.read1(65536), b''): buf.extend(chunk)


@contextlib.contextmanager
def started(*args):
    "Run `mlenb args` in the background, its output read into buffers; on exit stop it surely (SIGINT, wait, SIGKILL)."
    p = subprocess.Popen([MLENB, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = bytearray(), bytearray()
    readers = [threading.Thread(target=_drain, args=(s, b), daemon=True) for s, b in ((p.stdout, out), (p.stderr, err))]
    for t in readers: t.start()
    try: yield p, out, err
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try: p.wait(60)
            except subprocess.TimeoutExpired: p.kill(); p.wait()
        for t in readers: t.join(60)


def wait_for(cond, timeout=300):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end: return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize('args,bar,reached', [
    (('em', '--n', '60000', '--k', '4', '--max-iter', '100000', '--tol', '0'), b'EM', lambda o: 1 <= o['n_iter'] < 100000 and not o['converged']),
    (('flow', '--steps', '200000', '--layers', '2', '--hidden', '16'), b'nll on moons', lambda o: o['steps'] < 200000 and o['test_nll'] is not None),
    (('decode', '--inputs', '5000'), b'inputs', lambda o: o['inputs'] < 5000 and len(o['outputs']) == 5 * o['inputs']),
], ids=['em', 'flow', 'decode'])
def test_ctrl_c_stops_and_reports_what_was_reached(args, bar, reached):
    with started(*args, '--json') as (p, out, err):
        assert wait_for(lambda: bar in err or p.poll() is not None), bytes(err)   # its progress bar: the run has begun
        assert p.poll() is None, bytes(err)
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        status = p.wait(300)
    stderr = err.decode()
    assert status == 130 and 'Traceback' not in stderr, stderr
    assert f'mlenb {args[0]}: interrupted' in stderr
    o = strict(out.decode())
    assert o['interrupted'] is True and reached(o), o


def test_a_second_ctrl_c_stops_at_once_without_a_traceback():
    with started('flow', '--steps', '200000', '--batch-size', '8192', '--json') as (p, out, err):   # steps of seconds each
        assert wait_for(lambda: b'nll on moons' in err or p.poll() is not None) and p.poll() is None, bytes(err)
        p.send_signal(signal.SIGINT); time.sleep(0.5); p.send_signal(signal.SIGINT)
        status = p.wait(300)
    assert status == 130 and 'Traceback' not in err.decode(), err.decode()
    assert strict(out.decode()) == {'error': 'interrupted', 'interrupted': True}


# --- decode: the knobs, what each rule meant, and no widgets imported

def test_decode_takes_the_knobs_and_records_what_each_rule_meant():
    r = run('decode', '--inputs', '3', '--rules', 'greedy,beam,nucleus,mbr,mode', '--num-beams', '3', '--top-p', '0.8', '--eta-cutoff', '0.01',
            '--num-samples', '8', '--no-repeat-ngram-size', '1', '--bad-words', 'dog,big', '--max-new-tokens', '20', '--json', '--quiet')
    assert r.returncode == 0, r.stderr
    out = strict(r.stdout)
    meant = {t['rule']: (t['kind'], t['knobs']) for t in out['rules']}
    from mlenb.examples import decoding_model
    lm, _ = decoding_model('toy translation')
    bad = [lm.vocab.encode('dog'), lm.vocab.encode('big')]
    history = dict(no_repeat_ngram_size=1, bad_words_ids=bad)
    assert meant == {'greedy': ('greedy', history), 'beam': ('beam', dict(num_beams=3, **history)),
                     'nucleus': ('sample', dict(top_p=0.8, eta_cutoff=0.01, **history)), 'mbr': ('mbr', dict(num_samples=8, utility='chrf')),
                     'mode': ('mode', {})}
    assert out['max_new_tokens'] == 20 and out['inputs'] == 3
    for o in out['outputs']:
        if o['rule'] in ('greedy', 'beam', 'nucleus'):
            words = o['output'].split()
            assert 'dog' not in words and 'big' not in words and len(set(words)) == len(words), o


def test_decode_runs_the_real_text_model_without_a_truth():
    "pydoc-text has no known P: no truth columns, the model's length default (130 characters), and a table that says so."
    r = run('decode', '--model', 'pydoc-text', '--inputs', '2', '--rules', 'greedy,mbr', '--num-samples', '4', '--json', '--quiet')
    assert r.returncode == 0, r.stderr
    out = strict(r.stdout)
    assert out['max_new_tokens'] == 130 and out['inputs'] == 2
    assert all('true_logprob' not in o and 'expected_utility' not in o for o in out['outputs'])
    assert all(o['length'] <= 130 and o['output'] for o in out['outputs'])    # characters, and something written
    shown = run('decode', '--model', 'pydoc-text', '--inputs', '1', '--rules', 'greedy', '--quiet')
    assert shown.returncode == 0 and 'P is not known for this model' in shown.stdout, shown.stderr


@pytest.mark.parametrize('args,msg', [
    (('--rules', 'greedy,mbr', '--num-beams', '3'), '--num-beams: refines beam rules, and --rules greedy,mbr has none'),
    (('--rules', 'beam', '--top-p', '0.5'), '--top-p: refines sample rules'),
    (('--rules', 'mode', '--min-new-tokens', '2'), '--min-new-tokens: refines greedy, beam and sample rules'),
    (('--rules', 'nucleus', '--top-p', '2'), 'top_p=2.0'),
    (('--rules', 'greedy', '--bad-words', 'zebra'), "--bad-words: unknown token 'zebra'"),
    (('--rules', 'greedy', '--max-new-tokens', '0'), '--max-new-tokens 0: expected an integer >= 1'),
    (('--rules', 'greedy', '--repetition-penalty', 'x'), "argument --repetition-penalty: invalid float value: 'x'"),
])
def test_decode_bad_knobs_are_one_line(args, msg):
    assert msg in one_line_error(run('decode', '--inputs', '1', '--quiet', *args), 'decode', 2)


def test_decode_is_headless():
    "`mlenb decode` imports neither ipywidgets nor plotly (nor matplotlib): the decoding models live in mlenb.lm."
    code = ("import sys; from mlenb.cli import main; rc = main(['decode', '--inputs', '1', '--rules', 'greedy,beam,mbr', '--quiet', '--json']); "
            "bad = sorted(m for m in ('ipywidgets', 'plotly', 'matplotlib', 'mlenb.widgets', 'mlenb.viz') if m in sys.modules); "
            "print('LOADED', bad, file=sys.stderr); sys.exit(rc or (3 if bad else 0))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and 'LOADED []' in r.stderr, r.stderr
    assert strict(r.stdout)['rules'][0]['rule'] == 'greedy'


def test_flow_on_a_toy_takes_the_library_defaults_and_reports_a_paired_kl():
    "A choice left open is the library's: the preset's layers and hidden width, Trainer's lr, batch and schedule (the CLI restates none)."
    import inspect
    from mlenb.flows import Flow, Trainer
    r = run('flow', '--target', 'moons', '--steps', '40', '--json', '--quiet')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    preset, trainer = inspect.signature(Flow.nsf).parameters, inspect.signature(Trainer).parameters
    assert (out['layers'], out['hidden']) == (preset['layers'].default, preset['hidden'].default)
    assert (out['batch_size'], out['lr'], out['schedule']) == tuple(trainer[k].default for k in ('batch_size', 'lr', 'schedule'))
    assert out['kl'] > 10 * out['kl_stderr'] > 0                   # 40 steps are far from the truth, and the estimate says so
    assert 'nats' in run('flow', '--target', 'moons', '--steps', '5', '--layers', '1', '--quiet').stdout


@pytest.mark.parametrize('flow', ['nsf', 'realnvp', 'maf'])
def test_flow_defaults_follow_the_library_and_the_digits_keep_their_recipe(flow):
    "A toy takes the preset's and Trainer's defaults and 5,000 steps (where they are measured); the digits their own recipe."
    import inspect
    from mlenb.cli import parser, _flow_defaults
    from mlenb.flows import Flow, Trainer
    toy = _flow_defaults(parser().parse_args(['flow', '--flow', flow]))
    preset, trainer = inspect.signature(getattr(Flow, flow)).parameters, inspect.signature(Trainer).parameters
    assert (toy.layers, toy.hidden, toy.steps) == (preset['layers'].default, preset['hidden'].default, 5000)
    assert (toy.lr, toy.batch_size, toy.schedule) == tuple(trainer[k].default for k in ('lr', 'batch_size', 'schedule'))
    digits = _flow_defaults(parser().parse_args(['flow', '--flow', flow, '--target', 'digits']))
    assert (digits.layers, digits.hidden, digits.batch_size, digits.lr, digits.schedule, digits.steps) == (4, 64, 256, 1e-3, 'cosine', 2000)
    mine = _flow_defaults(parser().parse_args(['flow', '--flow', flow, '--lr', '3e-3', '--hidden', '32', '--steps', '7']))
    assert (mine.lr, mine.hidden, mine.steps) == (3e-3, 32, 7)     # what a user chooses is kept


def test_every_choice_comes_from_its_registry():
    "A new covariance type, init, flow preset, schedule, objective, data set, model or utility reaches the command with no edit here."
    from mlenb.cli import parser
    from mlenb.em import COVARIANCE_TYPES, INIT_PARAMS
    from mlenb.examples import EM_DATASETS, DECODING_MODELS
    from mlenb.flows import FLOW_PRESETS, SCHEDULES, OBJECTIVES
    from mlenb.decoding import UTILITIES
    sub = next(a for a in parser()._actions if a.dest == 'command').choices
    choices = lambda cmd, dest: list(next(a for a in sub[cmd]._actions if a.dest == dest).choices)
    hyphens = lambda names: [n.replace(' ', '-') for n in names]
    assert choices('em', 'covariance_type') == list(COVARIANCE_TYPES) and choices('em', 'init') == list(INIT_PARAMS)
    data = next(a for a in sub['em']._actions if a.dest == 'data')       # a name or a file: the names are in its help
    assert all(n in data.help for n in hyphens(EM_DATASETS))
    assert choices('flow', 'flow') == list(FLOW_PRESETS) and choices('flow', 'schedule') == list(SCHEDULES)
    assert choices('flow', 'objective') == [k for k, o in OBJECTIVES.items() if not o.continuous]
    assert choices('decode', 'model') == hyphens(DECODING_MODELS) and choices('decode', 'utility') == list(UTILITIES)


def test_decode_without_rules_runs_the_models_own():
    "No --rules: the rules of the model's registry entry (on the pydoc model, no exact mode search on a transformer)."
    from mlenb.examples import DECODING_MODELS
    r = run('decode', '--model', 'pydoc-text', '--inputs', '1', '--num-samples', '4', '--max-new-tokens', '20', '--json', '--quiet')
    assert r.returncode == 0, r.stderr
    assert [t['rule'] for t in json.loads(r.stdout)['rules']] == list(DECODING_MODELS['pydoc text'].rules)
