"Shared fixtures: the device under test (cpu here; scripts/gpu_check.sh sets MLENB_TEST_DEVICE=cuda)."
import os, pytest, torch


@pytest.fixture
def device()->str:
    "Where engine tests run: MLENB_TEST_DEVICE, else cpu."
    dev = os.environ.get('MLENB_TEST_DEVICE', 'cpu')
    if dev.startswith('cuda') and not torch.cuda.is_available(): pytest.fail('MLENB_TEST_DEVICE asks for cuda, but CUDA is not available')
    return dev
