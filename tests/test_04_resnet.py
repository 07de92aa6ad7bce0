"""04_resnet: typical bugs are caught by the right check; correct variants pass.

Also: the closed form behind the counts and key lists agrees with the measured
torchvision reference, and the GPU benchmark runs in its CPU smoke mode.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

from resnet_kata import catalog, worker
from resnet_kata.checks import spec as S

from .conftest import (
    ROOT,
    bugs,
    case_test,
    check_of,
    mutate,
    needs,
    solution_source,
    variants,
)

EX = "04_resnet"


def exercise_module(name: str):
    """A module of the exercise's folder (`network`, `keys`), loaded as the worker loads it."""
    return importlib.import_module(worker.exercise_package(catalog.resolve(EX)) + "." + name)


# torch solution lines the mutations edit
T_R18 = "return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, width)"
T_STRIDES = "zip(layers, (1, 2, 2, 2), strict=True)"
T_RULE = "if stride == 1 and in_channels == out_channels:"
T_FC = "self.fc = nn.Linear(channels, num_classes)"
T_HEAD = "return self.fc(torch.flatten(self.avgpool(x), 1))"
T_STEM = "x = self.maxpool(self.relu(self.bn1(self.conv1(x))))"
T_B_CONV1 = "self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)"
T_B_CONV2 = "self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)"
T_STEM_CONV = "self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)"
T_AVGPOOL = "self.avgpool = nn.AdaptiveAvgPool2d(1)"
T_BASIC_RETURN = "        out = self.bn2(self.conv2(out))\n        return F.relu(out + identity)"
# the basic block's shortcut line (the bottleneck's is the same text, so anchored on what follows)
T_SHORTCUT = ("identity = x if self.downsample is None else self.downsample(x)\n"
              "        out = F.relu(self.bn1(self.conv1(x)))\n        out = self.bn2")
T_BASIC_DS = ("self.bn2 = nn.BatchNorm2d(out_channels)\n"
              "        self.downsample = _projection(in_channels, out_channels, stride)")

TORCH_BUGS = {
    # (edits, the check that must fail, a phrase its message must contain)
    "resnet34_layout_for_resnet18": (
        [(T_R18, T_R18.replace("(2, 2, 2, 2)", "(3, 4, 6, 3)"))], "params", "ResNet-34",
    ),
    "resnet34_layout_key_diff": (
        [(T_R18, T_R18.replace("(2, 2, 2, 2)", "(3, 4, 6, 3)"))], "keys", "unexpected: `layer2.2`",
    ),
    "stride_on_the_wrong_stage": (
        [(T_STRIDES, "zip(layers, (2, 2, 2, 1), strict=True)")], "shapes", "layer1 must keep",
    ),
    "layer2_0_without_downsample": (
        [("        self.avgpool", "        self.layer2[0].downsample = None\n        self.avgpool")],
        "shapes", "`layer2.0.downsample` missing",
    ),
    "layer2_0_without_downsample_keys": (
        [("        self.avgpool", "        self.layer2[0].downsample = None\n        self.avgpool")],
        "keys", "missing: `layer2.0.downsample` (6 entries)",
    ),
    "projection_only_when_strided": (
        [(T_RULE, "if stride == 1:")], "shapes", "`layer1.0.downsample` missing",
    ),
    "fc_named_classifier": (
        [(T_FC, T_FC.replace("self.fc", "self.classifier")),
         (T_HEAD, T_HEAD.replace("self.fc", "self.classifier"))],
        "api", "Your classifier is `classifier`: name it `fc`",
    ),
    "softmax_on_the_output": (
        [(T_HEAD, "return torch.softmax(self.fc(torch.flatten(self.avgpool(x), 1)), dim=1)")],
        "function", "softmax",
    ),
    "log_softmax_on_the_output": (
        [(T_HEAD, "return F.log_softmax(self.fc(torch.flatten(self.avgpool(x), 1)), dim=1)")],
        "function", "log-softmax",
    ),
    "bottleneck_stride_on_conv1": (
        [(T_B_CONV1, T_B_CONV1.replace("1, bias", "1, stride=stride, bias")),
         (T_B_CONV2, T_B_CONV2.replace("stride=stride, ", ""))],
        "structure", "v1.5",
    ),
    "maxpool_missing": (
        [(T_STEM, "x = self.relu(self.bn1(self.conv1(x)))")], "shapes", "max pool",
    ),
    "stem_conv_with_bias": (
        [(T_STEM_CONV, T_STEM_CONV.replace(", bias=False", ""))], "params", "`conv1` has a bias",
    ),
    "cifar_stem_3x3": (
        [(T_STEM_CONV, "self.conv1 = nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False)")],
        "params", "7x7 conv",
    ),
    "flatten_without_pooling": (
        [(T_HEAD, "return self.fc(torch.flatten(x, 1))")], "shapes", "without the global average pool",
    ),
    "relu_on_branch_before_add": (
        [(T_BASIC_RETURN, "        out = F.relu(self.bn2(self.conv2(out)))\n"
                          "        return F.relu(out + identity)")],
        "function", "before the add",
    ),
    "detached_shortcut": (
        [("identity = x if self.downsample is None else self.downsample(x)\n"
          "        out = F.relu(self.bn1(self.conv1(x)))\n        out = self.bn2",
          "identity = x.detach() if self.downsample is None else self.downsample(x)\n"
          "        out = F.relu(self.bn1(self.conv1(x)))\n        out = self.bn2")],
        "gradients", "gradient with respect to the input",
    ),
    "in_channels_ignored": (
        [(T_STEM_CONV, T_STEM_CONV.replace("nn.Conv2d(in_channels,", "nn.Conv2d(3,"))],
        "shapes", "`conv1` maps 3->8 channels, expected 1->8",
    ),
    "num_classes_ignored": (
        [(T_FC, "self.fc = nn.Linear(channels, 1000)")], "shapes", "num_classes=",
    ),
    # one builder drops an argument: each builder's own model varies all three
    "stem_padding_2": (
        [(T_STEM_CONV, T_STEM_CONV.replace("padding=3", "padding=2"))],
        "structure", "`conv1` has padding (2, 2), expected 3",
    ),
    "resnet18_drops_in_channels": (
        [(T_R18, T_R18.replace("in_channels, width", "3, width"))],
        "shapes", "`conv1` maps 3->8 channels, expected 1->8",
    ),
    "resnet18_drops_num_classes": (
        [(T_R18, T_R18.replace("num_classes, in_channels", "1000, in_channels"))],
        "shapes", "`fc` should output num_classes=10",
    ),
    # layer4 of the ResNet-34 function case is 2x3: only a pool over all of H and W is right
    "pool_window_from_height": (
        [(T_HEAD, "return self.fc(torch.flatten(F.avg_pool2d(x, x.size(2)), 1))")],
        "function", "square window the size of the feature map's height",
    ),
    "shortcut_bn_skipped": (
        [(T_SHORTCUT, T_SHORTCUT.replace("self.downsample(x)", "self.downsample[0](x)"))],
        "function", "shortcut skips its BatchNorm",
    ),
    "shortcut_bn_forced_eval": (
        [(T_SHORTCUT, T_SHORTCUT.replace("self.downsample(x)", "self.downsample.eval()(x)"))],
        "function", "shortcut BatchNorm ran in the other mode",
    ),
    "downsample_alias": (
        [(T_BASIC_DS, T_BASIC_DS + "\n        self.shortcut = self.downsample")],
        "keys", "`layer2.0.shortcut` is a second name for `layer2.0.downsample`",
    ),
}

# Keras solution lines the mutations edit
K_R18 = "return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, width)"
K_BASIC_BN2 = ('self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)\n'
               "        self.bn2 = layers.BatchNormalization()")
K_BASIC_CALL = "out = self.bn2(self.conv2(out), training=training)"
K_B_CONV1 = "self.conv1 = layers.Conv2D(width, 1, use_bias=False)"
K_B_CONV2 = 'self.conv2 = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)'
K_FC = "self.fc = layers.Dense(num_classes)"
K_POOL = "        x = self.maxpool(x)\n"
K_STRIDES = "zip(layers_per_stage, (1, 2, 2, 2), strict=True)"
K_RULE = "if stride == 1 and in_channels == out_channels:"
K_STEM = 'self.conv1 = layers.Conv2D(width, 7, strides=2, padding="same", use_bias=False)'
K_STEM_CALL = "x = keras.ops.relu(self.bn1(self.conv1(x), training=training))"
K_HEAD = "return self.fc(self.avgpool(x))"
K_SHORTCUT = ("identity = x if self.downsample is None else self.downsample(x, training=training)\n"
              "        out = keras.ops.relu(self.bn1(self.conv1(x), training=training))\n"
              "        out = self.bn2")

TF_BUGS = {
    "batchnorm_missing_non_trainable_off": (
        [(K_BASIC_BN2, K_BASIC_BN2.replace("layers.BatchNormalization()", "None")),
         (K_BASIC_CALL, "out = self.conv2(out)")],
        "params", "non-trainable (2 x the BN channels",
    ),
    "resnet34_layout_for_resnet18": (
        [(K_R18, K_R18.replace("(2, 2, 2, 2)", "(3, 4, 6, 3)"))], "params", "ResNet-34 layout",
    ),
    "bottleneck_stride_on_conv1": (
        [(K_B_CONV1, K_B_CONV1.replace("1, use_bias", "1, strides=stride, use_bias")),
         (K_B_CONV2, K_B_CONV2.replace("strides=stride, ", ""))],
        "structure", "v1.5",
    ),
    "softmax_dense": ([(K_FC, 'self.fc = layers.Dense(num_classes, activation="softmax")')],
                      "function", "softmax"),
    "maxpool_missing": ([(K_POOL, "")], "shapes", "max pool"),
    "fc_named_classifier": (
        [(K_FC, "self.classifier = layers.Dense(num_classes)"),
         ("return self.fc(self.avgpool(x))", "return self.classifier(self.avgpool(x))")],
        "api", "name it `fc`",
    ),
    "stride_on_the_wrong_stage": (
        [(K_STRIDES, "zip(layers_per_stage, (1, 1, 2, 2), strict=True)")], "shapes",
        "layer2 does not halve",
    ),
    "projection_only_when_strided": (
        [(K_RULE, "if stride == 1:")], "shapes", "`layer1.0.downsample` missing",
    ),
    "resnet18_drops_num_classes": (
        [(K_R18, K_R18.replace("num_classes, in_channels", "1000, in_channels"))],
        "shapes", "`fc` should output num_classes=10",
    ),
    "pool_window_from_height": (
        [(K_HEAD, "return self.fc(keras.ops.reshape(keras.ops.average_pool(x, x.shape[1]), "
                  "(-1, x.shape[-1])))")],
        "function", "square window the size of the feature map's height",
    ),
    "shortcut_bn_always_inference": (
        [(K_SHORTCUT, K_SHORTCUT.replace("training=training)\n", "training=False)\n", 1))],
        "function", "shortcut BatchNorm ran in the other mode",
    ),
    "stem_zero_padding_layer": (
        [(K_STEM, "self.pad = layers.ZeroPadding2D(3)\n        " + K_STEM.replace('padding="same", ', "")),
         (K_STEM_CALL, K_STEM_CALL.replace("self.conv1(x)", "self.conv1(self.pad(x))"))],
        [("structure", '`conv1` has padding "valid", expected "same". The padding belongs to the conv'),
         ("function", '`conv1` has padding "valid", expected "same"')],
    ),
    "shortcut_bn_never_called": (
        [(K_SHORTCUT, K_SHORTCUT.replace("self.downsample(x, training=training)",
                                         "self.downsample.layers[0](x)"))],
        [("params", "`layer2.0.downsample.1` normalises None channels, expected 128: the "
                    "projection's BatchNorm"),
         ("function", "`layer2.0.downsample.1` (and 2 more) still has no weights after a forward "
                      "pass: your call() never applies it")],
    ),
    "flatten_without_pooling": (
        [(K_HEAD, "return self.fc(keras.ops.reshape(x, (keras.ops.shape(x)[0], -1)))")],
        "shapes", "without the global average pool",
    ),
    "log_softmax_on_the_output": (
        [(K_HEAD, "return keras.ops.log_softmax(self.fc(self.avgpool(x)), axis=-1)")],
        "function", "log-softmax",
    ),
    "num_classes_ignored": ([(K_FC, "self.fc = layers.Dense(1000)")], "shapes", "num_classes="),
    "relu_on_branch_before_add": (
        [(K_BASIC_CALL, "out = keras.ops.relu(self.bn2(self.conv2(out), training=training))")],
        "function", "before the add",
    ),
    "detached_shortcut": (
        [(K_SHORTCUT, K_SHORTCUT.replace("identity = x if", "identity = keras.ops.stop_gradient(x) if"))],
        "gradients", "gradient with respect to the input",
    ),
    "cifar_stem_3x3": (
        [(K_STEM, K_STEM.replace("(width, 7,", "(width, 3,"))], "params", "7x7 conv",
    ),
    "stem_conv_with_bias": (
        [(K_STEM, K_STEM.replace(", use_bias=False", ""))], "params", "`conv1` has a bias",
    ),
}

DETACHED = {
    "torch": ("return self.fc(torch.flatten(self.avgpool(x), 1))",
              "return self.fc(torch.flatten(self.avgpool(x), 1).detach())"),
    "tf": ("return self.fc(self.avgpool(x))",
           "return self.fc(keras.ops.stop_gradient(self.avgpool(x)))"),
}


@pytest.mark.slow
@pytest.mark.parametrize("fw", [pytest.param(fw, marks=[needs(fw), getattr(pytest.mark, fw)])
                                for fw in DETACHED])
def test_detached_body_fails_gradients_and_training(grade_source, fw):
    """Values stay right, so only gradients and the training run can notice."""
    record = grade_source(EX, fw, mutate(solution_source(EX, fw), DETACHED[fw]),
                          only=["api", "gradients", "training"])
    assert "No gradient reaches the input" in check_of(record, "gradients").message
    training = check_of(record, "training")
    assert training.status == "fail" and "validation accuracy" in training.message, training.message


@pytest.mark.torch
@needs("torch")
def test_bottleneck_stride_on_conv1_keeps_torchvision_keys(grade_source):
    """Keys and counts cannot see where the stride sits; only the structure check can."""
    edits, _, _ = TORCH_BUGS["bottleneck_stride_on_conv1"]
    record = grade_source(EX, "torch", mutate(solution_source(EX, "torch"), *edits),
                          only=["api", "shapes", "params", "keys", "structure"])
    assert [c.name for c in record.checks if c.status != "pass"] == ["structure"]
    assert "`layer2.0.conv1` stride is (2, 2), expected 1" in check_of(record, "structure").message


@pytest.mark.torch
@needs("torch")
def test_shape_trace_lists_every_stage(grade_source):
    edits, _, _ = TORCH_BUGS["maxpool_missing"]
    msg = check_of(grade_source(EX, "torch", mutate(solution_source(EX, "torch"), *edits),
                                only=["api", "shapes"]), "shapes").message
    for row in ("stem    (1, 8, 112, 112)", "layer4", "pool", "fc"):
        assert row in msg, msg
    assert "(1, 8, 56, 56)" in msg


TORCH_VARIANTS = {
    "torchvision_style_inplace_relu_zero_init": """
        import torch
        from torch import nn

        def conv3x3(cin, cout, stride=1):
            return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)

        class BasicBlock(nn.Module):
            expansion = 1

            def __init__(self, inplanes, planes, stride=1, downsample=None):
                super().__init__()
                self.conv1 = conv3x3(inplanes, planes, stride)
                self.bn1 = nn.BatchNorm2d(planes)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = conv3x3(planes, planes)
                self.bn2 = nn.BatchNorm2d(planes)
                self.downsample = downsample

            def forward(self, x):
                identity = x
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                if self.downsample is not None:
                    identity = self.downsample(x)
                out += identity
                return self.relu(out)

        class Bottleneck(nn.Module):
            expansion = 4

            def __init__(self, inplanes, planes, stride=1, downsample=None):
                super().__init__()
                self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(planes)
                self.conv2 = conv3x3(planes, planes, stride)
                self.bn2 = nn.BatchNorm2d(planes)
                self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
                self.bn3 = nn.BatchNorm2d(planes * 4)
                self.relu = nn.ReLU(inplace=True)
                self.downsample = downsample

            def forward(self, x):
                identity = x
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.relu(self.bn2(self.conv2(out)))
                out = self.bn3(self.conv3(out))
                if self.downsample is not None:
                    identity = self.downsample(x)
                out += identity
                return self.relu(out)

        class ResNet(nn.Module):
            def __init__(self, block, layers, num_classes, in_channels, width):
                super().__init__()
                self.inplanes = width
                self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3,
                                       bias=False)
                self.bn1 = nn.BatchNorm2d(width)
                self.relu = nn.ReLU(inplace=True)
                self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
                self.layer1 = self._make_layer(block, width, layers[0])
                self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
                self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
                self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                for m in self.modules():  # zero-init the last BN of each residual branch
                    if isinstance(m, Bottleneck):
                        nn.init.constant_(m.bn3.weight, 0)
                    elif isinstance(m, BasicBlock):
                        nn.init.constant_(m.bn2.weight, 0)

            def _make_layer(self, block, planes, blocks, stride=1):
                downsample = None
                if stride != 1 or self.inplanes != planes * block.expansion:
                    downsample = nn.Sequential(
                        nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride,
                                  bias=False),
                        nn.BatchNorm2d(planes * block.expansion),
                    )
                layers = [block(self.inplanes, planes, stride, downsample)]
                self.inplanes = planes * block.expansion
                layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
                return nn.Sequential(*layers)

            def forward(self, x):
                x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
                x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
                x = torch.flatten(self.avgpool(x), 1)
                return self.fc(x)

        def resnet18(num_classes=1000, in_channels=3, width=64):
            return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, width)

        def resnet34(num_classes=1000, in_channels=3, width=64):
            return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, width)

        def resnet50(num_classes=1000, in_channels=3, width=64):
            return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, width)
    """,
    "functional_pool_and_a_loop_over_blocks": """
        import torch.nn as nn
        import torch.nn.functional as F

        class Block(nn.Module):
            def __init__(self, cin, planes, stride, bottleneck):
                super().__init__()
                cout = planes * (4 if bottleneck else 1)
                if bottleneck:
                    shapes = [(cin, planes, 1, 1), (planes, planes, 3, stride), (planes, cout, 1, 1)]
                else:
                    shapes = [(cin, planes, 3, stride), (planes, planes, 3, 1)]
                for i, (a, b, k, s) in enumerate(shapes, start=1):
                    setattr(self, f"conv{i}", nn.Conv2d(a, b, k, s, padding=k // 2, bias=False))
                    setattr(self, f"bn{i}", nn.BatchNorm2d(b))
                self.n = len(shapes)
                self.downsample = None
                if stride > 1 or cin != cout:
                    self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                    nn.BatchNorm2d(cout))

            def forward(self, x):
                h = x
                for i in range(1, self.n + 1):
                    h = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h))
                    if i < self.n:
                        h = F.relu(h)
                short = self.downsample(x) if self.downsample is not None else x
                return F.relu(short + h)

        class Net(nn.Module):
            def __init__(self, counts, bottleneck, num_classes, in_channels, width):
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, width, (7, 7), (2, 2), (3, 3), bias=False)
                self.bn1 = nn.BatchNorm2d(width)
                cin = width
                for i, n in enumerate(counts):
                    planes = width << i
                    blocks = []
                    for j in range(n):
                        blocks.append(Block(cin, planes, 2 if (i and not j) else 1, bottleneck))
                        cin = planes * (4 if bottleneck else 1)
                    setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
                self.fc = nn.Linear(cin, num_classes)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
                for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
                    for block in stage:
                        x = block(x)
                return self.fc(x.mean(dim=(2, 3)))

        def resnet18(num_classes=1000, in_channels=3, width=64):
            return Net((2, 2, 2, 2), False, num_classes, in_channels, width)

        def resnet34(num_classes=1000, in_channels=3, width=64):
            return Net((3, 4, 6, 3), False, num_classes, in_channels, width)

        def resnet50(num_classes=1000, in_channels=3, width=64):
            return Net((3, 4, 6, 3), True, num_classes, in_channels, width)
    """,
}

TF_VARIANTS = {
    "list_stages_explicit_padding_zero_init": """
        import keras
        from keras import layers, ops

        class Block(layers.Layer):
            def __init__(self, cin, planes, stride, bottleneck, **kwargs):
                super().__init__(**kwargs)
                cout = planes * (4 if bottleneck else 1)
                if bottleneck:
                    self.conv1 = layers.Conv2D(planes, 1, use_bias=False)
                    self.conv2 = layers.Conv2D(planes, 3, strides=stride, padding="same", use_bias=False)
                    self.conv3 = layers.Conv2D(cout, 1, use_bias=False)
                    self.bn3 = layers.BatchNormalization(gamma_initializer="zeros")
                else:
                    self.conv1 = layers.Conv2D(planes, 3, strides=stride, padding="same", use_bias=False,
                                               kernel_initializer="he_normal")
                    self.conv2 = layers.Conv2D(planes, 3, padding="same", use_bias=False)
                self.bn1 = layers.BatchNormalization()
                self.bn2 = layers.BatchNormalization(
                    gamma_initializer="ones" if bottleneck else "zeros")
                self.bottleneck = bottleneck
                self.downsample = None
                if stride != 1 or cin != cout:
                    self.downsample = keras.Sequential([
                        layers.Conv2D(cout, 1, strides=stride, use_bias=False),
                        layers.BatchNormalization()])
                self.add = layers.Add()
                self.relu = layers.ReLU()

            def call(self, inputs, training=None):
                h = self.relu(self.bn1(self.conv1(inputs), training=training))
                h = self.bn2(self.conv2(h), training=training)
                if self.bottleneck:
                    h = self.bn3(self.conv3(self.relu(h)), training=training)
                short = inputs if self.downsample is None else self.downsample(inputs, training=training)
                return self.relu(self.add([h, short]))

        class Net(keras.Model):
            def __init__(self, counts, bottleneck, num_classes, width, **kwargs):
                super().__init__(**kwargs)
                self.conv1 = layers.Conv2D(width, (7, 7), strides=(2, 2), padding="same",
                                           use_bias=False)
                self.bn1 = layers.BatchNormalization()
                self.pad = layers.ZeroPadding2D(1)
                self.maxpool = layers.MaxPooling2D(pool_size=3, strides=2)
                cin = width
                for i, n in enumerate(counts):
                    stage = []
                    for j in range(n):
                        stage.append(Block(cin, width * 2**i, 2 if i > 0 and j == 0 else 1, bottleneck))
                        cin = width * 2**i * (4 if bottleneck else 1)
                    setattr(self, f"layer{i + 1}", stage)
                self.fc = layers.Dense(num_classes)

            def call(self, x, training=None):
                x = ops.relu(self.bn1(self.conv1(x), training=training))
                x = self.maxpool(self.pad(x))
                for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
                    for block in stage:
                        x = block(x, training=training)
                return self.fc(ops.mean(x, axis=(1, 2)))

        def resnet18(num_classes=1000, in_channels=3, width=64):
            return Net((2, 2, 2, 2), False, num_classes, width)

        def resnet34(num_classes=1000, in_channels=3, width=64):
            return Net((3, 4, 6, 3), False, num_classes, width)

        def resnet50(num_classes=1000, in_channels=3, width=64):
            return Net((3, 4, 6, 3), True, num_classes, width)
    """,
    "sequential_stages_functional_pool": """
        import keras

        L = keras.layers

        def conv_bn(filters, k, stride=1):
            return [L.Conv2D(filters, k, strides=stride, padding="same", use_bias=False),
                    L.BatchNormalization()]

        class BasicBlock(L.Layer):
            expansion = 1

            def __init__(self, cin, planes, stride=1, **kw):
                super().__init__(**kw)
                self.conv1, self.bn1 = conv_bn(planes, 3, stride)
                self.conv2, self.bn2 = conv_bn(planes, 3)
                self.downsample = (keras.Sequential(conv_bn(planes, 1, stride))
                                   if stride != 1 or cin != planes else None)

            def call(self, x, training=None):
                y = keras.activations.relu(self.bn1(self.conv1(x), training=training))
                y = self.bn2(self.conv2(y), training=training)
                if self.downsample is not None:
                    x = self.downsample(x, training=training)
                return keras.activations.relu(x + y)

        class Bottleneck(L.Layer):
            expansion = 4

            def __init__(self, cin, planes, stride=1, **kw):
                super().__init__(**kw)
                self.conv1, self.bn1 = conv_bn(planes, 1)
                self.conv2, self.bn2 = conv_bn(planes, 3, stride)
                self.conv3, self.bn3 = conv_bn(4 * planes, 1)
                self.downsample = (keras.Sequential(conv_bn(4 * planes, 1, stride))
                                   if stride != 1 or cin != 4 * planes else None)

            def call(self, x, training=None):
                y = keras.activations.relu(self.bn1(self.conv1(x), training=training))
                y = keras.activations.relu(self.bn2(self.conv2(y), training=training))
                y = self.bn3(self.conv3(y), training=training)
                s = x if self.downsample is None else self.downsample(x, training=training)
                return keras.activations.relu(y + s)

        class ResNet(keras.Model):
            def __init__(self, block, counts, num_classes, width):
                super().__init__()
                self.conv1, self.bn1 = conv_bn(width, 7, 2)
                self.avgpool = L.GlobalAveragePooling2D()
                self.fc = L.Dense(num_classes, kernel_initializer="he_normal")
                cin = width
                stages = []
                for i, n in enumerate(counts):
                    blocks = []
                    for j in range(n):
                        blocks.append(block(cin, width * 2**i, 2 if i and not j else 1))
                        cin = width * 2**i * block.expansion
                    stages.append(keras.Sequential(blocks))
                self.layer1, self.layer2, self.layer3, self.layer4 = stages

            def call(self, x, training=None):
                x = keras.ops.max_pool(
                    keras.activations.relu(self.bn1(self.conv1(x), training=training)),
                    pool_size=3, strides=2, padding="same")
                x = self.layer4(self.layer3(self.layer2(self.layer1(x, training=training),
                                                        training=training),
                                            training=training),
                                training=training)
                return self.fc(self.avgpool(x))

        def resnet18(num_classes=1000, in_channels=3, width=64):
            return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, width)

        def resnet34(num_classes=1000, in_channels=3, width=64):
            return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, width)

        def resnet50(num_classes=1000, in_channels=3, width=64):
            return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, width)
    """,
}



def api_and(named: list[str]) -> list[str]:
    """Only the api gate and the checks under test: a check left out does not block another."""
    return ["api", *named]


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=api_and), *bugs("tf", TF_BUGS, only=api_and),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=[
    "tf-resnet34_layout_for_resnet18", "tf-bottleneck_stride_on_conv1", "tf-cifar_stem_3x3",
    "tf-stem_conv_with_bias", "tf-stem_zero_padding_layer", "tf-shortcut_bn_never_called",
    *(f"torch-{v}" for v in TORCH_VARIANTS), *(f"tf-{v}" for v in TF_VARIANTS),
])


def test_closed_form_matches_torchvision_reference():
    """The expected layers generate torchvision's counts, keys and shapes exactly."""
    net = exercise_module("network")
    ex = catalog.resolve(EX)
    reference = json.loads((ex.dir / "torchvision_resnet.json").read_text(encoding="utf-8"))
    defaults = {"num_classes": 1000, "in_channels": 3, "width": 64}
    builds = {
        "resnet18": net.ResNetBuild.of("resnet18", "basic", (2, 2, 2, 2), defaults),
        "resnet34": net.ResNetBuild.of("resnet34", "basic", (3, 4, 6, 3), defaults),
        "resnet50": net.ResNetBuild.of("resnet50", "bottleneck", (3, 4, 6, 3), defaults),
    }
    for name, build in builds.items():
        layers = net.expected_layers(build)
        trainable, frozen = S.expected_counts(layers, "tf")
        assert trainable == reference[name]["params"]
        keys = {}
        for path, spec in S.leaves(layers).items():
            if isinstance(spec, S.Conv):
                k = (spec.k,) * spec.dims
                keys[f"{path}.weight"] = [spec.cout, spec.cin // spec.groups, *k]
            elif isinstance(spec, S.BN):
                keys |= {f"{path}.{p}": [spec.ch] for p in ("weight", "bias", "running_mean",
                                                            "running_var")}
                keys[f"{path}.num_batches_tracked"] = []
            else:
                keys |= {f"{path}.weight": [spec.cout, spec.cin], f"{path}.bias": [spec.cout]}
        assert keys == reference[name]["keys_shapes"]
    assert S.expected_counts(net.expected_layers(builds["resnet18"]), "tf")[1] == 9_600


def test_key_diff_groups_a_module_per_line():
    want = {"conv1.weight": (8, 3, 7, 7), "layer2.0.downsample.0.weight": (16, 8, 1, 1),
            "layer2.0.downsample.1.weight": (16,), "layer2.0.downsample.1.bias": (16,),
            "layer2.0.conv1.weight": (16, 8, 3, 3), "fc.weight": (10, 64), "fc.bias": (10,)}
    got = {"conv1.weight": (8, 3, 3, 3), "layer2.0.conv1.weight": (16, 8, 3, 3),
           "classifier.weight": (10, 64), "classifier.bias": (10,)}
    assert exercise_module("keys").key_diff(got, want) == [
        "missing: `layer2.0.downsample` (3 entries)",
        "missing: `fc` (2 entries)",
        "unexpected: `classifier` (2 entries)",
        "shape of `conv1.weight`: yours (8, 3, 3, 3), torchvision's (8, 3, 7, 7)",
    ]


BENCHMARK = ROOT / "benchmarks" / "gpu_throughput.py"


@pytest.mark.slow
@pytest.mark.torch
@needs("torch")
def test_gpu_benchmark_smoke_mode_compares_with_torchvision(tmp_path):
    """--smoke runs on the CPU; a stand-in torchvision (the solution) exercises the comparison."""
    solution = catalog.resolve(EX).solution("torch")
    tv = tmp_path / "torchvision"
    tv.mkdir()
    (tv / "__init__.py").write_text('__version__ = "stand-in"\nfrom . import models\n')
    (tv / "models.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('stand_in', {str(solution)!r})\n"
        "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"
        "def resnet18(weights=None):\n    return m.resnet18()\n"
        "def resnet50(weights=None):\n    return m.resnet50()\n"
    )
    done = subprocess.run([sys.executable, str(BENCHMARK), "--smoke"], capture_output=True, text=True,
                          timeout=240, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("resnet")]
    assert [r[:2] for r in rows] == [["resnet18", "fp32"], ["resnet18", "bf16"],
                                     ["resnet50", "fp32"], ["resnet50", "bf16"]]
    assert all(float(r[4]) > 0 for r in rows)
    assert "slowest ratio" in done.stdout


@pytest.mark.torch
@needs("torch")
def test_gpu_benchmark_says_why_it_cannot_run_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark would run for real")
    done = subprocess.run([sys.executable, str(BENCHMARK)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert "No CUDA device" in done.stdout and "--smoke" in done.stdout
