"""What each rank sees: torchrun's variables, VIBETENSOR_*, its CPU pinning, its arguments."""

from __future__ import annotations

import os

import pytest

from launch_harness import clean_env, json_lines, launch, script
from vibetensor.launch.devices import Placement, place_ranks, split_evenly
from vibetensor.launch.environment import World, rank_environment, thread_defaults

DUMP_ENV = """
    import json, os, sys
    keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
            "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "VIBETENSOR_DEVICE", "VIBETENSOR_FABRIC_JOB",
            "VIBETENSOR_RESTART_COUNT", "VIBETENSOR_LAUNCHER", "VIBETENSOR_CPUS", "PYTHONUNBUFFERED",
            "TORCHELASTIC_RUN_ID", "VIBETENSOR_NUM_THREADS"]
    info = {k: os.environ.get(k) for k in keys}
    info["argv"] = sys.argv
    info["cpus"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(info))
"""


def test_each_rank_gets_torchrun_and_vt_variables(tmp_path):
    job = script(tmp_path, DUMP_ENV)
    res, _ = launch("--nproc-per-node", 3, job, "--lr", "0.1", "x")
    assert res.returncode == 0, res.stderr
    ranks = json_lines(res.stdout)
    assert sorted(ranks) == [0, 1, 2]
    for r, info in ranks.items():
        assert (info["RANK"], info["LOCAL_RANK"], info["ROLE_RANK"]) == (str(r),) * 3
        assert (info["WORLD_SIZE"], info["LOCAL_WORLD_SIZE"], info["ROLE_WORLD_SIZE"]) == ("3",) * 3
        assert info["GROUP_RANK"] == "0" and info["VIBETENSOR_RESTART_COUNT"] == "0"
        assert info["VIBETENSOR_DEVICE"] == "cpu" and info["VIBETENSOR_LAUNCHER"] == "vibetensor-launch"
        assert info["PYTHONUNBUFFERED"] == "1"
        assert info["argv"] == [str(job), "--lr", "0.1", "x"]
    # One rendezvous and one job id for the whole group.
    assert len({i["MASTER_ADDR"] for i in ranks.values()}) == 1
    assert len({i["MASTER_PORT"] for i in ranks.values()}) == 1 and 0 < int(ranks[0]["MASTER_PORT"]) < 65536
    assert len({i["VIBETENSOR_FABRIC_JOB"] for i in ranks.values()}) == 1 and ranks[0]["VIBETENSOR_FABRIC_JOB"]
    assert ranks[0]["TORCHELASTIC_RUN_ID"] == ranks[0]["VIBETENSOR_FABRIC_JOB"]


def test_job_ids_and_ports_differ_between_launches(tmp_path):
    job = script(tmp_path, DUMP_ENV)
    a, b = (json_lines(launch("--nproc-per-node", 1, job)[0].stdout)[0] for _ in range(2))
    assert a["VIBETENSOR_FABRIC_JOB"] != b["VIBETENSOR_FABRIC_JOB"]


def test_cpu_ranks_are_pinned_to_disjoint_cpus(tmp_path):
    allowed = sorted(os.sched_getaffinity(0))
    res, _ = launch("--nproc-per-node", 2, script(tmp_path, DUMP_ENV))
    ranks = json_lines(res.stdout)
    expected = split_evenly(allowed, 2)
    for r in (0, 1):
        assert ranks[r]["cpus"] == list(expected[r])
        assert ranks[r]["VIBETENSOR_CPUS"] == ",".join(map(str, expected[r]))
        assert ranks[r]["VIBETENSOR_NUM_THREADS"] == str(len(expected[r]))
    if len(allowed) >= 2:
        assert not set(ranks[0]["cpus"]) & set(ranks[1]["cpus"])


def test_no_bind_leaves_affinity_alone(tmp_path):
    res, _ = launch("--nproc-per-node", 2, "--no-bind", script(tmp_path, DUMP_ENV))
    for info in json_lines(res.stdout).values():
        assert info["cpus"] == sorted(os.sched_getaffinity(0)) and info["VIBETENSOR_CPUS"] is None
        assert info["VIBETENSOR_NUM_THREADS"] is None


def test_multinode_ranks_and_given_rendezvous(tmp_path):
    res, _ = launch("--nproc-per-node", 2, "--nnodes", 2, "--node-rank", 1, "--master-addr", "10.1.2.3",
                    "--master-port", 29611, script(tmp_path, DUMP_ENV))
    ranks = json_lines(res.stdout)
    assert sorted(ranks) == [2, 3]
    for r, info in ranks.items():
        assert info["LOCAL_RANK"] == str(r - 2) and info["WORLD_SIZE"] == "4" and info["GROUP_RANK"] == "1"
        assert (info["MASTER_ADDR"], info["MASTER_PORT"]) == ("10.1.2.3", "29611")
    # Both nodes derive the same job id from the rendezvous.
    assert ranks[2]["VIBETENSOR_FABRIC_JOB"] == "vt-10.1.2.3:29611"


def test_module_mode(tmp_path):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    script(pkg, DUMP_ENV, "train.py")
    res, _ = launch("--nproc-per-node", 2, "-m", "mypkg.train", "--flag",
                    env=clean_env(PYTHONPATH=str(tmp_path)))
    assert res.returncode == 0, res.stderr
    ranks = json_lines(res.stdout)
    assert sorted(ranks) == [0, 1] and ranks[1]["argv"][1:] == ["--flag"]


def test_gpu_without_gpus_runs_cpu_ranks(tmp_path):
    res, _ = launch("--nproc-per-node", "gpu", script(tmp_path, DUMP_ENV))
    assert res.returncode == 0, res.stderr
    ranks = json_lines(res.stdout)
    assert len(ranks) == min(2, len(os.sched_getaffinity(0)))
    assert all(i["VIBETENSOR_DEVICE"] == "cpu" for i in ranks.values())
    assert "no GPU visible" in res.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--nproc-per-node", "0"], "at least 1"),
    (["--nproc-per-node", "many"], "expected a number"),
    (["--nproc-per-node", "2", "--nnodes", "2"], "--master-addr and --master-port"),
    (["--nproc-per-node", "2", "--ranks-filter", "a,b"], "comma-separated ranks"),
    (["--nproc-per-node", "1", "--device", "cuda"], "no GPU is visible"),
])
def test_bad_arguments_exit_2(tmp_path, args, fragment):
    res, _ = launch(*args, script(tmp_path, "print('never')"))
    assert res.returncode == 2 and fragment in res.stderr and "never" not in res.stdout


def test_missing_script_is_an_argument_error(tmp_path):
    res, _ = launch("--nproc-per-node", 1, tmp_path / "nope.py")
    assert res.returncode == 2 and "no such script" in res.stderr


# -- placement and environment as data (no processes) ------------------------------------------------

def test_gpu_ranks_take_their_gpus_local_cpus_and_share_them_when_oversubscribed():
    pools = lambda n: ([(0, 1, 2, 3), (4, 5, 6, 7)], None)  # noqa: E731 - GPU 0 on CPUs 0-3, GPU 1 on 4-7
    placed, notes = place_ranks(4, 2, True, allowed=range(8), gpu_pools=pools)
    assert [p.device for p in placed] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert [p.cpus for p in placed] == [(0, 1), (4, 5), (2, 3), (6, 7)] and notes == []
    # CPUs outside the launcher's own set are never used.
    placed, notes = place_ranks(2, 2, True, allowed=range(4), gpu_pools=pools)
    assert placed[0].cpus == (0, 1, 2, 3) and placed[1].cpus is None and "outside" in notes[0]


def test_placement_without_topology_runs_unpinned_and_says_why():
    placed, notes = place_ranks(2, 2, True, allowed=range(8), gpu_pools=lambda n: (None, "no sysfs"))
    assert [p.cpus for p in placed] == [None, None] and "no sysfs" in notes[0]
    assert place_ranks(2, 2, False, gpu_pools=lambda n: 1 / 0)[0] == [Placement("cuda:0", None), Placement("cuda:1", None)]


def test_rank_environment_keeps_user_thread_settings():
    world = World(nproc=2, master_port=1234, job_id="j")
    env = rank_environment({"OMP_NUM_THREADS": "7", "VIBETENSOR_CPUS": "stale"}, world, 1, Placement("cpu", (2, 3)))
    assert env["OMP_NUM_THREADS"] == "7" and env["VIBETENSOR_NUM_THREADS"] == "2" and env["VIBETENSOR_CPUS"] == "2,3"
    assert "VIBETENSOR_CPUS" not in rank_environment({"VIBETENSOR_CPUS": "stale"}, world, 0, Placement("cpu", None))
    assert thread_defaults(None, {}) == {}


def test_gpu_cpu_pools_come_from_the_topology(monkeypatch):
    from vibetensor.fabric.topology import fixture_path
    from vibetensor.launch.devices import gpu_cpu_pools

    monkeypatch.setenv("VIBETENSOR_TOPO_FILE", str(fixture_path("dgx_h100_8gpu")))
    pools, why = gpu_cpu_pools(8)
    assert why is None and len(pools) == 8
    assert pools[5] == tuple(range(56, 112)) + tuple(range(168, 224))  # GPU 5 sits on NUMA node 1
    assert gpu_cpu_pools(9) == (None, "the topology shows 8 GPU(s), expected 9")
    placed, _ = place_ranks(8, 8, True, allowed=range(224), gpu_pools=gpu_cpu_pools)
    assert placed[5] == Placement("cuda:5", pools[5])
