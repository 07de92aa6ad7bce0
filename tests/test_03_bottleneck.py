"""03_bottleneck: typical bugs are caught by the right check; correct variants pass."""

from __future__ import annotations

import pytest

from .conftest import (
    bugs,
    case_test,
    failed_checks,
    mutate,
    needs,
    solution_source,
    variants,
    with_prerequisites,
)

EX = "03_bottleneck"

V1_PHRASE = "the stride is on conv1; this exercise wants it on the 3x3 conv2"

T_RULE = "if stride != 1 or in_channels != out_channels:"
T_EXP = "expansion: int = 4"
T_CONV1 = "self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)"
T_CONV2 = "self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)"
T_CONV3 = "self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)"
T_PROJ_BN = "                nn.BatchNorm2d(out_channels),\n            )"
T_MID = "out = F.relu(self.bn2(self.conv2(out)))"
T_LAST = "out = self.bn3(self.conv3(out))"
T_RETURN = "return F.relu(out + identity)"
T_IDENTITY = "identity = x if self.downsample is None else self.downsample(x)"

TORCH_BUGS = {
    "projection_missing_when_channels_shrink": (
        [("in_channels != out_channels:", "in_channels < out_channels:")],
        [("shortcut", "the channels change (64 -> 4·8 = 32)")],
    ),
    "is_not_instead_of_not_equal": (
        [("in_channels != out_channels:", "in_channels is not out_channels:")],
        [("shortcut", "`Bottleneck(1024, 256)`, `downsample` is Sequential where it should be None")],
    ),
    "stride_on_conv1_v1": (
        [(T_CONV1, "self.conv1 = nn.Conv2d(in_channels, width, 1, stride=stride, bias=False)"),
         (T_CONV2, T_CONV2.replace("stride=stride, ", ""))],
        "structure", V1_PHRASE,
    ),
    "stride_on_conv3": (
        [(T_CONV3, "self.conv3 = nn.Conv2d(width, out_channels, 1, stride=stride, bias=False)"),
         (T_CONV2, T_CONV2.replace("stride=stride, ", ""))],
        "structure", "the stride is on conv3",
    ),
    "no_projection_at_stride_1": (
        [(T_RULE, "if stride != 1:")], "shortcut", "(64 -> 4·64 = 256) even at stride 1",
    ),
    "projection_rule_against_width": (
        [(T_RULE, "if stride != 1 or in_channels != width:")], "shortcut",
        "In `Bottleneck(64, 16)`, `downsample` is Sequential where it should be None",
    ),
    "projects_always": ([(T_RULE, "if True:")], "shortcut", "adds no parameters"),
    "projection_without_bn": ([(T_PROJ_BN, "            )")], "shortcut", "without the BN"),
    "expansion_wrong": ([(T_EXP, "expansion: int = 2")], "expansion", "is 2, expected 4"),
    "expansion_set_in_init": (
        [(T_EXP, ""),
         ("out_channels = width * self.expansion", "self.expansion = 4\n        out_channels = width * 4")],
        "expansion", "define it in the class body",
    ),
    "conv3_does_not_expand": (
        [(T_CONV3, "self.conv3 = nn.Conv2d(width, width, 1, bias=False)"),
         ("self.bn3 = nn.BatchNorm2d(out_channels)", "self.bn3 = nn.BatchNorm2d(width)")],
        "expansion", "`conv3` of `Bottleneck(16, 4)` outputs 4 channels",
    ),
    "missing_final_relu": ([(T_RETURN, "return out + identity")], "function", "final ReLU"),
    "relu_after_bn3_before_add": (
        [(T_LAST, "out = F.relu(self.bn3(self.conv3(out)))")], "function", "a ReLU after bn3, before the add",
    ),
    "no_relu_after_bn2": (
        [(T_MID, "out = self.bn2(self.conv2(out))")], "function", "no ReLU between bn2 and conv3",
    ),
    "relu_on_the_shortcut": (
        [(T_RETURN, "return F.relu(out + F.relu(identity))")], "function", "ReLU on the shortcut",
    ),
    "conv1_with_bias": (
        [(T_CONV1, "self.conv1 = nn.Conv2d(in_channels, width, 1)")], "params", "`conv1` has a bias",
    ),
    "projects_only_when_channels_change": (
        [(T_RULE, "if in_channels != out_channels:")], "shortcut",
        "stride 2 shrinks H and W, even though in_channels already equals 4·32 = 128",
    ),
    "projects_only_at_stride_2": (
        [(T_RULE, "if stride == 2 or in_channels != out_channels:")], "shortcut",
        "stride 3 shrinks H and W, even though in_channels already equals 4·8 = 32",
    ),
    "projection_without_stride": (
        [("nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),",
          "nn.Conv2d(in_channels, out_channels, 1, bias=False),")],
        "shortcut", "carries the block's stride",
    ),
    "shortcut_bn_skipped": (
        [(T_IDENTITY, T_IDENTITY.replace("self.downsample(x)", "self.downsample[0](x)"))],
        "function", "the shortcut skips its BatchNorm",
    ),
    "shortcut_bn_forced_eval": (
        [(T_IDENTITY, T_IDENTITY.replace("self.downsample(x)", "self.downsample.eval()(x)"))],
        "function", "the shortcut's BatchNorm ran in a different mode from the block's",
    ),
    "no_relu_after_bn1": (
        [("out = F.relu(self.bn1(self.conv1(x)))", "out = self.bn1(self.conv1(x))")],
        "function", "no ReLU between bn1 and conv2",
    ),
    "bn1_applied_twice": (
        [(T_MID, "out = F.relu(self.bn1(self.conv2(out)))")], "function", "bn1 is applied twice",
    ),
    "detached_shortcut": (
        [(T_RETURN, "return F.relu(out + identity.detach())")], "gradients", "input",
    ),
    "conv2_is_1x1": (
        [(T_CONV2, "self.conv2 = nn.Conv2d(width, width, 1, stride=stride, bias=False)")],
        "structure", "conv2 is the 3x3 conv",
    ),
    "projection_with_bias": (
        [("nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),",
          "nn.Conv2d(in_channels, out_channels, 1, stride=stride),")],
        "shortcut", "`downsample.0` has a bias",
    ),
}

K_RULE = T_RULE
K_EXP = "    expansion = 4\n"
K_CONV1 = "self.conv1 = layers.Conv2D(width, 1, use_bias=False)"
K_CONV2 = 'self.conv2 = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)'
K_CONV3 = "self.conv3 = layers.Conv2D(out_channels, 1, use_bias=False)"
K_PROJ_BN = "                layers.BatchNormalization(),\n            ])"
K_MID = "out = keras.ops.relu(self.bn2(self.conv2(out), training=training))"
K_LAST = "out = self.bn3(self.conv3(out), training=training)"
K_RETURN = "return keras.ops.relu(out + identity)"
K_IDENTITY = "identity = x if self.downsample is None else self.downsample(x, training=training)"
K_PROJ = "layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),"

TF_BUGS = {
    "projection_missing_when_channels_shrink": (
        [("in_channels != out_channels:", "in_channels < out_channels:")],
        [("shortcut", "the channels change (64 -> 4·8 = 32)")],
    ),
    "is_not_instead_of_not_equal": (
        [("in_channels != out_channels:", "in_channels is not out_channels:")],
        [("shortcut", "`Bottleneck(1024, 256)`, `downsample` is Sequential where it should be None")],
    ),
    "stride_on_conv1_v1": (
        [(K_CONV1, "self.conv1 = layers.Conv2D(width, 1, strides=stride, use_bias=False)"),
         (K_CONV2, K_CONV2.replace("strides=stride, ", ""))],
        "structure", V1_PHRASE,
    ),
    "stride_on_conv3": (
        [(K_CONV3, "self.conv3 = layers.Conv2D(out_channels, 1, strides=stride, use_bias=False)"),
         (K_CONV2, K_CONV2.replace("strides=stride, ", ""))],
        "structure", "the stride is on conv3",
    ),
    "no_projection_at_stride_1": (
        [(K_RULE, "if stride != 1:")], "shortcut", "(64 -> 4·64 = 256) even at stride 1",
    ),
    "projects_always": ([(K_RULE, "if True:")], "shortcut", "adds no parameters"),
    "projection_without_bn": ([(K_PROJ_BN, "            ])")], "shortcut", "without the BN"),
    "expansion_wrong": ([(K_EXP, "    expansion = 2\n")], "expansion", "is 2, expected 4"),
    "missing_final_relu": ([(K_RETURN, "return out + identity")], "function", "final ReLU"),
    "relu_after_bn3_before_add": (
        [(K_LAST, "out = keras.ops.relu(self.bn3(self.conv3(out), training=training))")],
        "function", "a ReLU after bn3, before the add",
    ),
    "no_relu_after_bn2": (
        [(K_MID, "out = self.bn2(self.conv2(out), training=training)")], "function",
        "no ReLU between bn2 and conv3",
    ),
    "conv3_does_not_expand": (
        [(K_CONV3, "self.conv3 = layers.Conv2D(width, 1, use_bias=False)")],
        "expansion", "`conv3` of `Bottleneck(16, 4)` outputs 4 channels",
    ),
    "projection_with_bias": (
        [(K_PROJ, "layers.Conv2D(out_channels, 1, strides=stride),")],
        "shortcut", "`downsample.0` has a bias",
    ),
    "projects_only_when_channels_change": (
        [(K_RULE, "if in_channels != out_channels:")], "shortcut",
        "stride 2 shrinks H and W, even though in_channels already equals 4·32 = 128",
    ),
    "projects_only_at_stride_2": (
        [(K_RULE, "if stride == 2 or in_channels != out_channels:")], "shortcut",
        "stride 3 shrinks H and W, even though in_channels already equals 4·8 = 32",
    ),
    "projection_rule_against_width": (
        [(K_RULE, "if stride != 1 or in_channels != width:")], "shortcut",
        "In `Bottleneck(64, 16)`, `downsample` is Sequential where it should be None",
    ),
    "projection_without_stride": (
        [(K_PROJ, "layers.Conv2D(out_channels, 1, use_bias=False),")], "shortcut",
        "carries the block's stride",
    ),
    "shortcut_bn_always_inference": (
        [(K_IDENTITY, K_IDENTITY.replace("training=training)", "training=False)"))],
        "function", "the shortcut's BatchNorm ran in a different mode from the block's",
    ),
    "shortcut_bn_never_called": (
        [(K_IDENTITY, K_IDENTITY.replace("self.downsample(x, training=training)",
                                         "self.downsample.layers[0](x)"))],
        "shortcut", "`downsample.1` still has no weights",
    ),
    "no_relu_after_bn1": (
        [("out = keras.ops.relu(self.bn1(self.conv1(x), training=training))",
          "out = self.bn1(self.conv1(x), training=training)")],
        "function", "no ReLU between bn1 and conv2",
    ),
    "bn1_applied_twice": (
        [(K_MID, "out = keras.ops.relu(self.bn1(self.conv2(out), training=training))")],
        "function", "`bn2` still has no weights after a forward pass: your call() never applies it",
    ),
    "relu_on_the_shortcut": (
        [(K_RETURN, "return keras.ops.relu(out + keras.ops.relu(identity))")], "function",
        "ReLU on the shortcut",
    ),
    "stop_gradient_shortcut": (
        [(K_RETURN, "return keras.ops.relu(out + keras.ops.stop_gradient(identity))")],
        "gradients", "input",
    ),
    "zero_padding_layer_instead_of_same": (
        [('self.conv2 = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)',
          'self.pad = layers.ZeroPadding2D(1)\n        '
          'self.conv2 = layers.Conv2D(width, 3, strides=stride, use_bias=False)'),
         ('out = keras.ops.relu(self.bn2(self.conv2(out), training=training))',
          'out = keras.ops.relu(self.bn2(self.conv2(self.pad(out)), training=training))')],
        "structure", '`conv2` has padding "valid", expected "same". The padding belongs to the conv',
    ),
    "conv1_with_bias": (
        [(K_CONV1, "self.conv1 = layers.Conv2D(width, 1)")], "params", "`conv1` has a bias",
    ),
    "conv2_is_1x1": (
        [(K_CONV2, K_CONV2.replace("(width, 3,", "(width, 1,"))], "structure", "conv2 is the 3x3 conv",
    ),
    "expansion_set_in_init": (
        [(K_EXP, ""),
         ("out_channels = width * self.expansion", "self.expansion = 4\n        out_channels = width * 4")],
        "expansion", "define it in the class body",
    ),
    "shortcut_bn_skipped_in_the_sum": (
        [(K_IDENTITY, K_IDENTITY + "\n        identity = x if self.downsample is None else "
                                   "self.downsample.layers[0](x)")],
        "function", "the shortcut skips its BatchNorm",
    ),
}


@pytest.mark.torch
@needs("torch")
def test_v1_block_passes_everything_but_the_stride_placement(grade_source):
    """A v1 block is a correct block of another convention: only the layer check objects."""
    source = mutate(
        solution_source(EX, "torch"),
        (T_CONV1, "self.conv1 = nn.Conv2d(in_channels, width, 1, stride=stride, bias=False)"),
        (T_CONV2, T_CONV2.replace("stride=stride, ", "")),
    )
    record = grade_source(EX, "torch", source, only=[
        "api", "expansion", "shortcut", "shapes", "params", "structure", "function", "gradients",
        "identity"])
    assert failed_checks(record) == ["structure"]


TORCH_VARIANTS = {
    "torchvision_style_inplace_relu_zero_init": """
        import torch.nn as nn

        class Bottleneck(nn.Module):
            expansion: int = 4

            def __init__(self, inplanes, planes, stride=1):
                super().__init__()
                self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
                self.bn1 = nn.BatchNorm2d(planes)
                self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1,
                                       bias=False)
                self.bn2 = nn.BatchNorm2d(planes)
                self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
                self.bn3 = nn.BatchNorm2d(planes * self.expansion)
                nn.init.constant_(self.bn3.weight, 0)  # zero-init of the last BN gamma
                self.relu = nn.ReLU(inplace=True)
                self.downsample = None
                if stride != 1 or inplanes != planes * self.expansion:
                    self.downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * self.expansion, 1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes * self.expansion),
                    )
                self.stride = stride

            def forward(self, x):
                identity = x
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.relu(self.bn2(self.conv2(out)))
                out = self.bn3(self.conv3(out))
                if self.downsample is not None:
                    identity = self.downsample(x)
                out += identity
                return self.relu(out)
    """,
    "sequential_branch_kaiming_init": """
        import torch
        from torch import nn

        class Bottleneck(nn.Module):
            expansion = 4

            def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
                super().__init__()
                out = width * Bottleneck.expansion
                self.conv1 = nn.Conv2d(in_channels, width, (1, 1), bias=False)
                self.bn1 = nn.BatchNorm2d(width)
                self.conv2 = nn.Conv2d(width, width, (3, 3), (stride, stride), (1, 1), bias=False)
                self.bn2 = nn.BatchNorm2d(width)
                self.conv3 = nn.Conv2d(width, out, 1, bias=False)
                self.bn3 = nn.BatchNorm2d(out)
                self.residual = nn.Sequential(
                    self.conv1, self.bn1, nn.ReLU(inplace=True),
                    self.conv2, self.bn2, nn.ReLU(inplace=True),
                    self.conv3, self.bn3,
                )
                needs_projection = stride > 1 or in_channels != out
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_channels, out, 1, stride, bias=False), nn.BatchNorm2d(out)
                ) if needs_projection else None
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                skip = x if self.downsample is None else self.downsample(x)
                return torch.relu(torch.add(self.residual(x), skip))
    """,
    "inherited_expansion_functional_forward": """
        from torch import nn
        from torch.nn import functional as F

        class _Block(nn.Module):
            expansion = 4

        class Bottleneck(_Block):
            def __init__(self, in_channels, width, stride=1):
                super().__init__()
                out = self.expansion * width
                self.conv1, self.bn1 = nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width)
                self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(width)
                self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
                self.downsample = None
                if (stride, in_channels) != (1, out):
                    self.downsample = nn.Sequential(nn.Conv2d(in_channels, out, 1, stride, bias=False),
                                                    nn.BatchNorm2d(out))

            def forward(self, x):
                y = x
                for i in (1, 2, 3):
                    y = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(y))
                    if i < 3:
                        y = F.relu(y, inplace=True)
                return F.relu(y + (x if self.downsample is None else self.downsample(x)))
    """,
}

TF_VARIANTS = {
    "sequential_branch_add_layer_zero_init": """
        import keras
        from keras import layers

        class Bottleneck(keras.layers.Layer):
            expansion = 4

            def __init__(self, in_channels, width, stride=1, **kwargs):
                super().__init__(**kwargs)
                out = width * self.expansion
                self.conv1 = layers.Conv2D(width, (1, 1), use_bias=False, kernel_initializer="he_normal")
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv2D(width, (3, 3), strides=(stride, stride), padding="same",
                                           use_bias=False)
                self.bn2 = layers.BatchNormalization()
                self.conv3 = layers.Conv2D(out, 1, use_bias=False)
                self.bn3 = layers.BatchNormalization(gamma_initializer="zeros")
                self.branch = keras.Sequential([
                    self.conv1, self.bn1, layers.ReLU(),
                    self.conv2, self.bn2, layers.ReLU(),
                    self.conv3, self.bn3,
                ])
                if stride > 1 or in_channels != out:
                    self.downsample = keras.Sequential([
                        layers.Conv2D(out, (1, 1), strides=stride, padding="same", use_bias=False),
                        layers.BatchNormalization(),
                    ])
                else:
                    self.downsample = None
                self.add = layers.Add()
                self.out_relu = layers.Activation("relu")

            def call(self, inputs, training=None):
                shortcut = inputs
                if self.downsample is not None:
                    shortcut = self.downsample(inputs, training=training)
                return self.out_relu(self.add([self.branch(inputs, training=training), shortcut]))
    """,
    "functional_ops": """
        import keras
        from keras import ops

        class Bottleneck(keras.layers.Layer):
            expansion: int = 4

            def __init__(self, in_channels: int, width: int, stride: int = 1, **kwargs):
                super().__init__(**kwargs)
                out = Bottleneck.expansion * width

                def conv(filters, k, s=1):
                    return keras.layers.Conv2D(filters, k, s, padding="same", use_bias=False)

                self.conv1, self.conv2, self.conv3 = conv(width, 1), conv(width, 3, stride), conv(out, 1)
                self.bn1, self.bn2, self.bn3 = (keras.layers.BatchNormalization() for _ in range(3))
                self.downsample = (
                    keras.Sequential([conv(out, 1, stride), keras.layers.BatchNormalization()])
                    if stride != 1 or in_channels != out else None
                )

            def call(self, x, training=None):
                y = ops.relu(self.bn1(self.conv1(x), training=training))
                y = ops.relu(self.bn2(self.conv2(y), training=training))
                y = self.bn3(self.conv3(y), training=training)
                s = x if self.downsample is None else self.downsample(x, training=training)
                return ops.relu(ops.add(y, s))
    """,
}


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=with_prerequisites), *bugs("tf", TF_BUGS, only=with_prerequisites),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=["tf-sequential_branch_add_layer_zero_init", "tf-functional_ops"])
