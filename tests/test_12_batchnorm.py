"""12_batchnorm: typical BatchNorm bugs are caught by the right check; correct variants pass."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import bugs, case_test, needs, variants

EX = "12_batchnorm"
# every check but the training run: a bug is caught long before it
TORCH_FAST = ["api", "from_scratch", "state_dict", "train_output", "per_channel", "eps",
              "running_stats", "eval_mode", "gradients"]
TF_FAST = ["api", "from_scratch", "weights", "train_output", "per_channel", "eps",
           "running_stats", "eval_mode", "gradients"]

T_RUNNING = ("                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n"
             "                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)\n")
T_EVAL = "        else:\n            mean, var = self.running_mean, self.running_var\n"

TORCH_BUGS = {
    "biased_running_var": (
        [("unbiased = var * n / max(n - 1, 1)", "unbiased = var")],
        "running_stats", "BIASED batch variance",
    ),
    "momentum_flipped": (
        [(T_RUNNING,
          "                self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * mean)\n"
          "                self.running_var.mul_(self.momentum).add_((1 - self.momentum) * unbiased)\n")],
        "running_stats", "convention is flipped",
    ),
    "ignores_given_momentum": (
        [("self.num_features, self.eps, self.momentum = num_features, eps, momentum",
          "self.num_features, self.eps, self.momentum = num_features, eps, 0.1")],
        "running_stats", "momentum=0.3 was ignored",
    ),
    "forgets_num_batches_tracked": (
        [("                self.num_batches_tracked.add_(1)\n", "")],
        "running_stats", "num_batches_tracked is 0",
    ),
    "stats_never_updated": (
        [(T_RUNNING, "")],
        "running_stats", "never changed",
    ),
    "stats_over_whole_tensor": (
        [("mean = x.mean(dim=(0, 2, 3))", "mean = x.mean()"),
         ("var = x.var(dim=(0, 2, 3), unbiased=False)", "var = x.var(unbiased=False)")],
        "per_channel", "over the whole tensor",
    ),
    "layer_norm_axes": (
        [("mean = x.mean(dim=(0, 2, 3))", "mean = x.mean(dim=(1, 2, 3), keepdim=True)"),
         ("var = x.var(dim=(0, 2, 3), unbiased=False)",
          "var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)"),
         ("self.momentum * mean)", "self.momentum * mean.mean())"),
         ("self.momentum * unbiased)", "self.momentum * unbiased.mean())"),
         ("x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)",
          "x_hat = (x - mean) / torch.sqrt(var + self.eps)"),
         (T_EVAL, "        else:\n            mean = self.running_mean.view(1, -1, 1, 1)\n"
                  "            var = self.running_var.view(1, -1, 1, 1)\n")],
        "per_channel", "layer norm",
    ),
    "normalises_with_unbiased_var": (
        [("var = x.var(dim=(0, 2, 3), unbiased=False)", "var = x.var(dim=(0, 2, 3), unbiased=True)")],
        "train_output", "UNBIASED (n - 1) variance",
    ),
    "eps_outside_sqrt": (
        [("torch.sqrt(var.view(shape) + self.eps)", "(torch.sqrt(var.view(shape)) + self.eps)")],
        "eps", "OUTSIDE the square root",
    ),
    "ignores_given_eps": (
        [("self.num_features, self.eps, self.momentum = num_features, eps, momentum",
          "self.num_features, self.eps, self.momentum = num_features, 1e-5, momentum")],
        "eps", "given eps was ignored",
    ),
    "updates_in_eval_mode": (
        [(T_EVAL, T_EVAL + "            with torch.no_grad():\n"
                           "                self.running_mean.mul_(0.9).add_(x.mean(dim=(0, 2, 3)))\n")],
        "eval_mode", "updated running_mean/running_var",
    ),
    "batch_stats_in_eval_mode": (
        [(T_EVAL, "        else:\n"
                  "            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)\n")],
        "eval_mode", "BATCH statistics in inference mode",
    ),
    "detached_statistics": (
        [("mean = x.mean(dim=(0, 2, 3))", "mean = x.mean(dim=(0, 2, 3)).detach()"),
         ("var = x.var(dim=(0, 2, 3), unbiased=False)",
          "var = x.var(dim=(0, 2, 3), unbiased=False).detach()")],
        "gradients", "detached",
    ),
    "calls_F_batch_norm": (
        [("    def forward(self, x: torch.Tensor) -> torch.Tensor:\n",
          "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
          "        return torch.nn.functional.batch_norm(\n"
          "            x, self.running_mean, self.running_var, self.weight, self.bias,\n"
          "            self.training, self.momentum, self.eps)\n")],
        "from_scratch", "`torch.nn.functional.batch_norm`",
    ),
    "wraps_nn_batchnorm2d": (
        [("        self.num_features, self.eps, self.momentum = num_features, eps, momentum\n",
          "        self.num_features, self.eps, self.momentum = num_features, eps, momentum\n"
          "        self.inner = nn.BatchNorm2d(num_features, eps, momentum)\n"),
         ("    def forward(self, x: torch.Tensor) -> torch.Tensor:\n",
          "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
          "        return self.inner(x)\n")],
        "from_scratch", "`torch.nn.functional.batch_norm`",
    ),
    # what the running statistics carry besides their values
    "running_stats_keep_autograd_history": (
        [("            with torch.no_grad():\n", "            if True:  # no torch.no_grad()\n")],
        "running_stats", "carries autograd history",
    ),
    "running_mean_rebound_with_history": (
        [("                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n", ""),
         ("            with torch.no_grad():\n",
          "            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean\n"
          "            with torch.no_grad():\n")],
        "running_stats", "`running_mean` carries autograd history",
    ),
    "running_stats_rebound": (
        [(T_RUNNING,
          "                m = self.momentum\n"
          "                self.running_mean = (1 - m) * self.running_mean + m * mean\n"
          "                self.running_var = (1 - m) * self.running_var + m * unbiased\n")],
        "running_stats", "instead of updated in place",
    ),
    "running_mean_via_numpy_float64": (
        [("                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n",
          "                self.running_mean = torch.from_numpy(\n"
          "                    (1 - self.momentum) * self.running_mean.numpy()\n"
          "                    + self.momentum * mean.double().numpy())\n")],
        "running_stats", "`running_mean` is torch.float64",
    ),
    "count_becomes_float": (
        [("                self.num_batches_tracked.add_(1)\n",
          "                self.num_batches_tracked = self.num_batches_tracked + 1.0\n")],
        "running_stats", "turns the long counter into a float",
    ),
    "running_mean_keepdim_shape": (
        [("                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n",
          "                self.running_mean = ((1 - self.momentum) * self.running_mean\n"
          "                                     + self.momentum * mean[None])  # (1, C)\n")],
        "running_stats", "must keep shape (3)",
    ),
    "running_mean_on_another_device": (
        # stands in for `torch.tensor(values)` made on the CPU while the layer is on a GPU
        [("                self.num_batches_tracked.add_(1)\n",
          "                self.num_batches_tracked.add_(1)\n"
          "                self.running_mean = self.running_mean.to(\"meta\")\n")],
        "api", "`running_mean` is on meta",
    ),
    "running_mean_becomes_a_parameter": (
        [("                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n",
          "                self.running_mean = nn.Parameter(\n"
          "                    (1 - self.momentum) * self.running_mean + self.momentum * mean,\n"
          "                    requires_grad=False)\n")],
        "running_stats", "is an nn.Parameter, no longer a buffer",
    ),
    "unbiased_with_batch_size_only": (
        [("            n = x.numel() // x.shape[1]\n", "            n = x.shape[0]\n")],
        "running_stats", "used n = N, the batch size",
    ),
    "running_stats_in_train_mode": (
        [("            n = x.numel() // x.shape[1]\n",
          "            n = x.numel() // x.shape[1]\n"
          "            mean, var = mean * 0 + self.running_mean, var * 0 + self.running_var\n")],
        "train_output", "used the running statistics in training mode",
    ),
    "running_stats_just_updated_in_train_mode": (
        [("                self.num_batches_tracked.add_(1)\n",
          "                self.num_batches_tracked.add_(1)\n"
          "            mean, var = self.running_mean.clone(), self.running_var.clone()\n")],
        "train_output", "running statistics just after updating them",
    ),
    "count_not_a_buffer": (
        [('self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))',
          "self.num_batches_tracked = torch.tensor(0, dtype=torch.long)")],
        "state_dict", "missing: ['num_batches_tracked']",
    ),
}

K_MOVING = ("            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))\n"
            "            self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))\n")
K_ELSE = "        else:\n            mean, var = self.moving_mean, self.moving_variance\n"

TF_BUGS = {
    "unbiased_moving_variance": (
        [("self.moving_variance * m + var * (1.0 - m)",
          "self.moving_variance * m + var * n / (n - 1) * (1.0 - m)"),
         ("            mean = ops.mean(x, axis=axes)\n",
          "            mean = ops.mean(x, axis=axes)\n"
          "            n = ops.cast(ops.size(x) // x.shape[-1], x.dtype)\n")],
        "running_stats", "UNBIASED (n - 1) variance",
    ),
    "momentum_flipped": (
        [(K_MOVING,
          "            self.moving_mean.assign(self.moving_mean * (1.0 - m) + mean * m)\n"
          "            self.moving_variance.assign(self.moving_variance * (1.0 - m) + var * m)\n")],
        "running_stats", "convention is flipped",
    ),
    "ignores_given_momentum": (
        [("self.momentum, self.epsilon = momentum, epsilon", "self.momentum, self.epsilon = 0.99, epsilon")],
        "running_stats", "momentum=0.8 was ignored",
    ),
    "stats_never_updated": (
        [(K_MOVING, "")],
        "running_stats", "never changed",
    ),
    "stats_over_whole_tensor": (
        [("axes = tuple(range(len(x.shape) - 1))", "axes = tuple(range(len(x.shape)))")],
        "per_channel", "over the whole tensor",
    ),
    "eps_outside_sqrt": (
        [("ops.sqrt(var + self.epsilon)", "(ops.sqrt(var) + self.epsilon)")],
        "eps", "OUTSIDE the square root",
    ),
    "ignores_given_epsilon": (
        [("self.momentum, self.epsilon = momentum, epsilon", "self.momentum, self.epsilon = momentum, 1e-3")],
        "eps", "given eps was ignored",
    ),
    "updates_in_inference": (
        [(K_ELSE, K_ELSE + "            self.moving_mean.assign(self.moving_mean * 0.5)\n")],
        "eval_mode", "updated moving_mean/moving_variance",
    ),
    "none_means_training": (
        [("        if training:\n", "        if training is not False:\n")],
        "eval_mode", "training=None",
    ),
    "detached_statistics": (
        [("mean = ops.mean(x, axis=axes)", "mean = ops.stop_gradient(ops.mean(x, axis=axes))"),
         ("var = ops.mean(ops.square(x - mean), axis=axes)",
          "var = ops.stop_gradient(ops.mean(ops.square(x - mean), axis=axes))")],
        "gradients", "detached",
    ),
    "calls_keras_batch_normalization": (
        [("        return (x - mean) / ops.sqrt(var + self.epsilon) * self.gamma + self.beta\n",
          "        return ops.batch_normalization(x, mean, var, axis=-1, offset=self.beta,\n"
          "                                       scale=self.gamma, epsilon=self.epsilon)\n")],
        "from_scratch", "`keras.ops.batch_normalization`",
    ),
    "subclasses_batchnormalization": (
        [("class BatchNorm(keras.layers.Layer):", "class BatchNorm(keras.layers.BatchNormalization):")],
        "from_scratch", "subclasses keras.layers.BatchNormalization",
    ),
    "moving_mean_rebound_with_equals": (
        [("            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))\n",
          "            self.moving_mean = self.moving_mean * m + mean * (1.0 - m)\n")],
        "running_stats", "Update the weight with `self.moving_mean.assign(...)`",
    ),
    "normalises_with_unbiased_var": (
        [("            var = ops.mean(ops.square(x - mean), axis=axes)\n",
          "            var = ops.var(x, axis=axes)\n"
          "            n = ops.cast(ops.size(x) // x.shape[-1], x.dtype)\n"
          "            var = var * n / (n - 1)\n")],
        "train_output", "UNBIASED (n - 1) variance",
    ),
    "batch_stats_in_inference": (
        [(K_ELSE, "        else:\n"
                  "            axes = tuple(range(len(x.shape) - 1))\n"
                  "            mean = ops.mean(x, axis=axes)\n"
                  "            var = ops.mean(ops.square(x - mean), axis=axes)\n")],
        "eval_mode", "BATCH statistics in inference mode",
    ),
    "moving_stats_before_the_update_in_training": (
        [("            m = self.momentum\n",
          "            m = self.momentum\n"
          "            used = (self.moving_mean * 1.0, self.moving_variance * 1.0)\n"),
         (K_MOVING, K_MOVING + "            mean, var = used\n")],
        "train_output", "used the running statistics in training mode",
    ),
    "moving_stats_in_training": (
        [("            self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))\n",
          "            self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))\n"
          "            mean, var = self.moving_mean * 1.0, self.moving_variance * 1.0\n")],
        "train_output", "running statistics just after updating them",
    ),
    "kwargs_not_passed_on": (
        [("        super().__init__(**kwargs)\n", "        super().__init__()\n")],
        "api", "the keyword arguments were not passed on",
    ),
    "trainable_moving_mean": (
        [('self.moving_mean = self.add_weight(shape=c, initializer="zeros", trainable=False,',
          'self.moving_mean = self.add_weight(shape=c, initializer="zeros", trainable=True,')],
        "weights", "`moving_mean` is trainable",
    ),
}


TORCH_VAR_MEAN = '''
import torch
from torch import nn


class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        if self.training:
            var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0, keepdim=True)
            n = x.numel() / x.size(1)
            with torch.no_grad():
                self.running_mean.lerp_(mean.flatten(), self.momentum)
                self.running_var.lerp_(var.flatten() * n / (n - 1), self.momentum)
                self.num_batches_tracked += 1
        else:
            mean = self.running_mean[None, :, None, None]
            var = self.running_var[None, :, None, None]
        inv = torch.rsqrt(var + self.eps)
        return (x - mean) * inv * self.weight[:, None, None] + self.bias[:, None, None]
'''

TORCH_FLAT = '''
import torch
import torch.nn as nn


class BatchNorm2d(nn.Module):
    """Statistics from the (C, N*H*W) view with explicit sums; buffers written with copy_."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.full((num_features,), 1.0))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        c = x.shape[1]
        flat = x.transpose(0, 1).reshape(c, -1)
        if self.training:
            n = flat.shape[1]
            mean = flat.sum(1) / n
            var = ((flat - mean[:, None]) ** 2).sum(1) / n
            m = self.momentum
            self.running_mean.copy_(((1 - m) * self.running_mean + m * mean).detach())
            self.running_var.data = (1 - m) * self.running_var + m * var.detach() * n / (n - 1)
            self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight / (var + self.eps).sqrt()
        y = torch.einsum("nchw,c->nchw", x - mean.view(1, c, 1, 1), scale)
        return y + self.bias.view(1, c, 1, 1)
'''

TF_MOMENTS = '''
import keras
from keras import ops


class BatchNorm(keras.layers.Layer):
    def __init__(self, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer=keras.initializers.Ones())
        self.beta = self.add_weight(name="beta", shape=shape, initializer=keras.initializers.Zeros())
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape,
                                           initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape,
                                               initializer="ones", trainable=False)

    def call(self, inputs, training=None):
        if training:
            mean, var = ops.moments(inputs, axes=list(range(len(inputs.shape) - 1)))
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance + (1 - self.momentum) * var)
        else:
            mean, var = self.moving_mean, self.moving_variance
        inv = ops.rsqrt(var + self.epsilon) * self.gamma
        return inputs * inv + (self.beta - mean * inv)
'''

TF_RAW = '''
import tensorflow as tf
from keras import layers


class BatchNorm(layers.Layer):
    """tf ops and assign_sub: moving -= (1 - momentum) * (moving - batch)."""

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon

    def build(self, input_shape):
        c = input_shape[-1]
        self.gamma = self.add_weight(shape=(c,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=(c,), initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(shape=(c,), initializer="ones", trainable=False)

    def call(self, x, training=False):
        if training:
            axes = list(range(x.shape.rank - 1))
            mean = tf.reduce_mean(x, axis=axes)
            var = tf.math.reduce_variance(x, axis=axes)
            self.moving_mean.assign_sub((1.0 - self.momentum) * (self.moving_mean - mean))
            self.moving_variance.assign_sub((1.0 - self.momentum) * (self.moving_variance - var))
        else:
            mean, var = tf.convert_to_tensor(self.moving_mean), tf.convert_to_tensor(self.moving_variance)
        return self.gamma * (x - mean) * tf.math.rsqrt(var + self.epsilon) + self.beta
'''


TORCH_VARIANTS = {"var_mean_lerp": TORCH_VAR_MEAN, "flat_einsum": TORCH_FLAT}
TF_VARIANTS = {"moments": TF_MOMENTS, "tf_ops_assign_sub": TF_RAW}

# the torch variants and `moments` run every check (the training run and model.fit too);
# `tf_ops_assign_sub` stops before model.fit, to save time
test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=TORCH_FAST),
    *bugs("tf", TF_BUGS, only=TF_FAST),
    *variants("torch", TORCH_VARIANTS),
    *variants("tf", TF_VARIANTS, only=lambda name: None if name == "moments" else TF_FAST),
], slow=["tf-moments"])


@needs("tf")
@pytest.mark.tf
def test_keras_moving_variance_is_the_biased_batch_variance():
    """The convention the statement states for Keras, checked on the installed version."""
    import keras

    x = np.random.default_rng(0).normal(size=(2, 3, 3, 2)).astype("float32")
    bn = keras.layers.BatchNormalization(momentum=0.0)
    bn(x, training=True)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.reshape(-1, 2).var(0), rtol=1e-5)


@needs("torch")
@pytest.mark.torch
def test_torch_running_var_is_the_unbiased_batch_variance():
    import torch

    x = torch.randn(2, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    bn = torch.nn.BatchNorm2d(2, momentum=1.0)
    bn(x)
    want = x.transpose(0, 1).reshape(2, -1).var(1, unbiased=True)
    torch.testing.assert_close(bn.running_var, want)
