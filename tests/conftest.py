import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see crkd_core.cli.quiet_threads
os.environ.setdefault("CRKD_NO_PROGRESS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    """One SignWorld smoke dataset for the whole test session."""
    from crkd_core.cli import main

    root = tmp_path_factory.mktemp("signworld") / "smoke"
    assert main(["synth", "--out", str(root), "--profile", "smoke", "--seed", "3"]) == 0
    return root


from tests.slurm_cluster import slurm_cluster  # noqa: E402, F401  (the `slurm` tests' cluster)
