"""14_gradient_flow: typical bugs are caught by the right check; correct variants pass."""

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

EX = "14_gradient_flow"
FAST = ["api", "structure", "blocks", "norms", "side_effects", "ratio", "starvation"]
# over ~2 s each (--durations=0): the Keras variants that run the depth-50 starvation check
SLOW = ["tf-sequential_hidden_and_loss_object", "tf-functional_blocks_and_manual_softmax"]

T_NORMS = "    return [float(torch.linalg.vector_norm(g)) for g in grads]\n"
T_GRAD = "    grads = torch.autograd.grad(loss, weights)\n"
T_WEIGHTS = "    weights = [block.linear.weight for block in model.hidden]\n"
T_LOSS = "    loss = F.cross_entropy(model(x), y)\n"
T_SKIP = "        return x + out if self.residual else out"

TORCH_BUGS = {
    "reversed_order": ([(T_NORMS, T_NORMS.replace("grads]", "grads][::-1]"))], "norms", "reverse order"),
    "squared_norms": ([(T_NORMS, "    return [float(torch.linalg.vector_norm(g) ** 2) for g in grads]\n")],
                      "norms", "SQUARED"),
    "bias_included": (
        [(T_WEIGHTS, "    weights = [p for b in model.hidden for p in (b.linear.weight, b.linear.bias)]\n"),
         (T_NORMS, "    return [float(torch.sqrt(w.norm() ** 2 + b.norm() ** 2))\n"
                   "            for w, b in zip(grads[::2], grads[1::2])]\n")],
        "norms", "bias gradient was included",
    ),
    "every_parameter": ([(T_WEIGHTS, "    weights = list(model.parameters())\n")],
                        "norms", "one number per parameter tensor, stem and head included"),
    "stem_and_head_included": (
        [(T_WEIGHTS, "    weights = [model.stem.weight, *[b.linear.weight for b in model.hidden], "
                     "model.head.weight]\n")],
        "norms", "stem and the head were included",
    ),
    "norms_of_the_weights": (
        [(T_NORMS, "    return [float(torch.linalg.vector_norm(w.detach())) for w in weights]\n")],
        "norms", "norms of the weights themselves",
    ),
    "mse_loss": (
        [(T_LOSS, "    loss = F.mse_loss(model(x), F.one_hot(y, model.head.out_features).float())\n")],
        "norms", "MSE between logits",
    ),
    "softmax_then_cross_entropy": (
        [(T_LOSS, "    loss = F.cross_entropy(torch.softmax(model(x), dim=1), y)\n")],
        "norms", "applied softmax",
    ),
    "summed_loss": ([(T_LOSS, "    loss = F.cross_entropy(model(x), y, reduction='sum')\n")],
                    "norms", "SUMMED"),
    "grads_accumulate": (
        [(T_GRAD + T_NORMS, "    loss.backward()\n"
                            "    return [float(torch.linalg.vector_norm(w.grad)) for w in weights]\n")],
        "side_effects", "ACCUMULATE",
    ),
    "grads_left_behind": (
        [(T_GRAD + T_NORMS, "    model.zero_grad()\n    loss.backward()\n"
                            "    return [float(torch.linalg.vector_norm(w.grad)) for w in weights]\n")],
        "side_effects", "left gradients behind",
    ),
    "takes_a_step": (
        [(T_NORMS, "    with torch.no_grad():\n        for w, g in zip(weights, grads):\n"
                   "            w -= 0.1 * g\n" + T_NORMS)],
        "side_effects", "changed the weights themselves",
    ),
    "residual_without_skip": ([(T_SKIP, "        return out")], "blocks", "does not add its input"),
    "plain_with_skip": ([("residual=False)", "residual=True)")], "blocks", "the plain net must have NO skip"),
    "activation_after_add": (
        [(T_SKIP, "        return torch.tanh(x + self.linear(x)) if self.residual else out")],
        "blocks", "activation comes after the add",
    ),
    "relu_not_tanh": ([("out = torch.tanh(self.linear(x))", "out = torch.relu(self.linear(x))")],
                      "blocks", "ReLU instead of tanh"),
    "softmax_output": ([("return self.head(x)  # logits", "return torch.softmax(self.head(x), dim=1)")],
                       "blocks", "softmax probabilities"),
    "one_block_short": ([("for _ in range(depth))", "for _ in range(depth - 1))")], "structure",
                        "depth counts the width -> width hidden layers"),
    "projection_on_the_skip": (
        [("        self.residual = residual\n",
          "        self.residual = residual\n"
          "        self.shortcut = nn.Linear(width, width, bias=False) if residual else None\n")],
        "structure", "A skip connection adds NO parameters",
    ),
    "ratio_first_over_last": ([("float(norms[-1] / norms[0])", "float(norms[0] / norms[-1])")],
                              "ratio", "that is first / last"),
    "grads_not_zeroed_before_backward": (
        [(T_GRAD + T_NORMS, "    loss.backward()\n"
                            "    norms = [float(torch.linalg.vector_norm(w.grad)) for w in weights]\n"
                            "    model.zero_grad(set_to_none=True)\n"
                            "    return norms\n")],
        "side_effects", "were ADDED onto the ones already in .grad",
    ),
    "zeroes_none_grads": (
        [(T_GRAD + T_NORMS, "    for p in model.parameters():\n        p.grad.zero_()\n"
                            "    loss.backward()\n"
                            "    return [float(torch.linalg.vector_norm(w.grad)) for w in weights]\n")],
        "norms", "every .grad None",
    ),
    "names_sorted_as_strings": (
        [(T_WEIGHTS, "    weights = [p for n, p in sorted(model.named_parameters())\n"
                     "               if n.startswith(\"hidden.\") and n.endswith(\".weight\")]\n")],
        "norms", "NAME order",
    ),
    "spectral_norm": ([(T_NORMS, "    return [float(torch.linalg.norm(g, 2)) for g in grads]\n")],
                      "norms", "SPECTRAL norms"),
    "root_mean_square": ([(T_NORMS, "    return [float(g.pow(2).mean().sqrt()) for g in grads]\n")],
                         "norms", "root-mean-square"),
    "ratio_max_over_min": ([("float(norms[-1] / norms[0])", "float(max(norms) / min(norms))")],
                           "ratio", "that is max / min"),
    "xavier_zero_bias_init": (
        [("        self.residual = residual\n",
          "        self.residual = residual\n        nn.init.xavier_uniform_(self.linear.weight)\n"
          "        nn.init.zeros_(self.linear.bias)\n")],
        "structure", "do not re-initialise",
    ),
}

K_NORMS = "    return [float(tf.norm(g)) for g in grads]\n"
K_GRADS = "    grads = tape.gradient(loss, [block.linear.kernel for block in model.hidden])\n"
K_LOSS = ("        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, "
          "from_logits=True))\n")
K_SKIP = "        return x + out if self.residual else out"

TF_BUGS = {
    "init_scale_not_a_third": (
        [("VarianceScaling(scale=1 / 3,", "VarianceScaling(scale=2 / 3,")],
        "structure", "uniform in ±1/√fan_in",
    ),
    "reversed_order": ([(K_NORMS, K_NORMS.replace("grads]", "reversed(grads)]"))], "norms", "reverse order"),
    "squared_norms": ([(K_NORMS, "    return [float(tf.reduce_sum(tf.square(g))) for g in grads]\n")],
                      "norms", "SQUARED"),
    "bias_included": (
        [(K_GRADS, "    grads = tape.gradient(loss, [b.linear.trainable_weights for b in model.hidden])\n"),
         (K_NORMS, "    return [float(tf.linalg.global_norm(g)) for g in grads]\n")],
        "norms", "bias gradient was included",
    ),
    "stem_and_head_included": (
        [(K_GRADS, "    layers = [model.stem, *[b.linear for b in model.hidden], model.head]\n"
                   "    grads = tape.gradient(loss, [layer.kernel for layer in layers])\n")],
        "norms", "stem and the head were included",
    ),
    "norms_of_the_kernels": (
        [(K_NORMS, "    return [float(tf.norm(b.linear.kernel)) for b in model.hidden]\n")],
        "norms", "norms of the weights themselves",
    ),
    "from_logits_false": ([(K_LOSS, K_LOSS.replace("from_logits=True", "from_logits=False"))],
                          "norms", "treated the logits as probabilities"),
    "mse_loss": (
        [(K_LOSS, "        loss = tf.reduce_mean(tf.square(logits - tf.one_hot(y, logits.shape[-1])))\n")],
        "norms", "MSE between logits",
    ),
    "summed_loss": ([(K_LOSS, K_LOSS.replace("reduce_mean", "reduce_sum"))], "norms", "SUMMED"),
    "applies_the_gradients": (
        [(K_NORMS, "    keras.optimizers.SGD(0.1).apply_gradients(\n"
                   "        zip(grads, [b.linear.kernel for b in model.hidden]))\n" + K_NORMS)],
        "side_effects", "changed the weights themselves",
    ),
    "residual_without_skip": ([(K_SKIP, "        return out")], "blocks", "does not add its input"),
    "activation_after_add": (
        [(K_SKIP, "        return keras.ops.tanh(x + self.linear(x)) if self.residual else out")],
        "blocks", "activation comes after the add",
    ),
    "one_block_short": ([("for _ in range(depth)]", "for _ in range(depth - 1)]")], "structure",
                        "depth counts the width -> width hidden layers"),
    "ratio_first_over_last": ([("float(norms[-1] / norms[0])", "float(norms[0] / norms[-1])")],
                              "ratio", "that is first / last"),
    "spectral_norm": ([(K_NORMS, "    return [float(keras.ops.norm(g, ord=2)) for g in grads]\n")],
                      "norms", "SPECTRAL norms"),
    "root_mean_square": (
        [(K_NORMS, "    return [float(tf.sqrt(tf.reduce_mean(tf.square(g)))) for g in grads]\n")],
        "norms", "root-mean-square",
    ),
    "forward_outside_the_tape": (
        [("    with tf.GradientTape() as tape:\n        logits = model(x, training=False)\n",
          "    logits = model(x, training=False)\n    with tf.GradientTape() as tape:\n")],
        "norms", "Run the forward pass (model(x)) and the loss inside",
    ),
    "ratio_max_over_min": ([("float(norms[-1] / norms[0])", "float(max(norms) / min(norms))")],
                           "ratio", "that is max / min"),
    "keras_default_init": (
        [("    return keras.layers.Dense(units, kernel_initializer=torch_init(), "
          "bias_initializer=torch_init())",
          "    return keras.layers.Dense(units)")],
        "starvation", "Keras' default init (Glorot-uniform, zero biases)",
    ),
}


@needs("torch")
@pytest.mark.torch
def test_torch_training_check_fails_when_the_residual_net_has_no_skip(grade_source):
    source = mutate(solution_source(EX, "torch"), *TORCH_BUGS["residual_without_skip"][0])
    record = grade_source(EX, "torch", source, only=["training"])
    result = check_of(record, "training")
    assert result.status == "fail"
    assert "at most 0.5 x the plain one's" in result.message
    assert result.details["plain_loss_curve"] and result.details["residual_loss_curve"]


TORCH_VARIANTS = {
    "sequential_blocks_and_backward": """
        import numpy as np
        import torch
        from torch import nn


        class Plain(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.linear = nn.Linear(width, width)

            def forward(self, x):
                return self.linear(x).tanh()


        class Residual(Plain):
            def forward(self, x):
                return super().forward(x) + x


        class Net(nn.Module):
            def __init__(self, block, depth, width, in_features, num_classes):
                super().__init__()
                self.stem = nn.Linear(in_features, width)
                self.hidden = nn.Sequential(*[block(width) for _ in range(depth)])
                self.head = nn.Linear(width, num_classes)

            def forward(self, x):
                return self.head(self.hidden(self.stem(x)))


        def make_plain(depth, width, in_features, num_classes):
            return Net(Plain, depth, width, in_features, num_classes)


        def make_residual(depth, width, in_features, num_classes):
            return Net(Residual, depth, width, in_features, num_classes)


        def layer_grad_norms(model, x, y):
            model.zero_grad(set_to_none=True)
            nn.CrossEntropyLoss()(model(x), y).backward()
            norms = [m.linear.weight.grad.norm().item() for m in model.hidden]
            model.zero_grad(set_to_none=True)
            return norms


        def starvation_ratio(norms):
            return float(np.asarray(norms)[-1] / np.asarray(norms)[0])
    """,
    "one_class_with_flag_and_log_softmax": """
        import torch
        import torch.nn.functional as F
        from torch import nn


        class Layer(nn.Module):
            def __init__(self, width, skip):
                super().__init__()
                self.skip = skip
                self.linear = nn.Linear(width, width)

            def forward(self, x):
                y = torch.tanh(self.linear(x))
                if self.skip:
                    y = y + x
                return y


        def _build(depth, width, in_features, num_classes, skip):
            model = nn.Module()
            model.stem = nn.Linear(in_features, width)
            model.hidden = nn.ModuleList([Layer(width, skip) for _ in range(depth)])
            model.head = nn.Linear(width, num_classes)

            def forward(x):
                h = model.stem(x)
                for layer in model.hidden:
                    h = layer(h)
                return model.head(h)

            model.forward = forward
            return model


        def make_plain(depth, width, in_features, num_classes):
            return _build(depth, width, in_features, num_classes, False)


        def make_residual(depth, width, in_features, num_classes):
            return _build(depth, width, in_features, num_classes, True)


        def layer_grad_norms(model, x, y):
            loss = F.nll_loss(F.log_softmax(model(x), dim=-1), y)
            weights = [layer.linear.weight for layer in model.hidden]
            return [torch.sqrt((g * g).sum()).item() for g in torch.autograd.grad(loss, weights)]


        def starvation_ratio(norms):
            first, *_, last = norms
            return last / first
    """,
}

TF_VARIANTS = {
    "sequential_hidden_and_loss_object": """
        import keras
        import tensorflow as tf

        INIT = dict(kernel_initializer=keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
                    bias_initializer=keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"))


        class Hidden(keras.layers.Layer):
            def __init__(self, width, skip, **kwargs):
                super().__init__(**kwargs)
                self.skip = skip
                self.linear = keras.layers.Dense(width, activation="tanh", **INIT)

            def call(self, x, training=None):
                return x + self.linear(x) if self.skip else self.linear(x)


        class Net(keras.Model):
            def __init__(self, depth, width, num_classes, skip):
                super().__init__()
                self.stem = keras.layers.Dense(width, **INIT)
                self.hidden = keras.Sequential([Hidden(width, skip) for _ in range(depth)])
                self.head = keras.layers.Dense(num_classes, **INIT)

            def call(self, x, training=None):
                return self.head(self.hidden(self.stem(x)))


        def make_plain(depth, width, in_features, num_classes):
            return Net(depth, width, num_classes, skip=False)


        def make_residual(depth, width, in_features, num_classes):
            return Net(depth, width, num_classes, skip=True)


        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


        def layer_grad_norms(model, x, y):
            kernels = [layer.linear.kernel for layer in model.hidden.layers]
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x))
            return [tf.sqrt(tf.reduce_sum(g * g)).numpy().item() for g in tape.gradient(loss, kernels)]


        def starvation_ratio(norms):
            return norms[-1] / norms[0]
    """,
    "functional_blocks_and_manual_softmax": """
        import keras
        import tensorflow as tf


        def _dense(units):
            init = keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform")
            return keras.layers.Dense(units, kernel_initializer=init, bias_initializer=init)


        class Block(keras.layers.Layer):
            def __init__(self, width, residual):
                super().__init__()
                self.linear = _dense(width)
                self.residual = residual

            def call(self, x):
                f = tf.tanh(self.linear(x))
                return tf.add(x, f) if self.residual else f


        class Net(keras.Model):
            def __init__(self, depth, width, num_classes, residual):
                super().__init__()
                self.stem, self.head = _dense(width), _dense(num_classes)
                self.hidden = [Block(width, residual) for _ in range(depth)]

            def call(self, x):
                for layer in [self.stem, *self.hidden, self.head]:
                    x = layer(x)
                return x


        def make_plain(depth, width, in_features, num_classes):
            return Net(depth, width, num_classes, False)


        def make_residual(depth, width, in_features, num_classes):
            return Net(depth, width, num_classes, True)


        def layer_grad_norms(model, x, y):
            with tf.GradientTape() as tape:
                logp = tf.nn.log_softmax(model(x, training=False))
                loss = -tf.reduce_mean(tf.gather(logp, tf.cast(y, tf.int32), batch_dims=1))
            grads = tape.gradient(loss, [b.linear.kernel for b in model.hidden])
            return [float(tf.norm(g)) for g in grads]


        def starvation_ratio(norms):
            return float(norms[-1]) / float(norms[0])
    """,
}


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=FAST),
    # only the named check (and the api gate): a 50-layer Keras model takes a second to build
    *bugs("tf", TF_BUGS, only=lambda named: ["api", *named]),
    *variants("torch", TORCH_VARIANTS),
    # the training race (about 4 s in Keras) runs for the last variant only
    *variants("tf", TF_VARIANTS,
              only=lambda variant: None if variant == "functional_blocks_and_manual_softmax" else FAST),
], slow=SLOW)
