"""Shared fixtures of the fabric tests."""
import pytest

from vibetensor.fabric.collectives.shm_launch import RankPool


@pytest.fixture(scope="module")
def pools():
    """pools(n): a pool of n spawned ranks (made once per module, closed at its end)."""
    made = {}

    def get(n):
        if n not in made:
            made[n] = RankPool(n, env={"VIBETENSOR_FABRIC_TIMEOUT": "20"})
        return made[n]
    yield get
    for p in made.values():
        p.close()
