"""Runs say where they were made: the CPU, its ISA, the kernel set, versions, threads, GPU."""

import json

from crkd_core.experiment import RunDir
from crkd_core.machine import PINNED_KERNELS, cpu_info, describe, machine_facts
from crkd_core.study.run import StudyOptions, provenance

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_bf16 avx512_vnni

processor\t: 1
model name\t: another
flags\t\t: fpu
"""


def test_cpu_info_reads_the_model_and_the_isa_that_decides_kernels(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    info = cpu_info(path)
    assert info == {
        "model": "AMD EPYC 9R14",
        "isa": ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"],
    }
    assert cpu_info(tmp_path / "missing")["isa"] == []  # not Linux: no flags, no error


def test_pinned_kernels_are_recorded(monkeypatch):
    for key, value in PINNED_KERNELS.items():
        monkeypatch.setenv(key, value)
    facts = machine_facts()
    assert facts["kernel_pins"] == PINNED_KERNELS and facts["pinned"] is True
    assert "pinned: ATEN_CPU_CAPABILITY=avx2" in describe(facts)["kernels (torch CPU capability)"]
    monkeypatch.delenv("MKL_CBWR")
    assert machine_facts()["pinned"] is False


def test_run_folder_records_its_machine_at_each_start(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start({"seed": 0}, "crkd test")
    first = json.loads((run.path / "machine.json").read_text())["sessions"]
    assert len(first) == 1
    facts = first[0]
    assert facts["cpu"]["model"] and facts["torch_cpu_capability"]
    assert {"torch", "onnxruntime", "numpy", "threads", "gpu", "kernel_pins"} <= facts.keys()
    run.start({"seed": 0}, "crkd test --resume", resume=True)
    assert len(json.loads((run.path / "machine.json").read_text())["sessions"]) == 2


def test_study_provenance_names_the_cpu_and_its_kernels(tmp_path):
    prov = provenance(StudyOptions(profile="smoke"), tmp_path, tmp_path, "now", 1.0)
    for key in ("CPU", "ISA", "kernels (torch CPU capability)", "torch / onnxruntime / numpy"):
        assert prov.extra[key], key
