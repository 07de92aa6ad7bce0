"""01_residual_block: typical bugs are caught by the right check; correct variants pass."""

from __future__ import annotations

from .conftest import (
    bugs,
    case_test,
    check_of,
    mutate,
    needs,
    solution_source,
    variants,
)

EX = "01_residual_block"
FAST = ["api", "shapes", "params", "structure", "function", "gradients", "identity"]

TORCH_BUGS = {
    "relu_before_add": (
        [("out = self.bn2(self.conv2(out))", "out = F.relu(self.bn2(self.conv2(out)))")],
        "function", "before the add",
    ),
    "no_skip": ([("return F.relu(out + x)", "return F.relu(out)")], "function", "no skip"),
    "conv_bias": (
        [("self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)",
          "self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)")],
        "params", "conv2` has a bias",
    ),
    "detached_identity": (
        [("return F.relu(out + x)", "return F.relu(out + x.detach())")],
        "gradients", "input",
    ),
    "bn_always_eval": (
        [("out = F.relu(self.bn1(self.conv1(x)))",
          "self.bn1.eval(); self.bn2.eval()\n        out = F.relu(self.bn1(self.conv1(x)))")],
        "function", "BatchNorm ran in eval mode",
    ),
    "skip_from_wrong_tensor": (
        [("out = F.relu(self.bn1(self.conv1(x)))",
          "x1 = self.conv1(x)\n        out = F.relu(self.bn1(x1))"),
         ("return F.relu(out + x)", "return F.relu(out + x1)")],
        "function", "conv1's output",
    ),
    "missing_bn2": (
        [("out = self.bn2(self.conv2(out))", "out = self.conv2(out)"),
         ("self.bn2 = nn.BatchNorm2d(channels)", "self.bn2 = None")],
        "params", "bn2` missing",
    ),
    "no_relu_after_bn1": (
        [("out = F.relu(self.bn1(self.conv1(x)))", "out = self.bn1(self.conv1(x))")],
        "function", "no ReLU between bn1 and conv2",
    ),
    "preactivation_order": (
        [("out = F.relu(self.bn1(self.conv1(x)))", "out = self.conv1(F.relu(self.bn1(x)))"),
         ("out = self.bn2(self.conv2(out))", "out = self.conv2(F.relu(self.bn2(out)))"),
         ("return F.relu(out + x)", "return out + x")],
        "function", "the pre-activation order (BN-ReLU-conv, ResNet v2)",
    ),
    "conv1_applied_twice": (
        [("out = self.bn2(self.conv2(out))", "out = self.bn2(self.conv1(out))")],
        "function", "conv1 is applied twice",
    ),
    "bn1_applied_twice": (
        [("out = self.bn2(self.conv2(out))", "out = self.bn1(self.conv2(out))")],
        "function", "bn1 is applied twice",
    ),
    "no_final_relu": ([("return F.relu(out + x)", "return out + x")], "function",
                      "the final ReLU after the add is missing"),
    "relu_on_branch_none_after_add": (
        [("out = self.bn2(self.conv2(out))", "out = F.relu(self.bn2(self.conv2(out)))"),
         ("return F.relu(out + x)", "return out + x")],
        "function", "ReLU on the branch and no ReLU after the add",
    ),
    "skip_adds_relu_of_input": (
        [("return F.relu(out + x)", "return F.relu(out + F.relu(x))")],
        "function", "the skip adds the ReLU'd input",
    ),
    "adds_into_the_input_in_place": (
        [("return F.relu(out + x)", "x += out\n        return F.relu(x)")],
        "gradients", "in-place operation",
    ),
    "stride_two": (
        [("self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)",
          "self.conv1 = nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False)")],
        "shapes", "must match",
    ),
    "no_padding": (
        [("self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)",
          "self.conv1 = nn.Conv2d(channels, channels, 3, bias=False)")],
        "structure", "`conv1` has padding (0, 0), expected 1",
    ),
}

TF_BUGS = {
    "relu_before_add": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = keras.ops.relu(self.bn2(self.conv2(out), training=training))")],
        "function", "before the add",
    ),
    "no_skip": ([("return keras.ops.relu(out + x)", "return keras.ops.relu(out)")],
                "function", "no skip"),
    "conv_bias": (
        [('self.conv2 = layers.Conv2D(channels, 3, padding="same", use_bias=False)',
          'self.conv2 = layers.Conv2D(channels, 3, padding="same")')],
        "params", "conv2` has a bias",
    ),
    "stop_gradient_identity": (
        [("return keras.ops.relu(out + x)", "return keras.ops.relu(out + keras.ops.stop_gradient(x))")],
        "gradients", "input",
    ),
    "bn_always_inference": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = self.bn2(self.conv2(out), training=False)"),
         ("out = keras.ops.relu(self.bn1(self.conv1(x), training=training))",
          "out = keras.ops.relu(self.bn1(self.conv1(x), training=False))")],
        "function", "BatchNorm ran in eval mode",
    ),
    "valid_padding": (
        [('self.conv1 = layers.Conv2D(channels, 3, padding="same", use_bias=False)',
          "self.conv1 = layers.Conv2D(channels, 3, use_bias=False)")],
        "shapes", "",
    ),
    "no_relu_after_bn1": (
        [("out = keras.ops.relu(self.bn1(self.conv1(x), training=training))",
          "out = self.bn1(self.conv1(x), training=training)")],
        "function", "no ReLU between bn1 and conv2",
    ),
    "preactivation_order": (
        [("out = keras.ops.relu(self.bn1(self.conv1(x), training=training))",
          "out = self.conv1(keras.ops.relu(self.bn1(x, training=training)))"),
         ("out = self.bn2(self.conv2(out), training=training)",
          "out = self.conv2(keras.ops.relu(self.bn2(out, training=training)))"),
         ("return keras.ops.relu(out + x)", "return out + x")],
        "function", "the pre-activation order (BN-ReLU-conv, ResNet v2)",
    ),
    "conv1_applied_twice": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = self.bn2(self.conv1(out), training=training)")],
        # Keras never builds the conv2 that call() skips: the grader names it
        "function", "`conv2` still has no weights after a forward pass: your call() never applies it",
    ),
    "bn1_applied_twice": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = self.bn1(self.conv2(out), training=training)")],
        "function", "`bn2` still has no weights after a forward pass: your call() never applies it",
    ),
    "no_final_relu": ([("return keras.ops.relu(out + x)", "return out + x")], "function",
                      "the final ReLU after the add is missing"),
    "relu_on_branch_none_after_add": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = keras.ops.relu(self.bn2(self.conv2(out), training=training))"),
         ("return keras.ops.relu(out + x)", "return out + x")],
        "function", "ReLU on the branch and no ReLU after the add",
    ),
    "skip_adds_relu_of_input": (
        [("return keras.ops.relu(out + x)", "return keras.ops.relu(out + keras.ops.relu(x))")],
        "function", "the skip adds the ReLU'd input",
    ),
    "skip_from_wrong_tensor": (
        [("out = keras.ops.relu(self.bn1(self.conv1(x), training=training))",
          "x1 = self.conv1(x)\n        out = keras.ops.relu(self.bn1(x1, training=training))"),
         ("return keras.ops.relu(out + x)", "return keras.ops.relu(out + x1)")],
        "function", "conv1's output",
    ),
    "conv2_doubles_the_channels": (
        [('self.conv2 = layers.Conv2D(channels, 3, padding="same", use_bias=False)',
          'self.conv2 = layers.Conv2D(2 * channels, 3, padding="same", use_bias=False)')],
        "params", "Keras creates a layer's weights on its first call",
    ),
    "zero_padding_layer_instead_of_same": (
        [('self.conv1 = layers.Conv2D(channels, 3, padding="same", use_bias=False)',
          'self.pad = layers.ZeroPadding2D(1)\n        '
          'self.conv1 = layers.Conv2D(channels, 3, use_bias=False)'),
         ('out = keras.ops.relu(self.bn1(self.conv1(x), training=training))',
          'out = keras.ops.relu(self.bn1(self.conv1(self.pad(x)), training=training))')],
        "structure", '`conv1` has padding "valid", expected "same". The padding belongs to the conv',
    ),
    "missing_bn2": (
        [("self.bn2 = layers.BatchNormalization()", "self.bn2 = None"),
         ("out = self.bn2(self.conv2(out), training=training)", "out = self.conv2(out)")],
        "params", "bn2` missing",
    ),
}




TORCH_VARIANTS = {
    "sequential_branch_inplace_relu": """
        import torch
        from torch import nn

        class BasicBlock(nn.Module):
            def __init__(self, channels):
                super().__init__()
                self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(channels)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(channels, channels, kernel_size=(3, 3), padding=(1, 1), bias=False)
                self.bn2 = nn.BatchNorm2d(channels)
                self.branch = nn.Sequential(self.conv1, self.bn1, self.relu, self.conv2, self.bn2)
                nn.init.zeros_(self.bn2.weight)  # zero-init of the last BN gamma

            def forward(self, x):
                identity = x
                out = self.branch(x)
                out += identity
                return self.relu(out)
    """,
    "functional_style": """
        import torch.nn as nn
        import torch.nn.functional as F

        class BasicBlock(nn.Module):
            def __init__(self, channels: int) -> None:
                super().__init__()
                for i in (1, 2):
                    setattr(self, f"conv{i}", nn.Conv2d(channels, channels, 3, 1, 1, bias=False))
                    setattr(self, f"bn{i}", nn.BatchNorm2d(channels))
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

            def forward(self, x):
                y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
                return F.relu(x + y)
    """,
}

TORCH_VARIANTS["padding_same_string"] = """
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding="same", bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding="same", bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + x)
"""

TF_VARIANTS = {
    "sequential_branch": """
        import keras
        from keras import layers

        class BasicBlock(keras.layers.Layer):
            def __init__(self, channels, **kwargs):
                super().__init__(**kwargs)
                self.conv1 = layers.Conv2D(channels, (3, 3), strides=1, padding="same", use_bias=False,
                                           kernel_initializer="he_normal")
                self.bn1 = layers.BatchNormalization(gamma_initializer="ones")
                self.conv2 = layers.Conv2D(channels, 3, padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization(gamma_initializer="zeros")
                self.branch = keras.Sequential([self.conv1, self.bn1, layers.ReLU(), self.conv2, self.bn2])
                self.add = layers.Add()
                self.out_relu = layers.Activation("relu")

            def call(self, inputs, training=None):
                return self.out_relu(self.add([self.branch(inputs, training=training), inputs]))
    """,
}


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=FAST), *bugs("tf", TF_BUGS, only=FAST),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
])


@needs("torch")
def test_parameter_diff_names_each_wrong_layer(grade_source):
    source = mutate(
        solution_source(EX, "torch"),
        ("self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)",
         "self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)"),
        ("self.bn1 = nn.BatchNorm2d(channels)", "self.bn1 = nn.Identity()"),
    )
    msg = check_of(grade_source(EX, "torch", source, only=["api", "params"]), "params").message
    assert "conv2` has a bias" in msg
    assert "bn1` should be" in msg
    assert "18C² + 4C" in msg
