"""15_cbam: typical CBAM bugs are caught by the right check; correct variants pass."""

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

EX = "15_cbam"

TORCH_GATE = "gate = torch.sigmoid(self.mlp(avg) + self.mlp(mx))"
TORCH_POOLED = "pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)"
TORCH_CBAM = "out = self.cbam(out)  # on the branch: after bn2, before the add"

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
        [("shortcut", "`CBAMBasicBlock(300, 300)`, `downsample` is Sequential where it should be None")],
    ),
    "channel_default_reduction_not_16": (
        [("def __init__(self, channels: int, reduction: int = 16):",
          "def __init__(self, channels: int, reduction: int = 17):")],
        [("ca_hidden", "is the default in your signature 16?")],
    ),
    "avg_only_is_se": (
        [(TORCH_GATE, "gate = torch.sigmoid(self.mlp(avg))")],
        [("ca_pooling", "the global MAXIMUM never reaches the MLP"),
         ("ca_function", "that is SE's squeeze")],
    ),
    "max_only": (
        [(TORCH_GATE, "gate = torch.sigmoid(self.mlp(mx))")],
        [("ca_pooling", "the global AVERAGE never reaches the MLP"),
         ("ca_function", "only the MAX-pooled descriptor")],
    ),
    "two_separate_mlps": (
        [("self.fc2 = nn.Linear(hidden, channels)",
          "self.fc2 = nn.Linear(hidden, channels)\n"
          "        self.fc1_max = nn.Linear(channels, hidden)\n"
          "        self.fc2_max = nn.Linear(hidden, channels)"),
         (TORCH_GATE, "gate = torch.sigmoid(self.mlp(avg) + self.fc2_max(F.relu(self.fc1_max(mx))))")],
        [("ca_shared", "ONE shared MLP"), ("ca_params", "unexpected parameters in `fc1_max`")],
    ),
    "concatenated_descriptors": (
        [("self.fc1 = nn.Linear(channels, hidden)", "self.fc1 = nn.Linear(2 * channels, hidden)"),
         (TORCH_GATE, "gate = torch.sigmoid(self.mlp(torch.cat([avg, mx], dim=1)))")],
        [("ca_shared", "the two descriptors were concatenated"),
         ("ca_structure", "not concatenated")],
    ),
    "sigmoid_per_branch_then_sum": (
        [(TORCH_GATE, "gate = torch.sigmoid(self.mlp(avg)) + torch.sigmoid(self.mlp(mx))")],
        [("ca_gate", "a sigmoid on each branch, then summed?"),
         ("ca_function", "a sigmoid on each branch, then the two gates summed")],
    ),
    "descriptors_summed_before_the_mlp": (
        [(TORCH_GATE, "gate = torch.sigmoid(self.mlp(avg + mx))")],
        [("ca_function", "added BEFORE the MLP")],
    ),
    "hidden_without_max": (
        [("hidden = max(1, channels // reduction)", "hidden = channels // reduction")],
        [("ca_hidden", "hence max(1, ...)")],
    ),
    "spatial_pools_over_hw": (
        [(TORCH_POOLED, "pooled = torch.cat([x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x[:, :1]),\n"
          "                            x.amax(dim=(1, 2, 3), keepdim=True).expand_as(x[:, :1])], dim=1)")],
        [("sa_gate", "something pools over height and width")],
    ),
    "spatial_mean_only": (
        [(TORCH_POOLED, "pooled = torch.cat([x.mean(dim=1, keepdim=True)] * 2, dim=1)")],
        [("sa_pooling", "the max across channels never reaches the conv"),
         ("sa_function", "the channel-wise MAX is missing")],
    ),
    "spatial_concat_order_swapped": (
        [(TORCH_POOLED,
          "pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)")],
        [("sa_function", "concatenated as [max, mean]")],
    ),
    "spatial_padding_shrinks": (
        [("padding=kernel_size // 2, bias=False", "bias=False")],
        [("sa_padding", "use padding=3 (k // 2)")],
    ),
    "spatial_softmax_over_positions": (
        [("return x * torch.sigmoid(self.conv(pooled))",
          "z = self.conv(pooled)\n"
          "        return x * torch.softmax(z.flatten(1), dim=1).view_as(z)")],
        [("sa_gate", "softmax over H x W"), ("sa_function", "softmax over the positions")],
    ),
    "spatial_conv_with_bias": (
        [("self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)",
          "self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)")],
        [("sa_params", "fixes the spatial conv without a bias"),
         ("params", "`cbam.spatial.conv` has a bias")],
    ),
    "spatial_first": (
        [("return self.spatial(self.channel(x))", "return self.channel(self.spatial(x))")],
        [("cbam_function", "spatial attention runs first")],
    ),
    "parallel_attention": (
        [("return self.spatial(self.channel(x))",
          "return self.channel(x) * torch.sigmoid(self.spatial.conv(torch.cat(\n"
          "            [x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)))")],
        [("cbam_function", "run in parallel")],
    ),
    "cbam_after_the_add": (
        [("\n        " + TORCH_CBAM, ""),
         ("return F.relu(out + identity)", "return F.relu(self.cbam(out + identity))")],
        [("function", "CBAM refines the sum after the add"), ("identity", "relu(x)")],
    ),
    "cbam_on_the_shortcut": (
        [(TORCH_CBAM, "identity = self.cbam(identity)")],
        [("function", "refines the shortcut instead of the residual branch")],
    ),
    "cbam_before_bn2": (
        [("out = self.bn2(self.conv2(out))\n        " + TORCH_CBAM,
          "out = self.bn2(self.cbam(self.conv2(out)))")],
        [("function", "between conv2 and bn2")],
    ),
    "channel_softmax": (
        [(TORCH_GATE, "gate = torch.softmax(self.mlp(avg) + self.mlp(mx), dim=1)")],
        [("ca_function", "a softmax over the channels")],
    ),
    "spatial_padding_hardcoded_3": (
        [("padding=kernel_size // 2, bias=False", "padding=3, bias=False")],
        [("sa_padding", "use padding=1 (k // 2)")],
    ),
    "spatial_bn_after_conv": (
        [("self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)",
          "self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)\n"
          "        self.bn = nn.BatchNorm2d(1)"),
         ("return x * torch.sigmoid(self.conv(pooled))",
          "return x * torch.sigmoid(self.bn(self.conv(pooled)))")],
        [("sa_params", "unexpected parameters in `bn`")],
    ),
    "cbam_ignores_kernel_size": (
        [("self.spatial = SpatialAttention(kernel_size)", "self.spatial = SpatialAttention()")],
        [("cbam_structure", "`spatial.conv` kernel is")],
    ),
    "block_ignores_reduction": (
        [("self.cbam = CBAM(out_channels, reduction)", "self.cbam = CBAM(out_channels)")],
        [("params", "`cbam.channel.fc1` maps")],
    ),
    "shortcut_conv_in_every_block": (
        [("self.downsample = None\n", "self.downsample = None\n"
          "        self.proj = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)\n")],
        [("shortcut", "`proj` (")],
    ),
    "detached_channel_gate": (
        [("return x * gate[:, :, None, None]", "return x * gate[:, :, None, None].detach()")],
        [("ca_gradients", "differ")],
    ),
}

TF_GATE = "gate = ops.sigmoid(self.mlp(avg) + self.mlp(mx))"
TF_POOLED = "[ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)"
TF_CBAM = "out = self.cbam(out)  # on the branch: after bn2, before the add"

TF_BUGS = {
    "projection_missing_when_channels_shrink": (
        [("if stride != 1 or in_channels != out_channels:", "if stride != 1 or in_channels < out_channels:")],
        [("shortcut", "the channels change (16 -> 8) at stride 1")],
    ),
    "is_not_instead_of_not_equal": (
        [("if stride != 1 or in_channels != out_channels:",
          "if stride != 1 or in_channels is not out_channels:")],
        [("shortcut", "`CBAMBasicBlock(300, 300)`, `downsample` is Sequential where it should be None")],
    ),
    "channel_default_reduction_not_16": (
        [("def __init__(self, channels: int, reduction: int = 16, **kwargs):",
          "def __init__(self, channels: int, reduction: int = 17, **kwargs):")],
        [("ca_hidden", "is the default in your signature 16?")],
    ),
    "avg_only_is_se": (
        [(TF_GATE, "gate = ops.sigmoid(self.mlp(avg))")],
        [("ca_pooling", "the global MAXIMUM never reaches the MLP"),
         ("ca_function", "that is SE's squeeze")],
    ),
    "sigmoid_per_branch_then_sum": (
        [(TF_GATE, "gate = ops.sigmoid(self.mlp(avg)) + ops.sigmoid(self.mlp(mx))")],
        [("ca_gate", "a sigmoid on each branch, then summed?")],
    ),
    "spatial_concat_order_swapped": (
        [(TF_POOLED, "[ops.max(x, axis=-1, keepdims=True), ops.mean(x, axis=-1, keepdims=True)], axis=-1)")],
        [("sa_function", "concatenated as [max, mean]")],
    ),
    "spatial_max_only": (
        [(TF_POOLED, "[ops.max(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)")],
        [("sa_pooling", "the mean across channels never reaches the conv")],
    ),
    "spatial_padding_valid": (
        [('self.conv = layers.Conv2D(1, kernel_size, padding="same", use_bias=False)',
          "self.conv = layers.Conv2D(1, kernel_size, use_bias=False)")],
        [("sa_padding", 'use padding="same"')],
    ),
    "spatial_first": (
        [("return self.spatial(self.channel(x))", "return self.channel(self.spatial(x))")],
        [("cbam_function", "spatial attention runs first")],
    ),
    "cbam_on_the_shortcut": (
        [(TF_CBAM, "identity = self.cbam(identity)")],
        [("function", "refines the shortcut instead of the residual branch")],
    ),
    "max_only": (
        [(TF_GATE, "gate = ops.sigmoid(self.mlp(mx))")],
        [("ca_pooling", "the global AVERAGE never reaches the MLP"),
         ("ca_function", "only the MAX-pooled descriptor")],
    ),
    "two_separate_mlps": (
        [("self.fc2 = layers.Dense(channels)",
          "self.fc2 = layers.Dense(channels)\n"
          "        self.fc1_max = layers.Dense(hidden)\n"
          "        self.fc2_max = layers.Dense(channels)"),
         (TF_GATE, "gate = ops.sigmoid(self.mlp(avg) + self.fc2_max(ops.relu(self.fc1_max(mx))))")],
        [("ca_shared", "ONE shared MLP"), ("ca_params", "unexpected parameters in `fc1_max`")],
    ),
    "concatenated_descriptors": (
        [(TF_GATE, "gate = ops.sigmoid(self.mlp(ops.concatenate([avg, mx], axis=-1)))")],
        [("ca_shared", "the two descriptors were concatenated")],
    ),
    "descriptors_summed_before_the_mlp": (
        [(TF_GATE, "gate = ops.sigmoid(self.mlp(avg + mx))")],
        [("ca_function", "added BEFORE the MLP")],
    ),
    "channel_softmax": (
        [(TF_GATE, "gate = ops.softmax(self.mlp(avg) + self.mlp(mx), axis=-1)")],
        [("ca_function", "a softmax over the channels")],
    ),
    "hidden_without_max": (
        [("hidden = max(1, channels // reduction)", "hidden = channels // reduction")],
        [("ca_hidden", "keep at least one hidden unit, max(1, channels // reduction)")],
    ),
    "spatial_mean_only": (
        [(TF_POOLED, "[ops.mean(x, axis=-1, keepdims=True), ops.mean(x, axis=-1, keepdims=True)], axis=-1)")],
        [("sa_pooling", "the max across channels never reaches the conv"),
         ("sa_function", "the channel-wise MAX is missing")],
    ),
    "spatial_pools_over_hw": (
        [(TF_POOLED, "[ops.mean(x, axis=(1, 2, 3), keepdims=True) + 0 * x[..., :1],\n"
          "             ops.max(x, axis=(1, 2, 3), keepdims=True) + 0 * x[..., :1]], axis=-1)")],
        [("sa_gate", "something pools over height and width")],
    ),
    "spatial_softmax_over_positions": (
        [("return x * ops.sigmoid(self.conv(pooled))",
          "z = self.conv(pooled)\n"
          "        flat = ops.reshape(z, (ops.shape(z)[0], -1))\n"
          "        return x * ops.reshape(ops.softmax(flat, axis=-1), ops.shape(z))")],
        [("sa_gate", "softmax over H x W"), ("sa_function", "softmax over the positions")],
    ),
    "spatial_conv_with_bias": (
        [('self.conv = layers.Conv2D(1, kernel_size, padding="same", use_bias=False)',
          'self.conv = layers.Conv2D(1, kernel_size, padding="same")')],
        [("sa_params", "fixes the spatial conv without a bias"),
         ("params", "`cbam.spatial.conv` has a bias")],
    ),
    "spatial_bn_after_conv": (
        [('self.conv = layers.Conv2D(1, kernel_size, padding="same", use_bias=False)',
          'self.conv = layers.Conv2D(1, kernel_size, padding="same", use_bias=False)\n'
          "        self.bn = layers.BatchNormalization()"),
         ("return x * ops.sigmoid(self.conv(pooled))",
          "return x * ops.sigmoid(self.bn(self.conv(pooled), training=training))")],
        [("sa_params", "SpatialAttention has no BatchNorm, so no non-trainable weights")],
    ),
    "cbam_ignores_kernel_size": (
        [("self.spatial = SpatialAttention(kernel_size)", "self.spatial = SpatialAttention()")],
        [("cbam_structure", "`spatial.conv` kernel is")],
    ),
    "parallel_attention": (
        [("return self.spatial(self.channel(x))",
          "return self.channel(x) * ops.sigmoid(self.spatial.conv(ops.concatenate(\n"
          "            [ops.mean(x, axis=-1, keepdims=True),\n"
          "             ops.max(x, axis=-1, keepdims=True)], axis=-1)))")],
        [("cbam_function", "run in parallel")],
    ),
    "cbam_after_the_add": (
        [("\n        " + TF_CBAM, ""),
         ("return ops.relu(out + identity)", "return ops.relu(self.cbam(out + identity))")],
        [("function", "CBAM refines the sum after the add"), ("identity", "relu(x)")],
    ),
    "cbam_before_bn2": (
        [("out = self.bn2(self.conv2(out), training=training)\n        " + TF_CBAM,
          "out = self.bn2(self.cbam(self.conv2(out)), training=training)")],
        [("function", "between conv2 and bn2")],
    ),
    "block_ignores_reduction": (
        [("self.cbam = CBAM(out_channels, reduction)", "self.cbam = CBAM(out_channels)")],
        [("params", "`cbam.channel.fc1` maps")],
    ),
    "shortcut_conv_in_every_block": (
        [("self.downsample = None\n", "self.downsample = None\n"
          "        self.proj = layers.Conv2D(out_channels, 1, strides=stride, use_bias=False)\n"),
         ("identity = x if", "self.proj(x)\n        identity = x if")],
        [("shortcut", "`proj` (")],
    ),
    "detached_channel_gate": (
        [("return x * gate[:, None, None, :]", "return x * ops.stop_gradient(gate)[:, None, None, :]")],
        [("ca_gradients", "differ")],
    ),
    "bn_always_inference": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = self.bn2(self.conv2(out), training=False)")],
        [("function", "train mode")],
    ),
}


TORCH_VARIANTS = {
    "conv1x1_mlp_batched_descriptors_inplace_relu": """
        import torch
        from torch import nn

        class ChannelAttention(nn.Module):
            def __init__(self, channels, reduction=16):
                super().__init__()
                hidden = max(1, channels // reduction)
                self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1)
                self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1)
                self.mlp = nn.Sequential(self.fc1, nn.ReLU(inplace=True), self.fc2)
                self.avg, self.max = nn.AdaptiveAvgPool2d(1), nn.AdaptiveMaxPool2d(1)

            def forward(self, x):
                both = self.mlp(torch.cat([self.avg(x), self.max(x)], dim=0))  # one pass for both
                a, m = both.chunk(2, dim=0)
                return x * (a + m).sigmoid()

        class SpatialAttention(nn.Module):
            def __init__(self, kernel_size=7):
                super().__init__()
                self.conv = nn.Conv2d(2, 1, (kernel_size, kernel_size), stride=1,
                                      padding="same", bias=False)

            def forward(self, x):
                mx, _ = torch.max(x, dim=1, keepdim=True)
                return x * torch.sigmoid(self.conv(torch.cat((torch.mean(x, 1, True), mx), 1)))

        class CBAM(nn.Module):
            def __init__(self, channels, reduction=16, kernel_size=7):
                super().__init__()
                self.channel = ChannelAttention(channels, reduction)
                self.spatial = SpatialAttention(kernel_size)
                self.body = nn.Sequential(self.channel, self.spatial)

            def forward(self, x):
                return self.body(x)

        class CBAMBasicBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1, reduction=16):
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(out_channels)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(out_channels)
                self.cbam = CBAM(out_channels, reduction=reduction)
                self.downsample = None
                if stride != 1 or in_channels != out_channels:
                    self.downsample = nn.Sequential(
                        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(out_channels))
                nn.init.zeros_(self.bn2.weight)  # zero-init of the last BN gamma

            def forward(self, x):
                identity = x if self.downsample is None else self.downsample(x)
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.cbam(self.bn2(self.conv2(out)))
                out += identity
                return self.relu(out)
    """,
    "functional_style_with_fused_spatial_view": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class ChannelAttention(nn.Module):
            def __init__(self, channels: int, reduction: int = 16) -> None:
                super().__init__()
                width = channels // reduction if channels >= reduction else 1
                self.fc1 = nn.Linear(channels, width, bias=True)
                self.fc2 = nn.Linear(width, channels, bias=True)
                nn.init.normal_(self.fc1.weight, std=0.3)

            def forward(self, x):
                n, c = x.shape[:2]
                flat = x.flatten(2)
                z = sum(self.fc2(F.relu(self.fc1(d))) for d in (flat.mean(-1), flat.max(-1).values))
                return x * torch.sigmoid(z).view(n, c, 1, 1)

        class SpatialAttention(nn.Module):
            def __init__(self, kernel_size=7):
                super().__init__()
                self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

            def forward(self, x):
                stats = torch.stack([x.mean(1), x.max(1).values], dim=1)
                return x * F.conv2d(stats, self.conv.weight, padding=self.conv.padding).sigmoid()

        class CBAM(nn.Module):
            def __init__(self, channels, reduction=16, kernel_size=7):
                super().__init__()
                self.channel = ChannelAttention(channels, reduction)
                self.spatial = SpatialAttention(kernel_size=kernel_size)

            def forward(self, x):
                x = self.channel(x)
                return self.spatial(x)

        class CBAMBasicBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1, reduction=16):
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, out_channels, (3, 3), stride=(stride, stride),
                                       padding=(1, 1), bias=False)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
                self.bn1, self.bn2 = nn.BatchNorm2d(out_channels), nn.BatchNorm2d(out_channels)
                self.cbam = CBAM(out_channels, reduction)
                if stride == 1 and in_channels == out_channels:
                    self.downsample = None
                else:
                    self.downsample = nn.Sequential(
                        nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                        nn.BatchNorm2d(out_channels))

            def forward(self, x):
                shortcut = self.downsample(x) if self.downsample is not None else x
                y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
                return F.relu(shortcut + self.cbam(y))
    """,
}

TF_VARIANTS = {
    "conv1x1_mlp_with_fused_activations": """
        import keras
        from keras import layers

        class ChannelAttention(keras.layers.Layer):
            def __init__(self, channels, reduction=16, **kwargs):
                super().__init__(**kwargs)
                self.avg = layers.GlobalAveragePooling2D(keepdims=True)
                self.max = layers.GlobalMaxPooling2D(keepdims=True)
                self.fc1 = layers.Conv2D(max(1, channels // reduction), 1, activation="relu")
                self.fc2 = layers.Conv2D(channels, 1)
                self.add = layers.Add()
                self.gate = layers.Activation("sigmoid")

            def call(self, inputs, training=None):
                a = self.fc2(self.fc1(self.avg(inputs)))
                m = self.fc2(self.fc1(self.max(inputs)))
                return inputs * self.gate(self.add([a, m]))

        class SpatialAttention(keras.layers.Layer):
            def __init__(self, kernel_size=7, **kwargs):
                super().__init__(**kwargs)
                self.conv = layers.Conv2D(1, (kernel_size, kernel_size), padding="same",
                                          use_bias=False, activation="sigmoid")

            def call(self, inputs, training=None):
                mean = keras.ops.mean(inputs, axis=3, keepdims=True)
                peak = keras.ops.max(inputs, axis=3, keepdims=True)
                return layers.Multiply()([inputs, self.conv(layers.Concatenate()([mean, peak]))])

        class CBAM(keras.layers.Layer):
            def __init__(self, channels, reduction=16, kernel_size=7, **kwargs):
                super().__init__(**kwargs)
                self.channel = ChannelAttention(channels, reduction)
                self.spatial = SpatialAttention(kernel_size)

            def call(self, inputs, training=None):
                return self.spatial(self.channel(inputs))

        class CBAMBasicBlock(keras.layers.Layer):
            def __init__(self, in_channels, out_channels, stride=1, reduction=16, **kwargs):
                super().__init__(**kwargs)
                self.conv1 = layers.Conv2D(out_channels, (3, 3), strides=(stride, stride),
                                           padding="same", use_bias=False, kernel_initializer="he_normal")
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization(gamma_initializer="zeros")
                self.cbam = CBAM(out_channels, reduction)
                self.branch = keras.Sequential(
                    [self.conv1, self.bn1, layers.ReLU(), self.conv2, self.bn2, self.cbam])
                self.downsample = None
                if stride != 1 or in_channels != out_channels:
                    self.downsample = keras.Sequential([
                        layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),
                        layers.BatchNormalization()])

            def call(self, inputs, training=None):
                shortcut = inputs
                if self.downsample is not None:
                    shortcut = self.downsample(inputs, training=training)
                return keras.ops.relu(self.branch(inputs, training=training) + shortcut)
    """,
    "dense_on_pooled_map_functional": """
        import keras
        from keras import layers, ops

        class ChannelAttention(layers.Layer):
            def __init__(self, channels, reduction=16, **kwargs):
                super().__init__(**kwargs)
                self.fc1 = layers.Dense(max(1, channels // reduction), kernel_initializer="he_normal")
                self.fc2 = layers.Dense(channels, bias_initializer="ones")

            def call(self, x, training=None):
                avg = ops.mean(x, axis=[1, 2], keepdims=True)  # (N, 1, 1, C): Dense acts on the last axis
                mx = ops.max(x, axis=[1, 2], keepdims=True)
                both = self.fc2(ops.relu(self.fc1(ops.concatenate([avg, mx], axis=0))))
                a, m = ops.split(both, 2, axis=0)
                return x * ops.sigmoid(a + m)

        class SpatialAttention(layers.Layer):
            def __init__(self, kernel_size=7, **kwargs):
                super().__init__(**kwargs)
                self.conv = layers.Conv2D(1, kernel_size, 1, "same", use_bias=False)

            def call(self, x, training=None):
                stats = ops.stack([ops.mean(x, axis=-1), ops.max(x, axis=-1)], axis=-1)
                return x * ops.sigmoid(self.conv(stats))

        class CBAM(layers.Layer):
            def __init__(self, channels, reduction=16, kernel_size=7, **kwargs):
                super().__init__(**kwargs)
                self.channel = ChannelAttention(channels, reduction=reduction)
                self.spatial = SpatialAttention(kernel_size=kernel_size)

            def call(self, x, training=None):
                return self.spatial(self.channel(x), training=training)

        class CBAMBasicBlock(layers.Layer):
            def __init__(self, in_channels, out_channels, stride=1, reduction=16, **kwargs):
                super().__init__(**kwargs)
                self.conv1 = layers.Conv2D(out_channels, 3, stride, padding="same", use_bias=False)
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization()
                self.cbam = CBAM(out_channels, reduction=reduction)
                projection = stride > 1 or in_channels != out_channels
                self.downsample = keras.Sequential(
                    [layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),
                     layers.BatchNormalization()]) if projection else None

            def call(self, x, training=None):
                y = ops.relu(self.bn1(self.conv1(x), training=training))
                y = self.cbam(self.bn2(self.conv2(y), training=training))
                s = x if self.downsample is None else self.downsample(x, training=training)
                return ops.relu(ops.add(y, s))
    """,
}


# Keras is slow to grade: the first variant runs every check, the others every check but
# the training run (the first variant and the reference solution cover it).
TF_ALL_BUT_TRAINING = [
    f"{p}{n}" for p, names in (
        ("ca_", "api hidden shapes shared params structure function gate pooling gradients"),
        ("sa_", "api shapes params structure padding function gate pooling gradients"),
        ("cbam_", "api shapes params structure function gradients"),
        ("", "api shortcut shapes params structure function gradients identity"),
    ) for n in names.split()
]


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS), *bugs("tf", TF_BUGS),
    *variants("torch", TORCH_VARIANTS),
    *variants("tf", TF_VARIANTS,
              only=lambda variant: None if variant == next(iter(TF_VARIANTS)) else TF_ALL_BUT_TRAINING),
], slow=["tf-conv1x1_mlp_with_fused_activations", "tf-dense_on_pooled_map_functional"])


@pytest.mark.parametrize("framework", [pytest.param(fw, marks=[needs(fw), getattr(pytest.mark, fw)])
                                       for fw in ("torch", "tf")])
def test_attention_parameters_are_not_blamed_on_the_shortcut(grade_source, framework):
    """A second MLP inside CBAM is the params check's to name, not the shortcut rule's."""
    edits = (TORCH_BUGS if framework == "torch" else TF_BUGS)["two_separate_mlps"][0]
    record = grade_source(EX, framework, mutate(solution_source(EX, framework), *edits),
                          only=["api", "shortcut", "params"])
    assert check_of(record, "shortcut").status == "pass", check_of(record, "shortcut").message
    params = check_of(record, "params")
    assert params.status == "fail" and "unexpected parameters in `cbam.channel.fc1_max`" in params.message


@pytest.mark.torch
@needs("torch")
def test_a_broken_channel_attention_does_not_hide_the_later_checks(grade_source):
    source = mutate(solution_source(EX, "torch"),
                    ("self.fc1 = nn.Linear(channels, hidden)", "self.squeeze1 = nn.Linear(channels, hidden)"))
    record = grade_source(EX, "torch", source, only=["ca_api", "ca_params", "sa_api", "api"])
    assert check_of(record, "ca_api").status == "fail"
    assert check_of(record, "ca_params").status == "skip"
    assert check_of(record, "sa_api").status == "pass"
    assert check_of(record, "api").status == "pass"
