"""Under mpirun/mpiexec or srun: no spawning; the MPI/Slurm environment becomes torchrun's (faked here)."""

from __future__ import annotations

import json
import subprocess

import pytest

from launch_harness import LAUNCH, clean_env, script
from vibetensor.launch.external import ExternalError, detect, first_host, tasks_on_node

SHOW = """
    import json, os
    keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR",
            "MASTER_PORT", "VIBETENSOR_DEVICE", "VIBETENSOR_FABRIC_JOB", "VIBETENSOR_LAUNCHER"]
    print(json.dumps({"pid": os.getpid(), **{k: os.environ.get(k) for k in keys}}))
"""

OMPI = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
        "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_MCA_ess_base_jobid": "4242"}
SRUN = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_NODEID": "1", "SLURM_STEP_ID": "0",
        "SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_STEP_TASKS_PER_NODE": "2(x2)", "SLURM_STEP_NUM_NODES": "2",
        "SLURM_JOB_ID": "1234"}


def _run_in_place(tmp_path, fake_env, *args):
    proc = subprocess.Popen([*LAUNCH, *args, str(script(tmp_path, SHOW))], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=clean_env(**fake_env))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not out.startswith("["), "in-place mode must not prefix: MPI/Slurm tag output themselves"
    return proc.pid, json.loads(out)


def test_mpirun_rank_execs_the_script_in_place(tmp_path):
    pid, seen = _run_in_place(tmp_path, OMPI)
    assert seen["pid"] == pid  # the launcher became the rank: mpirun supervises the real process
    assert (seen["RANK"], seen["LOCAL_RANK"], seen["WORLD_SIZE"], seen["LOCAL_WORLD_SIZE"]) == ("1", "1", "2", "2")
    assert (seen["MASTER_ADDR"], seen["MASTER_PORT"]) == ("127.0.0.1", "29500")  # one host: loopback
    assert seen["VIBETENSOR_FABRIC_JOB"] == "mpi-4242" and seen["VIBETENSOR_LAUNCHER"] == "mpi"
    assert seen["VIBETENSOR_DEVICE"] == "cpu"


def test_srun_task_execs_the_script_in_place(tmp_path):
    pid, seen = _run_in_place(tmp_path, SRUN)
    assert seen["pid"] == pid
    assert (seen["RANK"], seen["LOCAL_RANK"], seen["WORLD_SIZE"], seen["GROUP_RANK"]) == ("3", "1", "4", "1")
    assert (seen["MASTER_ADDR"], seen["MASTER_PORT"]) == ("gpu07", str(15000 + 1234))
    assert seen["VIBETENSOR_FABRIC_JOB"] == "slurm-1234.0" and seen["VIBETENSOR_LAUNCHER"] == "slurm"


def test_nproc_per_node_under_srun_spawns_instead(tmp_path):
    # `srun --ntasks-per-node=1 vibetensor-launch --nproc-per-node 2 ...`: one launcher per node.
    out = subprocess.run([*LAUNCH, "--nproc-per-node", "2", str(script(tmp_path, SHOW))], capture_output=True,
                         text=True, env=clean_env(**SRUN), timeout=30).stdout
    assert sorted(l[:3] for l in out.splitlines()) == ["[0]", "[1]"]


def test_mpich_and_intel_mpi_variables():
    ext = detect({"PMI_RANK": "5", "PMI_SIZE": "8", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "4",
                  "PMI_KVSNAME": "kvs_77"})
    assert (ext.kind, ext.rank, ext.size, ext.local_rank, ext.local_size, ext.node_rank, ext.nnodes) == \
        ("mpi", 5, 8, 1, 4, 1, 2)
    # Several hosts and no address from MPI: vt.fabric.init() must rendezvous over MPI itself.
    assert ext.master_addr is None and ext.master_port is None and ext.job_id == "mpi-kvs_77"


def test_master_address_from_the_environment_wins():
    ext = detect({**OMPI, "OMPI_COMM_WORLD_LOCAL_SIZE": "1", "MASTER_ADDR": "head", "MASTER_PORT": "7000"})
    assert (ext.master_addr, ext.master_port, ext.nnodes) == ("head", 7000, 2)


def test_slurm_batch_script_is_not_a_rank():
    assert detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "9"}) is None
    assert detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_STEP_ID": "batch"}) is None
    assert detect({}) is None


@pytest.mark.parametrize("env, fragment", [
    ({"PMIX_RANK": "0"}, "PMIX_RANK is set"),
    ({"OMPI_COMM_WORLD_RANK": "x", "OMPI_COMM_WORLD_SIZE": "2"}, "not an integer"),
    ({"OMPI_COMM_WORLD_RANK": "0"}, "OMPI_COMM_WORLD_SIZE is not set"),
    ({**SRUN, "SLURM_STEP_TASKS_PER_NODE": "2(x1)"}, "no entry for node 1"),
])
def test_broken_environments_say_what_is_wrong(env, fragment):
    with pytest.raises(ExternalError, match=fragment):
        detect(env)


def test_broken_environment_is_a_clean_cli_error(tmp_path):
    res = subprocess.run([*LAUNCH, str(script(tmp_path, SHOW))], capture_output=True, text=True,
                         env=clean_env(PMIX_RANK="0"), timeout=30)
    assert res.returncode == 2 and "PMIX_RANK is set" in res.stderr and "Traceback" not in res.stderr


def test_slurm_node_lists():
    assert first_host("node[1-4]") == "node1" and first_host("h-[010,2]") == "h-010" and first_host("solo") == "solo"
    assert [tasks_on_node("3,2(x2)", i) for i in range(3)] == [3, 2, 2]
    with pytest.raises(ExternalError):
        first_host("[1-2]")
