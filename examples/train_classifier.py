"""Train a softmax-regression classifier on a synthetic task, on CPU, with hand-derived gradients.

This is the main job until autograd and vibetensor-launch land: it exercises the native core's matmul,
softmax/log_softmax, reductions, indexing and in-place updates end to end, and checks that it learns.

    python examples/train_classifier.py --steps 200
"""
import argparse
import time

import vibetensor as vt


def make_data(n, dim, classes, seed):
    vt.manual_seed(seed)
    centers = vt.randn(classes, dim) * 3
    labels = vt.randint(0, classes, (n,))
    x = centers[labels] + vt.randn(n, dim)
    return x, labels


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x, y = make_data(4096, args.dim, args.classes, args.seed)
    w = vt.zeros(args.dim, args.classes)
    b = vt.zeros(args.classes)
    onehot = vt.one_hot(y, args.classes).float()
    start = time.perf_counter()
    for step in range(args.steps):
        idx = vt.randint(0, x.shape[0], (args.batch,))
        xb, tb = x[idx], onehot[idx]
        logits = xb @ w + b
        loss = -(vt.log_softmax(logits, 1) * tb).sum(1).mean()
        # d(loss)/d(logits) for softmax cross-entropy, averaged over the batch
        g = (vt.softmax(logits, 1) - tb) / args.batch
        w.sub_(xb.t() @ g, alpha=args.lr)
        b.sub_(g.sum(0), alpha=args.lr)
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    acc = ((x @ w + b).argmax(1) == y).float().mean().item()
    print(f"accuracy {acc:.3f} after {args.steps} steps in {time.perf_counter() - start:.2f} s")
    return acc


if __name__ == "__main__":
    main()
