"""07_depthwise_separable: typical bugs are caught by the right check; correct variants pass."""

from __future__ import annotations

from .conftest import bugs, case_test, variants

EX = "07_depthwise_separable"

RATIO = "return (k * k * in_channels + in_channels * out_channels) / (k * k * in_channels * out_channels)"

# bugs in cost_ratio: the same Python function in both files
RATIO_BUGS = {
    "inverted": ("return 1 / (1 / out_channels + 1 / k**2)", "the inverse of the ratio"),
    "pointwise_term_only": ("return 1 / out_channels", "1/out only"),
    "in_for_out": ("return 1 / in_channels + 1 / k**2", "not in_channels"),
    "k_not_squared": ("return 1 / out_channels + 1 / k", "the depthwise term is 1/k²"),
    "product": ("return 1 / (out_channels * k * k)", "the product"),
    "unknown_formula": ("return 2 / out_channels + 1 / k**2", "expected 1/out + 1/k²"),
}
# as bugs graded by the cost_ratio check alone
RATIO_CASES = {f"cost_ratio_{name}": ([(RATIO, body)], "cost_ratio", phrase)
               for name, (body, phrase) in RATIO_BUGS.items()}
TORCH_RATIO_CASES = {
    **RATIO_CASES,
    "cost_ratio_returns_no_number": (
        [(RATIO, 'return f"{1 / out_channels + 1 / k**2:.3f}x"')], "cost_ratio", "expected a number",
    ),
}

# bug -> (edits to the reference solution, [(check that must fail, phrase of its message)])
# Each bug is graded with only the checks expected to catch it (fast); a check whose
# prerequisites were not selected runs regardless.
TORCH_BUGS = {
    "relu6_everywhere": (
        [("out = F.relu(self.bn1(", "out = F.relu6(self.bn1("),
         ("return F.relu(self.bn2(", "return F.relu6(self.bn2(")],
        [("activation", "ReLU6 after both BNs")],
    ),
    "relu6_after_bn2_only": (
        [("return F.relu(self.bn2(", "return F.relu6(self.bn2(")],
        [("activation", "ReLU6 after bn2")],
    ),
    "stride_on_pointwise": (
        [("nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1,",
          "nn.Conv2d(in_channels, in_channels, 3, padding=1,"),
         ("nn.Conv2d(in_channels, out_channels, 1, bias=False)",
          "nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)")],
        [("structure", "the stride is on the pointwise 1x1 conv")],
    ),
    "standard_conv_not_depthwise": (
        [("groups=in_channels, bias=False)", "bias=False)")],
        [("params", "`depthwise` has groups=1, expected"), ("structure", "standard 3x3 conv"),
         ("depthwise_channels", "mixes channels")],
    ),
    "grouped_not_depthwise": (
        [("groups=in_channels, bias=False)", "groups=in_channels // 2, bias=False)")],
        [("params", "`depthwise` has groups=4, expected 8"), ("structure", "groups must be in_channels")],
    ),
    "depth_multiplier_two": (
        [("self.depthwise = nn.Conv2d(in_channels, in_channels, 3,",
          "self.depthwise = nn.Conv2d(in_channels, 2 * in_channels, 3,"),
         ("self.bn1 = nn.BatchNorm2d(in_channels)", "self.bn1 = nn.BatchNorm2d(2 * in_channels)"),
         ("nn.Conv2d(in_channels, out_channels, 1, bias=False)",
          "nn.Conv2d(2 * in_channels, out_channels, 1, bias=False)")],
        [("structure", "depth multiplier 1")],
    ),
    "stride_on_both_convs": (
        [("nn.Conv2d(in_channels, out_channels, 1, bias=False)",
          "nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)")],
        [("shapes", "exactly one layer per path carries the stride"),
         ("structure", "the stride is on the pointwise 1x1 conv")],
    ),
    "bias_in_convs": (
        [("nn.Conv2d(in_channels, out_channels, 1, bias=False)", "nn.Conv2d(in_channels, out_channels, 1)"),
         ("groups=in_channels, bias=False)", "groups=in_channels)")],
        [("params", "`depthwise` has a bias"), ("structure", "`pointwise` has a bias")],
    ),
    "missing_bn1": (
        [("self.bn1 = nn.BatchNorm2d(in_channels)", "self.bn1 = nn.Identity()")],
        [("params", "`bn1` should be BatchNorm")],
    ),
    "no_relu_after_bn1": (
        [("out = F.relu(self.bn1(self.depthwise(x)))", "out = self.bn1(self.depthwise(x))")],
        [("function", "ReLU after bn1 is missing")],
    ),
    "relu_before_bn": (
        [("out = F.relu(self.bn1(self.depthwise(x)))\n        return F.relu(self.bn2(self.pointwise(out)))",
          "out = self.bn1(F.relu(self.depthwise(x)))\n        return self.bn2(F.relu(self.pointwise(out)))")],
        [("function", "each ReLU comes before its BatchNorm")],
    ),
    "pointwise_first": (
        [("out = F.relu(self.bn1(self.depthwise(x)))\n        return F.relu(self.bn2(self.pointwise(out)))",
          "out = F.relu(self.bn1(self.pointwise(x)))\n        return F.relu(self.bn2(self.depthwise(out)))"),
         ("self.bn1 = nn.BatchNorm2d(in_channels)", "self.bn1 = nn.BatchNorm2d(out_channels)"),
         ("self.depthwise = nn.Conv2d(in_channels, in_channels, 3,",
          "self.depthwise = nn.Conv2d(out_channels, out_channels, 3,"),
         ("groups=in_channels, bias=False)", "groups=out_channels, bias=False)")],
        [("structure", "`depthwise` maps")],
    ),
    "bn_always_eval": (
        [("out = F.relu(self.bn1(self.depthwise(x)))",
          "self.bn1.eval(); self.bn2.eval()\n        out = F.relu(self.bn1(self.depthwise(x)))")],
        [("function", "BatchNorm ran in eval mode")],
    ),
    "detached_input": (
        [("out = F.relu(self.bn1(self.depthwise(x)))", "out = F.relu(self.bn1(self.depthwise(x.detach())))")],
        [("gradients", "No gradient reaches the input")],
    ),
}

TF_BUGS = {
    "relu6_everywhere": (
        [("out = keras.ops.relu(self.bn1(", "out = keras.ops.relu6(self.bn1("),
         ("return keras.ops.relu(self.bn2(", "return keras.ops.relu6(self.bn2(")],
        [("activation", "ReLU6 after both BNs")],
    ),
    "relu6_after_bn1_only": (
        [("out = keras.ops.relu(self.bn1(", "out = keras.ops.relu6(self.bn1(")],
        [("activation", "ReLU6 after bn1")],
    ),
    "stride_on_pointwise": (
        [("layers.DepthwiseConv2D(3, strides=stride, padding=\"same\", use_bias=False)",
          "layers.DepthwiseConv2D(3, padding=\"same\", use_bias=False)"),
         ("layers.Conv2D(out_channels, 1, use_bias=False)",
          "layers.Conv2D(out_channels, 1, strides=stride, use_bias=False)")],
        [("structure", "the stride is on the pointwise 1x1 conv")],
    ),
    "standard_conv_not_depthwise": (
        [("layers.DepthwiseConv2D(3, strides=stride, padding=\"same\", use_bias=False)",
          "layers.Conv2D(in_channels, 3, strides=stride, padding=\"same\", use_bias=False)")],
        [("params", "`depthwise` has groups=1, expected"), ("structure", "standard 3x3 conv"),
         ("depthwise_channels", "mixes channels")],
    ),
    "grouped_not_depthwise": (
        [("layers.DepthwiseConv2D(3, strides=stride, padding=\"same\", use_bias=False)",
          "layers.Conv2D(in_channels, 3, strides=stride, padding=\"same\", groups=in_channels // 2,\n"
          "                                       use_bias=False)")],
        [("params", "`depthwise` has groups=4, expected 8"), ("structure", "groups must be in_channels")],
    ),
    "stride_on_both_convs": (
        [("layers.Conv2D(out_channels, 1, use_bias=False)",
          "layers.Conv2D(out_channels, 1, strides=stride, use_bias=False)")],
        [("shapes", "exactly one layer per path carries the stride"),
         ("structure", "the stride is on the pointwise 1x1 conv")],
    ),
    "depth_multiplier_two": (
        [("layers.DepthwiseConv2D(3, strides=stride,",
          "layers.DepthwiseConv2D(3, depth_multiplier=2, strides=stride,")],
        [("structure", "depth multiplier 1")],
    ),
    "bias_in_depthwise": (
        [("layers.DepthwiseConv2D(3, strides=stride, padding=\"same\", use_bias=False)",
          "layers.DepthwiseConv2D(3, strides=stride, padding=\"same\")")],
        [("params", "`depthwise` has a bias")],
    ),
    "missing_bn2": (
        [("return keras.ops.relu(self.bn2(self.pointwise(out), training=training))",
          "return keras.ops.relu(self.pointwise(out))"),
         ("self.bn2 = layers.BatchNormalization()", "self.bn2 = None")],
        [("params", "`bn2` missing")],
    ),
    "no_relu_after_bn2": (
        [("return keras.ops.relu(self.bn2(self.pointwise(out), training=training))",
          "return self.bn2(self.pointwise(out), training=training)")],
        [("function", "ReLU after bn2 is missing")],
    ),
    "bn_always_inference": (
        [("self.bn1(self.depthwise(x), training=training)",
          "self.bn1(self.depthwise(x), training=False)"),
         ("self.bn2(self.pointwise(out), training=training)",
          "self.bn2(self.pointwise(out), training=False)")],
        [("function", "BatchNorm ran in eval mode")],
    ),
}


TORCH_VARIANTS = {
    "sequential_stages_inplace_relu": """
        import torch
        from torch import nn

        class DepthwiseSeparableConv(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size=(3, 3),
                                           stride=(stride, stride), padding=(1, 1),
                                           groups=in_channels, bias=False)
                self.bn1 = nn.BatchNorm2d(in_channels)
                self.pointwise = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
                self.bn2 = nn.BatchNorm2d(out_channels)
                self.body = nn.Sequential(self.depthwise, self.bn1, nn.ReLU(inplace=True),
                                          self.pointwise, self.bn2, nn.ReLU(inplace=True))
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    elif isinstance(m, nn.BatchNorm2d):
                        nn.init.uniform_(m.weight, 0.5, 1.5)

            def forward(self, x):
                return self.body(x)

        def cost_ratio(in_channels, out_channels, k=3):
            return 1.0 / out_channels + 1.0 / (k * k)
    """,
    "functional_conv_calls": """
        from fractions import Fraction

        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class DepthwiseSeparableConv(nn.Module):
            def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
                super().__init__()
                self.stride = stride
                self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride, 1,
                                           groups=in_channels, bias=False)
                self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(in_channels)
                self.bn2 = nn.BatchNorm2d(out_channels)

            def forward(self, x):
                y = F.conv2d(x, self.depthwise.weight, stride=self.stride, padding=1, groups=x.shape[1])
                y = torch.relu(self.bn1(y))
                y = torch.einsum("oi,nihw->nohw", self.pointwise.weight[:, :, 0, 0], y)
                return self.bn2(y).clamp(min=0)

        def cost_ratio(in_channels: int, out_channels: int, k: int = 3) -> float:
            standard = k * k * in_channels * out_channels
            return Fraction(k * k * in_channels + in_channels * out_channels, standard)
    """,
}

TF_VARIANTS = {
    "grouped_conv2d_sequential": """
        import keras
        from keras import layers

        class DepthwiseSeparableConv(keras.layers.Layer):
            def __init__(self, in_channels, out_channels, stride=1, **kwargs):
                super().__init__(**kwargs)
                self.depthwise = layers.Conv2D(in_channels, (3, 3), strides=(stride, stride),
                                               padding="same", groups=in_channels, use_bias=False,
                                               kernel_initializer="he_normal")
                self.bn1 = layers.BatchNormalization()
                self.pointwise = layers.Conv2D(out_channels, (1, 1), use_bias=False)
                self.bn2 = layers.BatchNormalization(gamma_initializer="ones")
                self.body = keras.Sequential([self.depthwise, self.bn1, layers.ReLU(),
                                              self.pointwise, self.bn2, layers.Activation("relu")])

            def call(self, inputs, training=None):
                return self.body(inputs, training=training)

        def cost_ratio(in_channels, out_channels, k=3):
            return 1 / out_channels + 1 / k ** 2
    """,
    "depthwise_layer_numpy_ratio": """
        import numpy as np
        from keras import layers, ops

        class DepthwiseSeparableConv(layers.Layer):
            def __init__(self, in_channels, out_channels, stride=1, **kwargs):
                super().__init__(**kwargs)
                self.depthwise = layers.DepthwiseConv2D(kernel_size=3, strides=stride, padding="same",
                                                        depth_multiplier=1, use_bias=False)
                self.pointwise = layers.Conv2D(filters=out_channels, kernel_size=1, padding="valid",
                                               use_bias=False)
                self.bn1 = layers.BatchNormalization()
                self.bn2 = layers.BatchNormalization()
                self.act = layers.Activation("relu")

            def call(self, x, training=None):
                x = self.act(self.bn1(self.depthwise(x), training=training))
                return self.act(self.bn2(self.pointwise(x), training=training))

        def cost_ratio(in_channels, out_channels, k=3):
            separable = np.float64(k * k * in_channels + in_channels * out_channels)
            return separable / (k * k * in_channels * out_channels)
    """,
}


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS), *bugs("tf", TF_BUGS),
    *bugs("torch", TORCH_RATIO_CASES), *bugs("tf", RATIO_CASES),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=["tf-grouped_conv2d_sequential", "tf-depthwise_layer_numpy_ratio"])
