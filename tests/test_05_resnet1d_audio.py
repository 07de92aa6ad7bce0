"""05_resnet1d_audio: typical bugs are caught by the right check; correct variants pass."""

from __future__ import annotations

import importlib

import numpy as np

from resnet_kata import catalog, worker
from resnet_kata import data as D
from resnet_kata.checks import spec as S

from .conftest import (
    bugs,
    case_test,
    variants,
)

EX = "05_resnet1d_audio"


def exercise_module(name: str):
    """A module of the exercise's folder (`network`), loaded as the worker loads it."""
    return importlib.import_module(worker.exercise_package(catalog.resolve(EX)) + "." + name)


T_BLOCK_CONV1 = "self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)"
T_BLOCK_CONV2 = "self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False)"
T_STEM = "x = self.maxpool(F.relu(self.bn1(self.conv1(x))))"
T_HEAD = "return self.fc(x.mean(dim=2))"
T_STRIDES = "zip(layers, (1, 2, 2, 2), strict=True)"
T_FC = "self.fc = nn.Linear(channels, num_classes)"

TORCH_BUGS = {
    # (edits, the check that must fail, a phrase its message must contain)
    "kernel_given_as_2d": (
        [(T_BLOCK_CONV2, T_BLOCK_CONV2.replace(", 3, padding=1", ", (3, 3), padding=1"))],
        "shapes", "one integer",
    ),
    "kernel_given_as_2d_count": (
        [(T_BLOCK_CONV2, T_BLOCK_CONV2.replace(", 3, padding=1", ", (3, 3), padding=1"))],
        "params", "`layer1.0.conv2` is a 2-D conv, expected 1-D",
    ),
    "maxpool_missing": ([(T_STEM, "x = F.relu(self.bn1(self.conv1(x)))")], "shapes", "max pool"),
    "pooling_over_channels": ([(T_HEAD, "return self.fc(x.mean(dim=1))")], "shapes",
                              "averaged over the channels instead of time"),
    "flatten_instead_of_pooling": (
        [(T_HEAD, "return self.fc(x.flatten(1))")], "shapes", "without the global average pool",
    ),
    "first_stage_strided": ([(T_STRIDES, "zip(layers, (2, 2, 2, 2), strict=True)")], "shapes",
                            "layer1 must keep the length"),
    "last_stage_not_strided": ([(T_STRIDES, "zip(layers, (1, 2, 2, 1), strict=True)")], "shapes",
                               "layer4 does not halve the length"),
    "stride_on_conv2": (
        [(T_BLOCK_CONV1, T_BLOCK_CONV1.replace("stride=stride, ", "")),
         (T_BLOCK_CONV2, T_BLOCK_CONV2.replace("3, padding", "3, stride=stride, padding"))],
        "structure", "the stride belongs on conv1",
    ),
    "conv_bias": ([(T_BLOCK_CONV2, T_BLOCK_CONV2.replace(", bias=False", ""))], "params",
                  "conv2` has a bias"),
    "softmax_on_the_output": ([(T_HEAD, "return F.softmax(self.fc(x.mean(dim=2)), dim=1)")],
                              "function", "softmax"),
    "relu_before_add": (
        [("out = self.bn2(self.conv2(out))", "out = F.relu(self.bn2(self.conv2(out)))")],
        "function", "before the add",
    ),
    "no_final_relu": ([("return F.relu(out + identity)", "return out + identity")], "function",
                      "without the ReLU after the add"),
    "no_skip": ([("return F.relu(out + identity)", "return F.relu(out)")], "function",
                "never adds its shortcut back"),
    "no_stem_relu": ([(T_STEM, "x = self.maxpool(self.bn1(self.conv1(x)))")], "function",
                     "no ReLU between bn1 and the max pool"),
    "max_over_time": ([(T_HEAD, "return self.fc(x.amax(dim=2))")], "function",
                      "MAXIMUM over time"),
    "layers_argument_ignored": ([(T_STRIDES, "zip((2, 2, 2, 2), (1, 2, 2, 2), strict=True)")],
                                "params", "Blocks per stage: yours (2, 2, 2, 2)"),
    "projection_in_every_block": (
        [("if stride != 1 or in_channels != out_channels:", "if True:")], "params",
        "the shortcut is the identity (no parameters)",
    ),
}

K_BLOCK_CONV1 = 'self.conv1 = Conv1D(out_channels, 3, strides=stride, padding="same", use_bias=False)'
K_POOL = "        x = self.maxpool(x)\n"
K_HEAD = "return self.fc(keras.ops.mean(x, axis=1))"
K_STRIDES = "zip(layers, (1, 2, 2, 2), strict=True)"
K_MAXPOOL = 'self.maxpool = MaxPooling1D(3, strides=2, padding="same")'

TF_BUGS = {
    "kernel_given_as_2d": (
        [(K_BLOCK_CONV1, K_BLOCK_CONV1.replace("out_channels, 3,", "out_channels, (3, 3),"))],
        "api", "one integer",
    ),
    "pool_size_given_as_2d": (
        [(K_MAXPOOL, 'self.maxpool = MaxPooling1D(pool_size=(2, 2), padding="same")')],
        "api", "one integer",
    ),
    "maxpool_missing": ([(K_POOL, "")], "shapes", "max pool"),
    "pooling_over_channels": ([(K_HEAD, "return self.fc(keras.ops.mean(x, axis=-1))")], "shapes",
                              "averaged over the channels instead of time"),
    "flatten_instead_of_pooling": (
        [(K_HEAD, "return self.fc(keras.layers.Flatten()(x))")], "shapes",
        "without the global average pool",
    ),
    "wrong_strides": ([(K_STRIDES, "zip(layers, (1, 1, 2, 2), strict=True)")], "shapes",
                      "layer2 does not halve"),
    "softmax_dense": ([("self.fc = keras.layers.Dense(num_classes)",
                        'self.fc = keras.layers.Dense(num_classes, activation="softmax")')],
                      "function", "softmax"),
    "no_final_relu": ([("return keras.ops.relu(out + identity)", "return out + identity")], "function",
                      "without the ReLU after the add"),
    "no_skip": ([("return keras.ops.relu(out + identity)", "return keras.ops.relu(out)")], "function",
                "never adds its shortcut back"),
    "no_stem_relu": ([("x = keras.ops.relu(self.bn1(self.conv1(x), training=training))",
                       "x = self.bn1(self.conv1(x), training=training)")], "function",
                     "no ReLU between bn1 and the max pool"),
    "max_over_time": ([(K_HEAD, "return self.fc(keras.ops.max(x, axis=1))")], "function",
                      "MAXIMUM over time"),
    "bn_always_inference": (
        [("out = keras.ops.relu(self.bn1(self.conv1(x), training=training))",
          "out = keras.ops.relu(self.bn1(self.conv1(x), training=False))")],
        "function", "train mode",
    ),
    "relu_before_add": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = keras.ops.relu(self.bn2(self.conv2(out), training=training))")],
        "function", "before the add",
    ),
}


TORCH_VARIANTS = {
    "adaptive_pool_inplace_relu_zero_init": """
        import torch
        from torch import nn

        class BasicBlock1D(nn.Module):
            def __init__(self, cin, cout, stride=1):
                super().__init__()
                self.conv1 = nn.Conv1d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)
                self.bn1 = nn.BatchNorm1d(cout)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv1d(cout, cout, kernel_size=3, padding=1, bias=False)
                self.bn2 = nn.BatchNorm1d(cout)
                nn.init.zeros_(self.bn2.weight)
                self.downsample = (
                    nn.Sequential(nn.Conv1d(cin, cout, 1, stride, bias=False), nn.BatchNorm1d(cout))
                    if stride != 1 or cin != cout else None
                )

            def forward(self, x):
                identity = x if self.downsample is None else self.downsample(x)
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                out += identity
                return self.relu(out)

        class ResNet1D(nn.Module):
            def __init__(self, in_channels=1, num_classes=10, layers=(2, 2, 2, 2), width=32):
                super().__init__()
                self.conv1 = nn.Conv1d(in_channels, width, 7, 2, 3, bias=False)
                self.bn1 = nn.BatchNorm1d(width)
                self.relu = nn.ReLU(inplace=True)
                self.maxpool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)
                chans = [width * m for m in (1, 2, 4, 8)]
                cin = width
                for i, (n, c) in enumerate(zip(layers, chans)):
                    blocks = [BasicBlock1D(cin, c, 1 if i == 0 else 2)]
                    blocks += [BasicBlock1D(c, c) for _ in range(n - 1)]
                    setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
                    cin = c
                self.avgpool = nn.AdaptiveAvgPool1d(1)
                self.fc = nn.Linear(chans[-1], num_classes)

            def forward(self, x):
                x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
                for name in ("layer1", "layer2", "layer3", "layer4"):
                    x = getattr(self, name)(x)
                return self.fc(torch.flatten(self.avgpool(x), 1))
    """,
    "functional_pool_and_generic_block": """
        import torch.nn as nn
        import torch.nn.functional as F

        def conv_bn(cin, cout, k, stride=1):
            return nn.Conv1d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm1d(cout)

        class Block(nn.Module):
            def __init__(self, cin, cout, stride):
                super().__init__()
                self.conv1, self.bn1 = conv_bn(cin, cout, 3, stride)
                self.conv2, self.bn2 = conv_bn(cout, cout, 3)
                self.downsample = None
                if (cin, stride) != (cout, 1):
                    self.downsample = nn.Sequential(*conv_bn(cin, cout, 1, stride))

            def forward(self, x):
                s = x if self.downsample is None else self.downsample(x)
                return F.relu(s + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))

        class ResNet1D(nn.Module):
            def __init__(self, in_channels=1, num_classes=10, layers=(2, 2, 2, 2), width=32):
                super().__init__()
                self.conv1, self.bn1 = conv_bn(in_channels, width, 7, 2)
                c = width
                for i, n in enumerate(layers):
                    out = width * 2 ** i
                    setattr(self, f"layer{i + 1}", nn.Sequential(
                        *[Block(c if j == 0 else out, out, 2 if i and not j else 1) for j in range(n)]))
                    c = out
                self.fc = nn.Linear(c, num_classes)

            def forward(self, x):
                x = F.max_pool1d(F.relu(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)
                x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
                return self.fc(F.adaptive_avg_pool1d(x, 1).squeeze(-1))
    """,
}

TF_VARIANTS = {
    "global_pool_list_stages_zero_padding": """
        import keras
        from keras import layers

        class Block(layers.Layer):
            def __init__(self, cin, cout, stride=1, **kwargs):
                super().__init__(**kwargs)
                self.conv1 = layers.Conv1D(cout, kernel_size=3, strides=stride, padding="same",
                                           use_bias=False, kernel_initializer="he_normal")
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv1D(cout, 3, padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization(gamma_initializer="zeros")
                self.downsample = None
                if stride != 1 or cin != cout:
                    self.downsample = keras.Sequential([layers.Conv1D(cout, 1, strides=stride,
                                                                      use_bias=False),
                                                        layers.BatchNormalization()])
                self.add = layers.Add()

            def call(self, x, training=None):
                h = layers.Activation("relu")(self.bn1(self.conv1(x), training=training))
                h = self.bn2(self.conv2(h), training=training)
                s = x if self.downsample is None else self.downsample(x, training=training)
                return keras.ops.relu(self.add([h, s]))

        class ResNet1D(keras.Model):
            def __init__(self, in_channels=1, num_classes=10, layers=(2, 2, 2, 2), width=32, **kwargs):
                super().__init__(**kwargs)
                L = keras.layers
                self.conv1 = L.Conv1D(width, 7, strides=2, padding="same", use_bias=False)
                self.bn1 = L.BatchNormalization()
                self.pad = L.ZeroPadding1D(1)
                self.maxpool = L.MaxPooling1D(pool_size=3, strides=2)
                cin = width
                for i, n in enumerate(layers):
                    cout = width * 2 ** i
                    stage = [Block(cin, cout, 1 if i == 0 else 2)] + [Block(cout, cout) for _ in range(n - 1)]
                    setattr(self, f"layer{i + 1}", stage)
                    cin = cout
                self.gap = L.GlobalAveragePooling1D()
                self.fc = L.Dense(num_classes)

            def call(self, x, training=None):
                x = keras.ops.relu(self.bn1(self.conv1(x), training=training))
                x = self.maxpool(self.pad(x))
                for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
                    for block in stage:
                        x = block(x, training=training)
                return self.fc(self.gap(x))
    """,
    "sequential_stages_ops_pool": """
        import keras

        def conv_bn(filters, k, stride=1):
            return (keras.layers.Conv1D(filters, k, strides=stride, padding="same", use_bias=False),
                    keras.layers.BatchNormalization())

        class BasicBlock1D(keras.layers.Layer):
            def __init__(self, cin, cout, stride=1, **kwargs):
                super().__init__(**kwargs)
                self.conv1, self.bn1 = conv_bn(cout, 3, stride)
                self.conv2, self.bn2 = conv_bn(cout, 3)
                self.downsample = keras.Sequential(list(conv_bn(cout, 1, stride))) \\
                    if stride > 1 or cin != cout else None

            def call(self, x, training=None):
                y = keras.ops.relu(self.bn1(self.conv1(x), training=training))
                y = self.bn2(self.conv2(y), training=training)
                if self.downsample is not None:
                    x = self.downsample(x, training=training)
                return keras.ops.relu(y + x)

        class ResNet1D(keras.Model):
            def __init__(self, in_channels=1, num_classes=10, layers=(2, 2, 2, 2), width=32):
                super().__init__()
                self.conv1, self.bn1 = conv_bn(width, 7, 2)
                cin, stages = width, []
                for i, n in enumerate(layers):
                    blocks = []
                    for j in range(n):
                        blocks.append(BasicBlock1D(cin, width << i, 2 if i > 0 and j == 0 else 1))
                        cin = width << i
                    stages.append(keras.Sequential(blocks))
                self.layer1, self.layer2, self.layer3, self.layer4 = stages
                self.fc = keras.layers.Dense(num_classes)

            def call(self, x, training=None):
                x = keras.ops.relu(self.bn1(self.conv1(x), training=training))
                x = keras.ops.max_pool(x, pool_size=3, strides=2, padding="same")
                for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
                    x = stage(x, training=training)
                return self.fc(keras.ops.mean(x, axis=1))
    """,
}



def api_and(named: list[str]) -> list[str]:
    """Only the api gate and the checks under test: a check left out does not block another."""
    return ["api", *named]


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=api_and), *bugs("tf", TF_BUGS, only=api_and),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=[f"tf-{v}" for v in TF_VARIANTS])


def test_counts_match_the_catalogue():
    defaults = {"in_channels": 1, "num_classes": 10, "layers": (2, 2, 2, 2), "width": 32}

    net = exercise_module("network")

    def count(**kwargs) -> int:
        build = net.Net1DBuild.of("ResNet1D", defaults, **kwargs)
        return S.expected_counts(net.expected_layers(build), "torch")[0]

    assert count() == 966_058
    assert count(in_channels=40, num_classes=12, width=16) == 248_044


def test_audio_task_is_seeded_balanced_and_channels_first():
    x, y = D.audio(50, length=128, channels=2, seed=3)
    assert x.shape == (50, 2, 128) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [10] * len(D.AUDIO_CLASSES)
    x2, y2 = D.audio(50, length=128, channels=2, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(x, D.audio(50, length=128, channels=2, seed=4)[0])
