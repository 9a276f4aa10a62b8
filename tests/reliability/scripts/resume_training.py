"""A data-parallel job that checkpoints after every step and resumes from the last checkpoint; on its first
attempt one rank can SIGKILL itself at a chosen step. test_rank_faults.py runs it through vibetensor-launch:

    vibetensor-launch --nproc-per-node 2 --device cpu --max-restarts 1 resume_training.py OUT STEPS KILL_AT

Rank 0 prints one JSON line: the step it resumed from, its last loss and its final parameters.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fabric"))
import vibetensor as vt  # noqa: E402
import vibetensor.fabric as fabric  # noqa: E402
from test_ddp_training import MLP, PER_RANK, batch, loss_of, shard  # noqa: E402  (the DDP tests' model/data)


def main(out, steps, kill_at):
    group = fabric.init()
    with open(os.path.join(out, f"pid_{group.rank}"), "w") as f:  # the test checks these are all gone at the end
        f.write(str(os.getpid()))
    model = MLP(0)
    dp = fabric.DataParallel(model)
    opt = vt.optim.AdamW(dp.parameters(), lr=0.01)
    path = os.path.join(out, "ckpt.safetensors")
    start = fabric.load_checkpoint(path, dp, opt)[0] if os.path.exists(path) else 0
    first_attempt = os.environ.get("VIBETENSOR_RESTART_COUNT", "0") == "0"
    loss = None
    for step in range(start, steps):
        if first_attempt and group.rank == 1 and step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        x, y = batch(step, PER_RANK * group.size)
        loss = loss_of(dp, shard(x, group.rank, group.size), shard(y, group.rank, group.size))
        loss.backward()
        opt.step()
        opt.zero_grad()
        fabric.save_checkpoint(path, dp, opt, step=step + 1)
    if group.rank == 0:
        params = [p.detach().numpy().ravel().tolist() for p in model.parameters()]
        print(json.dumps({"start": start, "loss": loss.item(), "params": params}), flush=True)
    fabric.destroy()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
