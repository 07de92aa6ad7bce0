"""The grader's pretrained backbone for 09_finetune_freezing, Keras 3.

The same network as `backbone_torch.py`, built with the functional API like
`keras.applications` models, with named layers `conv1, bn1, relu, layer1..layer4,
avgpool, fc`. It loads the same `backbone.npz` (PyTorch layout, transposed here)
and computes the same function: 3x3 convs pad one pixel on each side explicitly
(torch's padding=1) and BN uses torch's epsilon and momentum.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
from keras import layers

WIDTHS = (8, 16, 24, 32)
WEIGHTS = Path(__file__).with_name("backbone.npz")


def _bn(**kwargs) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, **kwargs)


class BasicBlock(layers.Layer):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.pad = layers.ZeroPadding2D(1)
        self.conv1 = layers.Conv2D(out_channels, 3, stride, use_bias=False)
        self.bn1 = _bn()
        self.conv2 = layers.Conv2D(out_channels, 3, use_bias=False)
        self.bn2 = _bn()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = keras.Sequential(
                [layers.Conv2D(out_channels, 1, stride, use_bias=False), _bn()]
            )

    def call(self, x, training=None):
        identity = x if self.downsample is None else self.downsample(x, training=training)
        out = keras.ops.relu(self.bn1(self.conv1(self.pad(x)), training=training))
        out = self.bn2(self.conv2(self.pad(out)), training=training)
        return keras.ops.relu(out + identity)


def tiny_resnet(num_classes: int = 4, widths: tuple[int, ...] = WIDTHS) -> keras.Model:
    """(N, H, W, 3) -> (N, num_classes) logits; `avgpool` outputs (N, WIDTHS[-1])."""
    inputs = keras.Input((None, None, 3))
    x = layers.ZeroPadding2D(1, name="pad")(inputs)
    x = layers.Conv2D(widths[0], 3, use_bias=False, name="conv1")(x)
    x = _bn(name="bn1")(x)
    x = layers.ReLU(name="relu")(x)
    cin = widths[0]
    for i, (width, stride) in enumerate(zip(widths, (1, 2, 2, 2), strict=True), start=1):
        x = keras.Sequential([BasicBlock(cin, width, stride)], name=f"layer{i}")(x)
        cin = width
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    return keras.Model(inputs, outputs, name="tiny_resnet")


def _pairs(model: keras.Model) -> Iterator[tuple[str, layers.Layer]]:
    """(torch state_dict prefix, Keras layer) for every layer with weights."""
    yield "conv1", model.get_layer("conv1")
    yield "bn1", model.get_layer("bn1")
    for i in range(1, 5):
        block = model.get_layer(f"layer{i}").layers[0]
        prefix = f"layer{i}.0"
        for name in ("conv1", "bn1", "conv2", "bn2"):
            yield f"{prefix}.{name}", getattr(block, name)
        if block.downsample is not None:
            yield f"{prefix}.downsample.0", block.downsample.layers[0]
            yield f"{prefix}.downsample.1", block.downsample.layers[1]
    yield "fc", model.get_layer("fc")


def pretrained(path: Path = WEIGHTS) -> keras.Model:
    model = tiny_resnet()
    with np.load(path) as arrays:
        for prefix, layer in _pairs(model):
            if isinstance(layer, layers.BatchNormalization):
                layer.set_weights([arrays[f"{prefix}.{k}"] for k in
                                   ("weight", "bias", "running_mean", "running_var")])
            elif isinstance(layer, layers.Dense):
                layer.set_weights([arrays[f"{prefix}.weight"].T, arrays[f"{prefix}.bias"]])
            else:  # conv: (out, in, kh, kw) -> (kh, kw, in, out)
                layer.set_weights([arrays[f"{prefix}.weight"].transpose(2, 3, 1, 0)])
    return model
