"""One framework contract: both adapters implement `FrameworkAdapter`, and checks use only it."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from resnet_kata.adapters import FrameworkAdapter

from .conftest import ROOT, needs

MEMBERS = {
    name for name in dir(FrameworkAdapter) if not name.startswith("_")
} | set(FrameworkAdapter.__annotations__)


def _adapter_class(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Adapter"]
    found = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = [a.arg for a in node.args.args if a.arg != "self"]
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = None
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            for sub in ast.walk(node):
                if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store):
                    if isinstance(sub.value, ast.Name) and sub.value.id == "self":
                        found.setdefault(sub.attr, None)
    return found


@pytest.mark.parametrize("module", ["torch_adapter", "tf_adapter"])
def test_each_adapter_has_every_member_of_the_contract(module):
    found = _adapter_class(ROOT / "grader" / "adapters" / f"{module}.py")
    missing = sorted(MEMBERS - set(found))
    assert not missing, f"{module}.Adapter lacks {missing}"
    for name in MEMBERS:
        proto = getattr(FrameworkAdapter, name, None)
        if inspect.isfunction(proto) and found[name] is not None:
            want = [p.name for p in inspect.signature(proto).parameters.values()
                    if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]
            assert found[name] == want, f"{module}.Adapter.{name}{tuple(found[name])}: contract {want}"


def test_checks_use_only_the_contract():
    """Every `A.x` (`ctx.A.x`, `self.A.x`) in the battery and the exercises' checks is a member."""
    used: dict[str, set[str]] = {}
    files = [*(ROOT / "grader" / "checks").rglob("*.py"), *(ROOT / "exercises").glob("*/*.py")]
    for path in files:
        if path.name.endswith(("_torch.py", "_tf.py", "_np.py")) and path.parent.name[:2].isdigit():
            continue  # stubs: the learner's code, not the kit's
        for attr in re.findall(r"\bA\.(\w+)", path.read_text(encoding="utf-8")):
            used.setdefault(attr, set()).add(str(path.relative_to(ROOT)))
    outside = {attr: sorted(where) for attr, where in used.items() if attr not in MEMBERS}
    assert not outside, f"adapter members used but not in FrameworkAdapter: {outside}"


@pytest.mark.parametrize("fw", [pytest.param("torch", marks=[needs("torch"), pytest.mark.torch]),
                                pytest.param("tf", marks=[needs("tf"), pytest.mark.tf])])
def test_the_adapter_is_a_framework_adapter_at_run_time(fw):
    from resnet_kata.adapters import get_adapter

    adapter = get_adapter(fw, "cpu")
    assert isinstance(adapter, FrameworkAdapter)
    assert adapter.device_name == "cpu"


@needs("tf")
@pytest.mark.tf
def test_keras_bn_that_call_never_applies_is_named_not_crashed_on():
    """A BatchNormalization the learner creates but never calls has no weights; randomising
    the BN statistics names it instead of failing inside the grader."""
    import keras
    import numpy as np

    from resnet_kata.adapters import get_adapter
    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(4, 3, padding="same")
            self.bn = keras.layers.BatchNormalization()

        def call(self, x, training=None):
            return self.conv(x)  # self.bn is never applied

    block = Block()
    block(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(RuntimeError, match="still has no weights after a forward pass"):
        get_adapter("tf", "cpu").randomize_bn(block, np.random.default_rng(0))
