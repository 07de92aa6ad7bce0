"""02_projection_shortcut: typical bugs are caught by the right check; correct variants pass."""

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
    with_prerequisites,
)

EX = "02_projection_shortcut"

T_RULE = "if stride != 1 or in_channels != out_channels:"
T_CONV1 = "self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)"
T_CONV2 = "self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)"
T_PROJ = "nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),"
T_PROJ_BN = "                nn.BatchNorm2d(out_channels),\n            )"
T_BRANCH = "out = self.bn2(self.conv2(out))"
T_IDENTITY = "identity = x if self.downsample is None else self.downsample(x)"
T_RETURN = "return F.relu(out + identity)"

TORCH_BUGS = {
    "projection_missing_when_channels_shrink": (
        [("in_channels != out_channels:", "in_channels < out_channels:")],
        [("shortcut", "the channels change (16 -> 8)")],
    ),
    "is_not_instead_of_not_equal": (
        [("in_channels != out_channels:", "in_channels is not out_channels:")],
        [("shortcut", "`BasicBlock(300, 300)`, `downsample` is Sequential where it should be None")],
    ),
    "shortcut_never_applied": ([(T_IDENTITY, "identity = x")], "shapes", "shortcut must be projected"),
    "projects_only_when_strided": ([(T_RULE, "if stride != 1:")], "shortcut", "only when strided"),
    "projects_only_when_channels_change": (
        [(T_RULE, "if in_channels != out_channels:")], "shortcut", "shrinks H and W",
    ),
    "projects_always": ([(T_RULE, "if True:")], "shortcut", "adds no parameters"),
    "identity_layer_instead_of_none": (
        [("self.downsample: nn.Sequential | None = None", "self.downsample = nn.Identity()")],
        "shortcut", "`downsample` is Identity where it should be None",
    ),
    "shortcut_under_another_name": (
        [(T_RULE, "self.shortcut = nn.Conv2d(in_channels, out_channels, 1, bias=False)\n"
                  "        " + T_RULE)],
        "shortcut", "`shortcut` (",
    ),
    "stride_on_conv2": (
        [(T_CONV1, T_CONV1.replace("stride=stride, ", "")),
         (T_CONV2, T_CONV2.replace("3, padding", "3, stride=stride, padding"))],
        "structure", "the stride is on conv2",
    ),
    "projection_without_stride": (
        [(T_PROJ, "nn.Conv2d(in_channels, out_channels, 1, bias=False),")], "shortcut",
        "carries the block's stride",
    ),
    "projection_without_bn": ([(T_PROJ_BN, "            )")], "shortcut", "without the BN"),
    "projection_is_a_bare_conv": (
        [("self.downsample = nn.Sequential(\n                " + T_PROJ + "\n" + T_PROJ_BN,
          "self.downsample = " + T_PROJ.rstrip(","))],
        "shortcut", "2-element sequential",
    ),
    "projection_with_bias": (
        [(T_PROJ, "nn.Conv2d(in_channels, out_channels, 1, stride=stride),")], "shortcut",
        "`downsample.0` has a bias",
    ),
    "projection_is_3x3": (
        [(T_PROJ, "nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),")],
        "shortcut", "1x1 conv",
    ),
    "relu_inside_downsample": (
        [(T_PROJ_BN, "                nn.BatchNorm2d(out_channels),\n                nn.ReLU(),\n"
                     "            )")],
        "shortcut", "a ReLU does not belong on the shortcut",
    ),
    "relu_on_the_shortcut": (
        [(T_RETURN, "return F.relu(out + F.relu(identity))")], "function", "ReLU on the shortcut",
    ),
    "relu_before_the_add": (
        [(T_BRANCH, "out = F.relu(self.bn2(self.conv2(out)))")], "function", "before the add",
    ),
    "no_final_relu": ([(T_RETURN, "return out + identity")], "function", "final ReLU"),
    "shortcut_bn_skipped": (
        [(T_IDENTITY, "identity = x if self.downsample is None else self.downsample[0](x)")],
        "function", "skips its BatchNorm",
    ),
    "no_relu_after_bn1": (
        [("out = F.relu(self.bn1(self.conv1(x)))", "out = self.bn1(self.conv1(x))")],
        "function", "no ReLU between bn1 and conv2",
    ),
    "detached_shortcut": (
        [(T_RETURN, "return F.relu(out + identity.detach())")], "gradients", "input",
    ),
    "projects_only_at_stride_2": (
        [(T_RULE, "if stride == 2 or in_channels != out_channels:")], "shortcut",
        "stride 3 shrinks H and W, even though the channels stay 16",
    ),
    "shortcut_bn_forced_eval": (
        [(T_IDENTITY, T_IDENTITY.replace("self.downsample(x)", "self.downsample.eval()(x)"))],
        "function", "the shortcut's BatchNorm ran in a different mode from the block's",
    ),
    "bn1_applied_twice": (
        [(T_BRANCH, "out = self.bn1(self.conv2(out))")], "function", "bn1 is applied twice",
    ),
    "conv2_maps_wrong_channels": (
        [(T_CONV1, T_CONV1.replace("out_channels, 3", "in_channels, 3")),
         ("self.bn1 = nn.BatchNorm2d(out_channels)", "self.bn1 = nn.BatchNorm2d(in_channels)"),
         (T_CONV2, T_CONV2.replace("(out_channels, out", "(in_channels, out"))],
        "structure", "conv1 maps in_channels -> out_channels",
    ),
}

K_RULE = T_RULE
K_CONV1 = 'self.conv1 = layers.Conv2D(out_channels, 3, strides=stride, padding="same", use_bias=False)'
K_CONV2 = 'self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)'
K_PROJ = "layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),"
K_PROJ_BN = "                layers.BatchNormalization(),\n            ])"
K_BRANCH = "out = self.bn2(self.conv2(out), training=training)"
K_IDENTITY = "identity = x if self.downsample is None else self.downsample(x, training=training)"
K_RETURN = "return keras.ops.relu(out + identity)"

TF_BUGS = {
    "projection_missing_when_channels_shrink": (
        [("in_channels != out_channels:", "in_channels < out_channels:")],
        [("shortcut", "the channels change (16 -> 8)")],
    ),
    "is_not_instead_of_not_equal": (
        [("in_channels != out_channels:", "in_channels is not out_channels:")],
        [("shortcut", "`BasicBlock(300, 300)`, `downsample` is Sequential where it should be None")],
    ),
    "shortcut_never_applied": ([(K_IDENTITY, "identity = x")], "shapes", "shortcut must be projected"),
    "projects_only_when_strided": ([(K_RULE, "if stride != 1:")], "shortcut", "only when strided"),
    "projects_only_when_channels_change": (
        [(K_RULE, "if in_channels != out_channels:")], "shortcut", "shrinks H and W",
    ),
    "projects_always": ([(K_RULE, "if True:")], "shortcut", "adds no parameters"),
    "shortcut_under_another_name": (
        [(K_RULE, "self.shortcut = layers.Conv2D(out_channels, 1, use_bias=False)\n        " + K_RULE),
         (K_RETURN, "self.shortcut(x)\n        " + K_RETURN)],
        "shortcut", "`shortcut` (",
    ),
    "stride_on_conv2": (
        [(K_CONV1, K_CONV1.replace("strides=stride, ", "")),
         (K_CONV2, K_CONV2.replace("3, padding", "3, strides=stride, padding"))],
        "structure", "the stride is on conv2",
    ),
    "projection_without_stride": (
        [(K_PROJ, "layers.Conv2D(out_channels, 1, use_bias=False),")], "shortcut",
        "carries the block's stride",
    ),
    "projection_without_bn": ([(K_PROJ_BN, "            ])")], "shortcut", "without the BN"),
    "projection_with_bias": (
        [(K_PROJ, "layers.Conv2D(out_channels, 1, strides=stride),")], "shortcut",
        "`downsample.0` has a bias",
    ),
    "projection_is_3x3": (
        [(K_PROJ, 'layers.Conv2D(out_channels, 3, strides=stride, padding="same", use_bias=False),')],
        "shortcut", "1x1 conv",
    ),
    "relu_on_the_shortcut": (
        [(K_RETURN, "return keras.ops.relu(out + keras.ops.relu(identity))")], "function",
        "ReLU on the shortcut",
    ),
    "relu_before_the_add": (
        [(K_BRANCH, "out = keras.ops.relu(self.bn2(self.conv2(out), training=training))")],
        "function", "before the add",
    ),
    "no_final_relu": ([(K_RETURN, "return out + identity")], "function", "final ReLU"),
    "shortcut_bn_never_called": (
        [(K_IDENTITY, "identity = x if self.downsample is None else self.downsample.layers[0](x)")],
        "shortcut", "`downsample.1` still has no weights",
    ),
    "shortcut_bn_always_inference": (
        [(K_IDENTITY, "identity = x if self.downsample is None else self.downsample(x, training=False)")],
        "function", "shortcut's BatchNorm ran in a different mode",
    ),
    "projects_only_at_stride_2": (
        [(K_RULE, "if stride == 2 or in_channels != out_channels:")], "shortcut",
        "stride 3 shrinks H and W, even though the channels stay 16",
    ),
    "identity_layer_instead_of_none": (
        [("self.downsample = None\n", "self.downsample = layers.Identity()\n")],
        "shortcut", "`downsample` is Identity where it should be None",
    ),
    "no_relu_after_bn1": (
        [("out = keras.ops.relu(self.bn1(self.conv1(x), training=training))",
          "out = self.bn1(self.conv1(x), training=training)")],
        "function", "no ReLU between bn1 and conv2",
    ),
    "shortcut_bn_skipped_in_the_sum": (
        [(K_IDENTITY, K_IDENTITY + "\n        identity = x if self.downsample is None else "
                                   "self.downsample.layers[0](x)")],
        "function", "the shortcut skips its BatchNorm",
    ),
    "bn1_applied_twice": (
        [(K_BRANCH, "out = self.bn1(self.conv2(out), training=training)")], "function",
        "`bn2` still has no weights after a forward pass: your call() never applies it",
    ),
    "stop_gradient_shortcut": (
        [(K_RETURN, "return keras.ops.relu(out + keras.ops.stop_gradient(identity))")],
        "gradients", "input",
    ),
    "zero_padding_layer_instead_of_same": (
        [('self.conv1 = layers.Conv2D(out_channels, 3, strides=stride, padding="same", use_bias=False)',
          'self.pad = layers.ZeroPadding2D(1)\n        '
          'self.conv1 = layers.Conv2D(out_channels, 3, strides=stride, use_bias=False)'),
         ('out = keras.ops.relu(self.bn1(self.conv1(x), training=training))',
          'out = keras.ops.relu(self.bn1(self.conv1(self.pad(x)), training=training))')],
        "structure", '`conv1` has padding "valid", expected "same". The padding belongs to the conv',
    ),
    "projection_is_a_bare_conv": (
        [("self.downsample = keras.Sequential([\n                " + K_PROJ + "\n" + K_PROJ_BN,
          "self.downsample = " + K_PROJ.rstrip(","))],
        "shortcut", "2-element sequential",
    ),
    "relu_inside_downsample": (
        [(K_PROJ_BN, "                layers.BatchNormalization(),\n                layers.ReLU(),\n"
                     "            ])")],
        "shortcut", "a ReLU does not belong on the shortcut",
    ),
}


@pytest.mark.torch
@needs("torch")
def test_projecting_only_when_strided_fails_at_64_to_128(grade_source):
    source = mutate(solution_source(EX, "torch"), (T_RULE, "if stride != 1:"))
    message = check_of(grade_source(EX, "torch", source, only=["api", "shortcut"]), "shortcut").message
    assert "BasicBlock(64, 128)" in message
    assert "64 -> 128" in message


TORCH_VARIANTS = {
    "torchvision_style_inplace_relu_zero_init": """
        import torch.nn as nn

        def conv3x3(cin, cout, stride=1):
            return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)

        class BasicBlock(nn.Module):
            expansion = 1

            def __init__(self, inplanes, planes, stride=1):
                super().__init__()
                self.conv1 = conv3x3(inplanes, planes, stride)
                self.bn1 = nn.BatchNorm2d(planes)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = conv3x3(planes, planes)
                self.bn2 = nn.BatchNorm2d(planes)
                nn.init.zeros_(self.bn2.weight)  # zero-init of the last BN gamma
                downsample = None
                if stride != 1 or inplanes != planes:
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes),
                    )
                self.downsample = downsample
                self.stride = stride

            def forward(self, x):
                identity = x
                out = self.conv1(x)
                out = self.bn1(out)
                out = self.relu(out)
                out = self.conv2(out)
                out = self.bn2(out)
                if self.downsample is not None:
                    identity = self.downsample(x)
                out += identity
                out = self.relu(out)
                return out
    """,
    "sequential_branch_functional_shortcut": """
        import torch
        from torch import nn
        from torch.nn import functional as F

        class BasicBlock(nn.Module):
            def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, out_channels, (3, 3), (stride, stride), (1, 1),
                                       bias=False)
                self.bn1 = nn.BatchNorm2d(out_channels)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(out_channels)
                self.residual = nn.Sequential(self.conv1, self.bn1, nn.ReLU(inplace=True),
                                              self.conv2, self.bn2)
                same = stride == 1 and in_channels == out_channels
                self.downsample = None if same else nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                    nn.BatchNorm2d(out_channels),
                )
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                shortcut = self.downsample(x) if self.downsample is not None else x
                return F.relu(torch.add(self.residual(x), shortcut))
    """,
    "positional_stride_and_bn_after_add_call_order": """
        from torch import nn

        class BasicBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.downsample = (
                    nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, 0, bias=False),
                                  nn.BatchNorm2d(out_channels))
                    if (stride, in_channels) != (1, out_channels) else None
                )
                self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(out_channels)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(out_channels)
                self.act = nn.ReLU()

            def forward(self, x):
                out = self.act(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                if self.downsample is not None:
                    x = self.downsample(x)
                return self.act(out + x)
    """,
}

TF_VARIANTS = {
    "sequential_branch_add_layer_zero_init": """
        import keras
        from keras import layers

        class BasicBlock(keras.layers.Layer):
            def __init__(self, in_channels, out_channels, stride=1, **kwargs):
                super().__init__(**kwargs)
                self.conv1 = layers.Conv2D(out_channels, (3, 3), strides=(stride, stride),
                                           padding="same", use_bias=False,
                                           kernel_initializer="he_normal")
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization(gamma_initializer="zeros")
                self.branch = keras.Sequential([self.conv1, self.bn1, layers.ReLU(),
                                                self.conv2, self.bn2])
                if stride > 1 or in_channels != out_channels:
                    self.downsample = keras.Sequential([
                        layers.Conv2D(out_channels, (1, 1), strides=stride, padding="same",
                                      use_bias=False),
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

        class BasicBlock(keras.layers.Layer):
            def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
                super().__init__(**kwargs)
                conv = lambda k, s: keras.layers.Conv2D(out_channels, k, s, padding="same",
                                                        use_bias=False)
                self.conv1, self.conv2 = conv(3, stride), conv(3, 1)
                self.bn1 = keras.layers.BatchNormalization()
                self.bn2 = keras.layers.BatchNormalization()
                self.downsample = (
                    keras.Sequential([conv(1, stride), keras.layers.BatchNormalization()])
                    if stride != 1 or in_channels != out_channels else None
                )

            def call(self, x, training=None):
                y = ops.relu(self.bn1(self.conv1(x), training=training))
                y = self.bn2(self.conv2(y), training=training)
                s = x if self.downsample is None else self.downsample(x, training=training)
                return ops.relu(ops.add(y, s))
    """,
}


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=with_prerequisites), *bugs("tf", TF_BUGS, only=with_prerequisites),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=["torch-projects_only_when_strided", "tf-projects_only_when_strided",
         "tf-sequential_branch_add_layer_zero_init", "tf-functional_ops"])
