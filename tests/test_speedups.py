"""The grader's shortcuts change no result: the lazy torch._dynamo, models built as outlines,
remembered datasets."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from resnet_kata import data as D


def test_datasets_are_remembered_and_every_caller_gets_its_own_copy():
    x1, y1 = D.patterns(40, 8, 3, seed=5)
    x1[:] = 0.0
    y1[:] = 0
    x2, y2 = D.patterns(40, 8, 3, seed=5)
    assert np.abs(x2).sum() > 0 and len(set(y2.tolist())) == 4
    D.patterns.cache_clear()
    x3, y3 = D.patterns(40, 8, 3, seed=5)
    np.testing.assert_array_equal(x2, x3)
    np.testing.assert_array_equal(y2, y3)
    assert not np.array_equal(D.patterns(40, 8, 3, seed=6)[0], x3)


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


OPTIMISE = """
    import torch
    from resnet_kata.adapters import lazy_dynamo
    {install}
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.Adam([w], lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
        sched.step()
    print(lazy_dynamo.loaded(), repr(w.tolist()).replace(" ", ""), int(opt.state_dict()["state"][0]["step"]))
"""


def test_torch_optim_runs_without_importing_dynamo_with_the_same_numbers():
    pytest.importorskip("torch")
    lazy = _run(OPTIMISE.format(install="assert lazy_dynamo.install()"))
    real = _run(OPTIMISE.format(install="import torch._dynamo"))
    assert lazy[0] == "False" and real[0] == "True"
    assert lazy[1:] == real[1:] and lazy[2] == "3"


def test_the_torch_adapter_trains_with_torchs_adam_fused_and_without_dynamo():
    pytest.importorskip("torch")
    words = _run("""
        import torch
        from resnet_kata.adapters import lazy_dynamo, torch_adapter
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(6))
        frozen = torch.nn.Parameter(torch.randn(2), requires_grad=False)
        twin = torch.nn.Parameter(w.detach().clone())
        start = w.detach().clone()
        opt = torch_adapter._adam([w, frozen], lr=0.1)
        plain = torch.optim.Adam([twin], lr=0.1, fused=False)
        for _ in range(4):
            for o, p in ((opt, w), (plain, twin)):
                o.zero_grad()
                ((p - 1) ** 4).sum().backward()
                o.step()
        print(type(opt).__name__, opt.defaults["fused"], len(opt.param_groups[0]["params"]))
        print(torch.allclose(w, twin, atol=1e-6), bool((w != start).all()))
        none = torch_adapter._adam([frozen], lr=0.1)
        none.zero_grad(); none.step()
        print(lazy_dynamo.loaded())
    """)
    assert words == ["Adam", "True", "1", "True", "True", "False"]


def test_the_real_dynamo_takes_the_stand_ins_place_when_asked_for_anything_else():
    pytest.importorskip("torch")
    words = _run("""
        import sys
        import torch
        from resnet_kata.adapters import lazy_dynamo
        lazy_dynamo.install()
        print(lazy_dynamo.loaded(), callable(torch._dynamo.reset), lazy_dynamo.loaded())
        import torch._dynamo
        print(type(torch._dynamo).__name__, torch._dynamo is sys.modules["torch._dynamo"])
    """)
    assert words == ["False", "True", "True", "module", "True"]


def test_a_submodule_of_dynamo_imports_under_the_stand_in():
    pytest.importorskip("torch")
    words = _run("""
        import torch
        from resnet_kata.adapters import lazy_dynamo
        lazy_dynamo.install()
        import torch._dynamo.config
        from torch._dynamo import disable
        print(hasattr(torch._dynamo.config, "cache_size_limit"), disable(len)("abc"))
        config = __import__("sys").modules["torch._dynamo.config"]
        print(torch._dynamo.optimize is not None, lazy_dynamo.loaded(), torch._dynamo.config is config)
    """)
    assert words == ["True", "3", "True", "True", "True"]


def test_an_outline_has_the_real_models_names_shapes_and_counts():
    pytest.importorskip("torch")
    import torch

    from resnet_kata.adapters.torch_adapter import Adapter

    A = Adapter("cpu")

    def make():
        m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8),
                                torch.nn.Linear(8, 2))
        torch.nn.init.kaiming_normal_(m[0].weight)
        return m

    with A.outline():
        ghost = make()
    real = make()
    assert ghost[0].weight.is_meta and not real[0].weight.is_meta
    assert {k: v.shape for k, v in ghost.state_dict().items()} == {
        k: v.shape for k, v in real.state_dict().items()}
    assert A.count(ghost) == A.count(real) == (8 * 27 + 16 + 18, 0)
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    with A.outline():
        make()
    assert torch.equal(torch.rand(3), a)  # the outline drew no random numbers


def test_a_keras_sketch_has_the_real_models_names_shapes_and_counts():
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    from resnet_kata.adapters.tf_adapter import Adapter

    A = Adapter("cpu")
    L = keras.layers

    def make():
        return keras.Sequential([L.Conv2D(8, 3, use_bias=False), L.BatchNormalization(),
                                 L.GlobalAveragePooling2D(), L.Dense(2)])

    sketch = A.sketch(make, (1, 3, 9, 9))
    real = A.prepare(make(), (1, 3, 9, 9))
    assert [tuple(v.shape) for v in sketch.weights] == [tuple(v.shape) for v in real.weights]
    assert A.count(sketch) == A.count(real) == (8 * 27 + 16 + 18, 16)
    assert all(A.info(a) == A.info(b) for a, b in zip(sketch.layers, real.layers, strict=True))
    assert not any(isinstance(v.value, tf.Variable) for v in sketch.weights)
    assert all(isinstance(v.value, tf.Variable) for v in real.weights)
    assert all(isinstance(v.value, tf.Variable) for v in make().weights + A.prepare(
        make(), (1, 3, 9, 9)).weights)  # the patch ends with the sketch


KERAS_BLOCK = """
import keras

made = []


class Block(keras.layers.Layer):
    def __init__(self, channels):
        super().__init__()
        made.append(self)
        self.conv = keras.layers.Conv2D(channels, 3, padding="same")
        self.bn = keras.layers.BatchNormalization()

    def call(self, x, training=None):
        return self.bn(self.conv(x), training=training)
"""


def test_a_keras_block_built_again_in_one_grade_is_the_first_with_its_first_values():
    pytest.importorskip("tensorflow")
    import types

    from resnet_kata.adapters.tf_adapter import Adapter
    from resnet_kata.checks import Context
    from resnet_kata.checks.blocks import BlockSpec, Case, build

    module = types.ModuleType("learner")
    exec(KERAS_BLOCK, module.__dict__)
    A = Adapter("cpu")
    case, other = Case((4,), (1, 4, 5, 5)), Case((4,), (1, 4, 6, 6))
    spec = BlockSpec(cls="Block", signature="Block(channels)", attrs=("conv", "bn"),
                     layers=lambda c: {}, flow=lambda A, b, x, t: x, shape_cases=[case],
                     function_cases=[case])
    ctx = Context("tf", A, module, "90_block")
    first = build(ctx, spec, case)
    values = A.snapshot(first)
    A.randomize_bn(first, np.random.default_rng(0))
    first.conv.kernel.assign(first.conv.kernel * 0.0)
    again = build(ctx, spec, case)
    assert again is first and len(module.made) == 1
    assert all(np.array_equal(a, b) for a, b in zip(A.snapshot(again), values, strict=True))
    assert build(ctx, spec, other) is not first, "another input shape is another build"
    assert build(ctx, spec, case, prepare=False) is not first, "an unbuilt block is always new"
    [key] = [k for k, (block, _values) in ctx.built.items() if block is first]
    ctx.built[key] = (first, values[:-1])  # its values no longer fit its weights
    assert build(ctx, spec, case) is not first, "a block that cannot be put back is built afresh"
    fresh = Context("tf", A, module, "90_block")
    assert build(fresh, spec, case) is not first, "nothing is kept from one grade to the next"


def test_a_keras_snapshot_keeps_its_values_when_the_weights_change():
    pytest.importorskip("tensorflow")
    import keras

    from resnet_kata.adapters.tf_adapter import Adapter

    A = Adapter("cpu")
    model = A.prepare(keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization()]),
                      (1, 3, 6, 6))
    before = [np.array(v.numpy()) for v in model.weights]
    snap = A.snapshot(model)
    for v in model.weights:
        v.assign(v.numpy() + 1.0)
    assert all(np.array_equal(np.asarray(s), b) for s, b in zip(snap, before, strict=True))
    A.restore(model, snap)
    assert all(np.array_equal(v.numpy(), b) for v, b in zip(model.weights, before, strict=True))
    model(np.ones((2, 6, 6, 3), np.float32), training=True)  # moves the BN's statistics
    assert not all(np.array_equal(v.numpy(), b) for v, b in zip(model.weights, before, strict=True))
    A.restore(model, snap)
    assert all(np.array_equal(v.numpy(), b) for v, b in zip(model.weights, before, strict=True))
