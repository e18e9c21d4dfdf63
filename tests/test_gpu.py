"""CUDA paths: mixed precision and a training step on the GPU. Skipped without CUDA."""

import pytest
import torch

from crkd_core.data.dataset import Batch
from crkd_core.data.vocab import Vocab
from crkd_core.distributed import DistEnv
from crkd_core.experiment import RunDir
from crkd_core.models import build_student, build_teacher
from crkd_core.tasks import CTCTask, Distiller
from crkd_core.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.gpu


def batch(device):
    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 16, 3, 64, 64, generator=g) * 2 - 1
    student = torch.nn.functional.avg_pool2d(video.flatten(0, 1), 4).view(2, 16, 3, 16, 16)
    return Batch(
        video,
        torch.tensor([16, 14]),
        torch.tensor([[1, 2, 3], [4, 2, 0]]),
        torch.tensor([3, 2]),
        ["a", "b"],
        student,
    ).to(device)


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_training_steps_on_cuda_with_amp(tmp_path, amp):
    env = DistEnv(device=torch.device("cuda"))
    task = Distiller(build_student("cpu", 5), build_teacher("cpu", 5).cuda(), "both")
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    trainer = Trainer(
        task,
        TrainConfig(epochs=1, batch_size=2, lr=3e-3, amp=amp),
        run.path,
        env,
        {},
        Vocab.from_glosses("ABCD"),
        progress=False,
    )
    first = trainer._step([batch("cuda")])["total"]
    for _ in range(30):
        last = trainer._step([batch("cuda")])["total"]
    assert last < first


def test_cuda_and_cpu_forward_agree():
    torch.manual_seed(0)
    model = build_teacher("cpu", 5).eval()
    b = batch("cpu")
    with torch.no_grad():
        cpu = CTCTask(model).predict(b).logits
        gpu = CTCTask(model.cuda()).predict(b.to("cuda")).logits.cpu()
    assert torch.allclose(cpu, gpu, atol=1e-3)


@pytest.mark.gpu
def test_a_whole_tiny_run_finishes_on_cuda(smoke_data, tmp_path):
    """Teacher and student train, are tested and write metrics.json on the GPU (the cost count
    used to build its input on the CPU after the model had moved to CUDA)."""
    from crkd_core import api
    from crkd_core.experiment import RunRecord

    teacher = api.train_teacher(data=smoke_data, out=tmp_path / "t", epochs=1, device="cuda")
    student = api.distill(
        data=smoke_data, teacher=tmp_path / "t", out=tmp_path / "s", epochs=1, device="cuda"
    )
    for run, record in ((tmp_path / "t", teacher), (tmp_path / "s", student)):
        assert RunRecord.read(run) == record and record.gmacs_per_frame > 0
    assert api.evaluate(run=tmp_path / "s", data=smoke_data, device="cuda").score.n_ref > 0
