"""The main job (examples/train_gpt.py, unchanged) with its memory sampled: every EVERY calls of its
train_step, the CPU allocator's live bytes and the process's resident set are recorded; each rank writes
its samples to OUT/memory_<rank>.json. test_soak.py runs it through vibetensor-launch:

    vibetensor-launch --nproc-per-node 2 --device cpu soak_train_gpt.py EVERY OUT --steps 300 --out OUT
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "examples"))
import train_gpt  # noqa: E402
import vibetensor as vt  # noqa: E402


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(every, out, argv):
    samples, calls = [], [0]
    step = train_gpt.train_step

    def sampled(*args, **kwargs):
        loss = step(*args, **kwargs)
        calls[0] += 1
        if calls[0] % every == 0:  # between steps: only the model, optimiser state and this loss are alive
            samples.append({"step": calls[0], "live": vt._C._cpu_memory_stats()["allocated_bytes"],
                            "rss": resident_bytes()})
        return loss

    train_gpt.train_step = sampled
    losses = train_gpt.main(argv)
    with open(os.path.join(out, f"memory_{os.environ.get('RANK', '0')}.json"), "w") as f:
        json.dump({"samples": samples, "first_loss": losses[0], "last_loss": losses[-1]}, f)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
