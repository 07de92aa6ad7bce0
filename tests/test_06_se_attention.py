"""06_se_attention: typical SE bugs are caught by the right check; correct variants pass."""

from __future__ import annotations

import pytest

from .conftest import (
    bugs,
    case_test,
    check_of,
    mutate,
    needs,
    solution_source,
    variants,
)

EX = "06_se_attention"

# bug -> (edits to the reference solution, [(check that must fail, phrase of its message)])
# Each bug is graded with only the checks expected to catch it (fast); a check whose
# prerequisites were not selected runs regardless.
TORCH_BUGS = {
    "projection_missing_when_channels_shrink": (
        [("if stride != 1 or in_channels != out_channels:", "if stride != 1 or in_channels < out_channels:")],
        [("shortcut", "the channels change (16 -> 8) at stride 1")],
    ),
    "is_not_instead_of_not_equal": (
        [("if stride != 1 or in_channels != out_channels:",
          "if stride != 1 or in_channels is not out_channels:")],
        [("shortcut", "`SEBasicBlock(300, 300)`, `downsample` is Sequential where it should be None")],
    ),
    "default_reduction_not_16": (
        [("def __init__(self, channels: int, reduction: int = 16",
          "def __init__(self, channels: int, reduction: int = 17")],
        [("se_hidden", "is the default in your signature 16?")],
    ),
    "hidden_rounded_up": (
        [("hidden = max(1, channels // reduction)", "hidden = -(-channels // reduction)")],
        [("se_hidden", "rounded UP")],
    ),
    "squeeze_over_the_batch_too": (
        [("s = x.mean(dim=(2, 3))  # squeeze: (N, C)", "s = x.mean(dim=(0, 2, 3)).expand(x.shape[0], -1)")],
        [("se_function", "averaged over the batch")],
    ),
    "gate_not_reshaped": (
        [("return x * gate[:, :, None, None]", "return x * gate")],
        [("se_shapes", "reshape it to (N, C, 1, 1)")],
    ),
    "reduction_not_passed_to_se": (
        [("self.se = SEBlock(out_channels, reduction)", "self.se = SEBlock(out_channels)")],
        [("structure", "hidden max(1, out // reduction)")],
    ),
    "max_squeeze": (
        [("s = x.mean(dim=(2, 3))", "s = x.amax(dim=(2, 3))")],
        [("se_squeeze", "global MAXIMUM"), ("se_function", "global maximum")],
    ),
    "fc_without_bias": (
        [("self.fc1 = nn.Linear(channels, hidden)", "self.fc1 = nn.Linear(channels, hidden, bias=False)")],
        [("se_params", "`fc1` has no bias"), ("se_structure", "keep their biases")],
    ),
    "hidden_without_max": (
        [("hidden = max(1, channels // reduction)", "hidden = channels // reduction")],
        [("se_hidden", "hence max(1, ...)"), ("se_params", "`fc1` maps 8->0")],
    ),
    "se_after_the_add": (
        [("\n        out = self.se(out)  # on the branch: after bn2, before the add", ""),
         ("return F.relu(out + identity)", "return F.relu(self.se(out + identity))")],
        [("function", "the SE scales the sum after the add"), ("identity", "relu(x)")],
    ),
    "se_after_the_final_relu": (
        [("\n        out = self.se(out)  # on the branch: after bn2, before the add", ""),
         ("return F.relu(out + identity)", "return self.se(F.relu(out + identity))")],
        [("function", "after the final ReLU")],
    ),
    "se_on_the_shortcut": (
        [("out = self.se(out)  # on the branch: after bn2, before the add",
          "identity = self.se(identity)")],
        [("function", "scales the shortcut instead of the residual branch")],
    ),
    "se_before_bn2": (
        [("out = self.bn2(self.conv2(out))\n        out = self.se(out)",
          "out = self.bn2(self.se(self.conv2(out)))")],
        [("function", "between conv2 and bn2")],
    ),
    "gate_from_the_block_input": (
        [("out = self.se(out)  # on the branch: after bn2, before the add",
          "gate = torch.sigmoid(self.se.fc2(F.relu(self.se.fc1(x.mean(dim=(2, 3))))))\n"
          "        out = out * gate[:, :, None, None]")],
        [("function", "computed from the block's input x")],
    ),
    "se_never_applied": (
        [("\n        out = self.se(out)  # on the branch: after bn2, before the add", "")],
        [("function", "never applied")],
    ),
    "softmax_gate": (
        [("gate = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))",
          "gate = torch.softmax(self.fc2(F.relu(self.fc1(s))), dim=1)")],
        [("se_gate", "softmax"), ("se_function", "softmax over the channels")],
    ),
    "relu_gate": (
        [("gate = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))",
          "gate = F.relu(self.fc2(F.relu(self.fc1(s))))")],
        [("se_gate", "must lie in [0, 1]"), ("se_function", "a ReLU instead of a sigmoid")],
    ),
    "no_relu_between_fcs": (
        [("gate = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))",
          "gate = torch.sigmoid(self.fc2(self.fc1(s)))")],
        [("se_function", "ReLU between fc1 and fc2 is missing")],
    ),
    "gate_per_position": (
        [("s = x.mean(dim=(2, 3))  # squeeze: (N, C)", "s = x.permute(0, 2, 3, 1)"),
         ("return x * gate[:, :, None, None]", "return x * gate.permute(0, 3, 1, 2)")],
        [("se_gate", "varies over the positions of one channel"), ("se_function", "every position")],
    ),
    "returns_the_gate": (
        [("return x * gate[:, :, None, None]", "return gate[:, :, None, None]")],
        [("se_shapes", "That is the gate's shape")],
    ),
    "detached_squeeze": (
        [("s = x.mean(dim=(2, 3))", "s = x.mean(dim=(2, 3)).detach()")],
        [("se_gradients", "input differs")],
    ),
    "no_downsample_at_channel_change": (
        [("if stride != 1 or in_channels != out_channels:", "if stride != 1:")],
        [("shortcut", "the channels change (8 -> 16) at stride 1")],
    ),
    "stride_on_conv2": (
        [("self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)",
          "self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)"),
         ("self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
          "self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)")],
        [("structure", "the stride belongs on conv1")],
    ),
}

TF_BUGS = {
    "projection_missing_when_channels_shrink": (
        [("if stride != 1 or in_channels != out_channels:", "if stride != 1 or in_channels < out_channels:")],
        [("shortcut", "the channels change (16 -> 8) at stride 1")],
    ),
    "is_not_instead_of_not_equal": (
        [("if stride != 1 or in_channels != out_channels:",
          "if stride != 1 or in_channels is not out_channels:")],
        [("shortcut", "`SEBasicBlock(300, 300)`, `downsample` is Sequential where it should be None")],
    ),
    "default_reduction_not_16": (
        [("def __init__(self, channels: int, reduction: int = 16",
          "def __init__(self, channels: int, reduction: int = 17")],
        [("se_hidden", "is the default in your signature 16?")],
    ),
    "hidden_rounded_up": (
        [("hidden = max(1, channels // reduction)", "hidden = max(1, round(channels / reduction))")],
        [("se_hidden", "rounded UP")],
    ),
    "squeeze_over_the_batch_too": (
        [("s = keras.ops.mean(x, axis=(1, 2))",
          "s = keras.ops.broadcast_to(keras.ops.mean(x, axis=(0, 1, 2)), keras.ops.shape(x[:, 0, 0, :]))")],
        [("se_function", "averaged over the batch")],
    ),
    "gate_not_reshaped": (
        [("return x * gate[:, None, None, :]", "return x * gate")],
        [("se_shapes", "(N, 1, 1, C) in Keras")],
    ),
    "reduction_not_passed_to_se": (
        [("self.se = SEBlock(out_channels, reduction)", "self.se = SEBlock(out_channels)")],
        [("structure", "hidden max(1, out // reduction)")],
    ),
    "max_squeeze": (
        [("s = keras.ops.mean(x, axis=(1, 2))", "s = keras.ops.max(x, axis=(1, 2))")],
        [("se_squeeze", "global MAXIMUM"), ("se_function", "global maximum")],
    ),
    "fc_without_bias": (
        [("self.fc2 = layers.Dense(channels)", "self.fc2 = layers.Dense(channels, use_bias=False)")],
        [("se_params", "`fc2` has no bias"), ("se_structure", "keep their biases")],
    ),
    "hidden_without_max": (
        [("hidden = max(1, channels // reduction)", "hidden = channels // reduction")],
        [("se_hidden", "keep at least one hidden unit, max(1, channels // reduction) = 1")],
    ),
    "se_after_the_add": (
        [("\n        out = self.se(out)  # on the branch: after bn2, before the add", ""),
         ("return keras.ops.relu(out + identity)", "return keras.ops.relu(self.se(out + identity))")],
        [("function", "the SE scales the sum after the add"), ("identity", "relu(x)")],
    ),
    "se_on_the_shortcut": (
        [("out = self.se(out)  # on the branch: after bn2, before the add",
          "identity = self.se(identity)")],
        [("function", "scales the shortcut instead of the residual branch")],
    ),
    "softmax_gate": (
        [("gate = keras.ops.sigmoid(", "gate = keras.ops.softmax(")],
        [("se_gate", "softmax"), ("se_function", "softmax over the channels")],
    ),
    "relu_gate": (
        [("gate = keras.ops.sigmoid(", "gate = keras.ops.relu(")],
        [("se_gate", "must lie in [0, 1]"), ("se_function", "a ReLU instead of a sigmoid")],
    ),
    "hard_sigmoid_gate": (
        [("gate = keras.ops.sigmoid(", "gate = keras.ops.hard_sigmoid(")],
        [("se_function", "hard sigmoid")],
    ),
    "gate_per_position": (
        [("s = keras.ops.mean(x, axis=(1, 2))  # squeeze: (N, C)", "s = x"),
         ("return x * gate[:, None, None, :]", "return x * gate")],
        [("se_gate", "varies over the positions of one channel"), ("se_function", "every position")],
    ),
    "stop_gradient_gate": (
        [("return x * gate[:, None, None, :]", "return x * keras.ops.stop_gradient(gate[:, None, None, :])")],
        [("se_gradients", "differ")],
    ),
    "no_downsample_at_channel_change": (
        [("if stride != 1 or in_channels != out_channels:", "if stride != 1:")],
        [("shortcut", "the channels change (8 -> 16) at stride 1")],
    ),
    "bn_always_inference": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = self.bn2(self.conv2(out), training=False)")],
        [("function", "train mode")],
    ),
}


TORCH_VARIANTS = {
    "conv1x1_excitation_sequential_inplace_relu": """
        import torch
        from torch import nn

        class SEBlock(nn.Module):
            def __init__(self, channels, reduction=16):
                super().__init__()
                self.pool = nn.AdaptiveAvgPool2d(1)
                self.fc1 = nn.Conv2d(channels, max(1, channels // reduction), kernel_size=1)
                self.fc2 = nn.Conv2d(max(1, channels // reduction), channels, kernel_size=1)
                self.excite = nn.Sequential(self.fc1, nn.ReLU(inplace=True), self.fc2, nn.Sigmoid())

            def forward(self, x):
                return x * self.excite(self.pool(x))

        class SEBasicBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1, reduction=16):
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(out_channels)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(out_channels)
                self.se = SEBlock(out_channels, reduction=reduction)
                self.downsample = None
                if stride != 1 or in_channels != out_channels:
                    self.downsample = nn.Sequential(
                        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(out_channels))
                nn.init.zeros_(self.bn2.weight)  # zero-init of the last BN gamma

            def forward(self, x):
                identity = x
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.se(self.bn2(self.conv2(out)))
                if self.downsample is not None:
                    identity = self.downsample(x)
                out += identity
                return self.relu(out)
    """,
    "functional_style": """
        from collections import OrderedDict

        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class SEBlock(nn.Module):
            def __init__(self, channels: int, reduction: int = 16) -> None:
                super().__init__()
                width = channels // reduction if channels >= reduction else 1
                self.fc1 = nn.Linear(channels, width, bias=True)
                self.fc2 = nn.Linear(width, channels, bias=True)
                nn.init.normal_(self.fc1.weight, std=0.3)
                nn.init.constant_(self.fc2.bias, 1.0)

            def forward(self, x):
                n, c = x.shape[:2]
                z = F.adaptive_avg_pool2d(x, 1).view(n, c)
                z = F.relu(self.fc1(z), inplace=True)
                return x * torch.sigmoid(self.fc2(z)).view(n, c, 1, 1)

        class SEBasicBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1, reduction=16):
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, out_channels, (3, 3), stride=(stride, stride),
                                       padding=(1, 1), bias=False)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
                self.bn1, self.bn2 = nn.BatchNorm2d(out_channels), nn.BatchNorm2d(out_channels)
                self.se = SEBlock(out_channels, reduction)
                if stride == 1 and in_channels == out_channels:
                    self.downsample = None
                else:
                    self.downsample = nn.Sequential(OrderedDict(
                        conv=nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                        bn=nn.BatchNorm2d(out_channels)))

            def forward(self, x):
                shortcut = self.downsample(x) if self.downsample is not None else x
                y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
                return F.relu(shortcut + self.se(y))
    """,
}

TF_VARIANTS = {
    "conv1x1_excitation_with_fused_activations": """
        import keras
        from keras import layers

        class SEBlock(keras.layers.Layer):
            def __init__(self, channels, reduction=16, **kwargs):
                super().__init__(**kwargs)
                self.pool = layers.GlobalAveragePooling2D(keepdims=True)
                self.fc1 = layers.Conv2D(max(1, channels // reduction), 1, activation="relu")
                self.fc2 = layers.Conv2D(channels, 1, activation="sigmoid")
                self.scale = layers.Multiply()

            def call(self, inputs, training=None):
                return self.scale([inputs, self.fc2(self.fc1(self.pool(inputs)))])

        class SEBasicBlock(keras.layers.Layer):
            def __init__(self, in_channels, out_channels, stride=1, reduction=16, **kwargs):
                super().__init__(**kwargs)
                self.conv1 = layers.Conv2D(out_channels, (3, 3), strides=(stride, stride),
                                           padding="same", use_bias=False, kernel_initializer="he_normal")
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization(gamma_initializer="zeros")
                self.se = SEBlock(out_channels, reduction)
                self.branch = keras.Sequential(
                    [self.conv1, self.bn1, layers.ReLU(), self.conv2, self.bn2, self.se])
                self.downsample = None
                if stride != 1 or in_channels != out_channels:
                    self.downsample = keras.Sequential([
                        layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),
                        layers.BatchNormalization()])
                self.add = layers.Add()
                self.out_relu = layers.Activation("relu")

            def call(self, inputs, training=None):
                shortcut = inputs
                if self.downsample is not None:
                    shortcut = self.downsample(inputs, training=training)
                return self.out_relu(self.add([self.branch(inputs, training=training), shortcut]))
    """,
    "dense_on_pooled_map_functional": """
        import keras
        from keras import layers, ops

        class SEBlock(layers.Layer):
            def __init__(self, channels, reduction=16, **kwargs):
                super().__init__(**kwargs)
                self.fc1 = layers.Dense(max(1, channels // reduction), kernel_initializer="he_normal")
                self.fc2 = layers.Dense(channels, bias_initializer="ones")

            def call(self, x, training=None):
                s = ops.mean(x, axis=[1, 2], keepdims=True)  # (N, 1, 1, C): Dense acts on the last axis
                return x * ops.sigmoid(self.fc2(ops.relu(self.fc1(s))))

        class SEBasicBlock(layers.Layer):
            def __init__(self, in_channels, out_channels, stride=1, reduction=16, **kwargs):
                super().__init__(**kwargs)
                self.conv1 = layers.Conv2D(out_channels, 3, stride, padding="same", use_bias=False)
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization()
                self.se = SEBlock(out_channels, reduction=reduction)
                projection = stride > 1 or in_channels != out_channels
                self.downsample = keras.Sequential(
                    [layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),
                     layers.BatchNormalization()]) if projection else None

            def call(self, x, training=None):
                y = ops.relu(self.bn1(self.conv1(x), training=training))
                y = self.se(self.bn2(self.conv2(y), training=training))
                s = x if self.downsample is None else self.downsample(x, training=training)
                return ops.relu(ops.add(y, s))
    """,
}


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS), *bugs("tf", TF_BUGS),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=["tf-conv1x1_excitation_with_fused_activations", "tf-dense_on_pooled_map_functional"])


@pytest.mark.torch
@needs("torch")
def test_a_broken_se_block_does_not_hide_the_block_checks(grade_source):
    source = mutate(solution_source(EX, "torch"),
                    ("self.fc1 = nn.Linear(channels, hidden)", "self.squeeze1 = nn.Linear(channels, hidden)"))
    record = grade_source(EX, "torch", source, only=["se_api", "se_params", "api"])
    assert check_of(record, "se_api").status == "fail"
    assert check_of(record, "se_params").status == "skip"
    assert check_of(record, "api").status == "pass"
