"""Pretrain the grader's backbone and write `backbone.npz` (run from the repository root).

    python exercises/09_finetune_freezing/make_backbone.py

Seeded and CPU-only, so the same file comes out on every machine with the same
PyTorch build. The Keras backbone loads the same file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from backbone_torch import WEIGHTS, TinyResNet  # noqa: E402
from tasks import source_task  # noqa: E402

STEPS, BATCH, LR = 200, 64, 1e-2


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = source_task(2400, seed=101)
    xtr, ytr = torch.from_numpy(x[:2000]), torch.from_numpy(y[:2000])
    model = TinyResNet(num_classes=4).train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    rng = np.random.default_rng(0)
    for _ in range(STEPS):
        idx = torch.from_numpy(rng.choice(len(xtr), BATCH, replace=False))
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(x[2000:])).argmax(1).numpy() == y[2000:]).mean()
    np.savez(WEIGHTS, **{k: v.numpy() for k, v in model.state_dict().items()})
    print(f"source-task validation accuracy {acc:.1%}; wrote {WEIGHTS} "
          f"({WEIGHTS.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
