"Shared fixtures: the device under test (cpu here; scripts/gpu_check.sh sets MLENB_TEST_DEVICE=cuda)."
import os, pytest, torch


@pytest.fixture
def device()->str:
    "Where engine tests run: MLENB_TEST_DEVICE, else cpu."
    dev = os.environ.get('MLENB_TEST_DEVICE', 'cpu')
    if dev.startswith('cuda') and not torch.cuda.is_available(): pytest.fail('MLENB_TEST_DEVICE asks for cuda, but CUDA is not available')
    return dev


@pytest.fixture(autouse=True, scope='session')
def one_thread():
    "Small tensors on a shared 2-core machine run fastest on one thread (torch's and the BLAS under scikit-learn)."
    from threadpoolctl import threadpool_limits
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1): yield
    torch.set_num_threads(n)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    "A pytest-xdist worker died: show what the fuzzer's backstop wrote before it ended the worker (tests/test_fuzz.py)."
    if not error: return
    import glob, tempfile
    for path in glob.glob(os.path.join(tempfile.gettempdir(), 'mlenb-fuzz-backstop-*.log')):
        text = open(path).read()
        if 'Timeout (' not in text: continue                 # a worker still running, or one that crashed elsewhere
        print(f"\n--- {path}: the fuzz case that was running, and every thread's stack ---\n{text[:20000]}")
        os.remove(path)
