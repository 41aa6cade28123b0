"The `mlenb` command as a user runs it: a subprocess, JSON on stdout, errors as exit status 2."
import json, subprocess, sys, pathlib
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
    assert out['batch_size'] == 256 and out['schedule'] == 'cosine'                # the measured recipe's defaults
    assert 1.5 < out['test_bits_per_dim'] < np.log2(17)            # below uniform noise on 17 grey levels
    assert abs(out['test_nll'] - out['test_bits_per_dim'] * 64 * np.log(2)) < 1e-9 and out['kl'] is None


def test_flow_on_the_digits_refuses_density_objectives():
    r = run('flow', '--target', 'digits', '--objective', 'rkl', '--quiet')
    assert r.returncode == 2 and '--objective rkl' in r.stderr and 'Traceback' not in r.stderr
