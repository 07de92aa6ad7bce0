"""The torch side of 08: hand real parameters to the learner's clipping, run the library's
for comparison, watch for calls into it, and drive the exploding run.

torch is imported inside the functions, so importing this module loads no framework.
"""

from __future__ import annotations

import math
from typing import Any

from resnet_kata.checks import Context
from resnet_kata.checks.calls import call, watch_library

from .references import Case, Explode, Grads, Outcome, total_norm


class TorchClip:
    """clip_grad_norm(parameters, ...) scales each parameter's .grad."""

    fn = "clip_grad_norm"
    unchanged_note = (
        " (rebinding a name, `g = g * scale`, does not change p.grad: use p.grad.mul_(scale) "
        "or assign p.grad)"
    )

    def __init__(self, ctx: Context):
        import torch

        self.torch, self.ctx = torch, ctx
        self.device = getattr(ctx.A, "device", "cpu")

    def _params(self, grads: Grads) -> list[Any]:
        torch, rng = self.torch, self.ctx.rng(77)
        params = []
        for g in grads:
            shape = (3,) if g is None else g.shape
            p = torch.nn.Parameter(torch.tensor(rng.normal(0, 1, shape), dtype=torch.float32,
                                                device=self.device))
            p.grad = None if g is None else torch.tensor(g, dtype=torch.float32, device=self.device)
            params.append(p)
        return params

    @staticmethod
    def _form(params: list[Any], form: str) -> Any:
        return {
            "list": lambda: params,
            "tuple": lambda: tuple(params),
            "single": lambda: params[0],
            "generator": lambda: (p for p in params),
        }[form]()

    def weights(self, case: Case) -> Grads:
        """The parameter values the learner's function sees, as numpy."""
        return [p.detach().cpu().numpy() for p in self._params(case.grads)]

    def _read(self, params: list[Any]) -> Grads:
        return [None if p.grad is None else p.grad.detach().float().cpu().numpy() for p in params]

    def learner(self, case: Case, fn: str | None = None, arg: float | None = None,
                advice: str = "") -> Outcome:
        fn = fn or self.fn
        params = self._params(case.grads)
        before = [p.detach().clone() for p in params]
        args = (self._form(params, case.form), case.max_norm if arg is None else arg)
        kwargs = {"norm_type": case.norm_type} if fn == self.fn and case.norm_type != 2.0 else {}
        what = "max_norm" if fn == self.fn else "clip_value"
        returned = call(self.ctx, fn, *args, case=case.text(what), advice=advice, **kwargs)
        moved = any(not self.torch.equal(b, p.detach()) for b, p in zip(before, params, strict=True))
        return Outcome(returned, self._read(params), moved)

    def library(self, case: Case) -> tuple[float, Grads]:
        params = self._params(case.grads)
        norm = self.torch.nn.utils.clip_grad_norm_(
            self._form(params, case.form), case.max_norm, norm_type=case.norm_type
        )
        return float(norm), self._read(params)

    def library_value(self, case: Case) -> Grads:
        params = self._params(case.grads)
        self.torch.nn.utils.clip_grad_value_(self._form(params, case.form), case.max_norm)
        return self._read(params)

    def watched(self) -> Any:
        import torch.nn.utils as U
        import torch.nn.utils.clip_grad as C

        library = {
            f"torch.nn.utils.{n}": getattr(U, n)
            for n in ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
                      "clip_grads_with_norm_")
        }
        return watch_library(library, [U, C, self.ctx.module])


def explode(ctx: Context, spec: Explode, clip: bool) -> tuple[list[float], float]:
    """Plain SGD on the deep linear net; with `clip`, the learner's clip_grad_norm first.
    Returns the loss per step (stopping at the first inf/NaN) and the largest norm left
    after the learner's clipping."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    x, y, ws = spec.data(ctx.rng(21))
    model = nn.Sequential(*[nn.Linear(*w.shape, bias=False) for w in ws])
    with torch.no_grad():
        for layer, w in zip(model, ws, strict=True):
            layer.weight.copy_(torch.from_numpy(w.T))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, after = [], 0.0
    for step in range(spec.steps):
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt), yt)
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break
        loss.backward()
        if clip:
            call(ctx, "clip_grad_norm", model.parameters(), spec.max_norm,
                 case=f"at step {step + 1} of the exploding run")
            grads = [p.grad.numpy() for p in model.parameters() if p.grad is not None]
            after = max(after, total_norm(grads))
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= spec.lr * p.grad
        if clip:  # the bar follows the run the learner's code drives
            ctx.progress(step=step + 1, total=spec.steps, loss=losses[-1])
    return losses, after
