"""08_gradient_clipping: typical bugs are caught by the right check; correct variants pass."""

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

EX = "08_gradient_clipping"
TORCH_FAST = ["api", "from_scratch", "global_norm", "under_bound", "none_grads", "norm_type",
              "inputs", "clip_value"]
TF_FAST = ["api", "from_scratch", "global_norm", "under_bound", "none_grads", "inputs", "train_step"]

SCALE = "    for g in grads:\n        g.mul_(scale)  # in place: p.grad itself changes\n"

TORCH_BUGS = {
    "clips_by_value": (
        [(SCALE, "    for g in grads:\n        g.clamp_(-max_norm, max_norm)\n")],
        "global_norm", "clipping by VALUE",
    ),
    "per_tensor_norm": (
        [(SCALE, "    for g in grads:\n"
                 "        g.mul_(torch.clamp(max_norm / (torch.linalg.vector_norm(g) + 1e-6), max=1.0))\n")],
        "global_norm", "its own norm",
    ),
    "returns_post_clip_norm": (
        [("    return total_norm\n", "    return total_norm * scale\n")],
        "global_norm", "AFTER clipping",
    ),
    "no_square_root": (
        [("total_norm = torch.linalg.vector_norm(norms, norm_type)",
          "total_norm = (norms**2).sum()")],
        "global_norm", "without its square root",
    ),
    "local_rebinding": (
        [("        g.mul_(scale)  # in place: p.grad itself changes", "        g = g * scale")],
        "global_norm", "`g = g * scale`, does not change p.grad",
    ),
    "scales_up_under_bound": (
        [("scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)",
          "scale = max_norm / (total_norm + 1e-6)")],
        "under_bound", "scaled UP",
    ),
    "none_grad_crashes": (
        [("grads = [p.grad for p in parameters if p.grad is not None]",
          "grads = [p.grad for p in parameters]")],
        "none_grads", "Skip parameters whose .grad is None",
    ),
    "ignores_inf_norm": (
        [("norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])",
          "norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])"),
         ("total_norm = torch.linalg.vector_norm(norms, norm_type)",
          "total_norm = torch.linalg.vector_norm(norms)")],
        "norm_type", "L2 norm was used",
    ),
    "string_inf_not_converted": (
        [("    norm_type = float(norm_type)  # also turns 'inf' into inf\n", "")],
        "norm_type", "float(norm_type)",
    ),
    "single_tensor_iterated": (
        [("    if isinstance(parameters, torch.Tensor):\n        parameters = [parameters]\n"
          "    grads = [p.grad for p in parameters if p.grad is not None]  # a list",
          "    grads = [p.grad for p in parameters if p.grad is not None]  # a list")],
        "inputs", "A single tensor counts as [tensor]",
    ),
    "generator_read_twice": (
        [(SCALE, "    for p in parameters:\n        if p.grad is not None:\n"
                 "            p.grad.mul_(scale)\n")],
        "inputs", "A generator can be iterated once",
    ),
    "calls_the_library": (
        [("    if isinstance(parameters, torch.Tensor):\n        parameters = [parameters]\n"
          "    grads = [p.grad for p in parameters if p.grad is not None]  # a list",
          "    return torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type)\n"
          "    grads = [p.grad for p in parameters if p.grad is not None]  # a list")],
        "from_scratch", "torch.nn.utils.clip_grad_norm_",
    ),
    "imports_the_library_helper": (
        [("import torch\n", "import torch\nfrom torch.nn.utils import get_total_norm\n"),
         ("    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])\n"
          "    total_norm = torch.linalg.vector_norm(norms, norm_type)",
          "    total_norm = get_total_norm(grads, norm_type)")],
        "from_scratch", "torch.nn.utils.get_total_norm",
    ),
    "value_clipping_by_norm": (
        [("            p.grad.clamp_(-clip_value, clip_value)",
          "            p.grad.mul_(min(1.0, clip_value / float(p.grad.norm())))")],
        "clip_value", "clipping by NORM",
    ),
    "norm_of_the_weights": (
        [("norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])",
          "norms = torch.stack([torch.linalg.vector_norm(p, norm_type) for p in parameters\n"
          "                         if p.grad is not None])")],
        "global_norm", "norm of the parameters themselves",
    ),
    "misnamed_function": (
        [("def clip_grad_value(", "def clip_grad_values(")],
        "api", "no function named `clip_grad_value`",
    ),
    "sum_of_norms": (
        [("total_norm = torch.linalg.vector_norm(norms, norm_type)", "total_norm = norms.sum()")],
        "global_norm", "SUM of the per-tensor norms",
    ),
    "inf_norm_without_abs": (
        [("    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])\n"
          "    total_norm = torch.linalg.vector_norm(norms, norm_type)",
          "    if norm_type == float('inf'):\n"
          "        total_norm = torch.stack([g.max() for g in grads]).max()\n"
          "    else:\n"
          "        norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])\n"
          "        total_norm = torch.linalg.vector_norm(norms, norm_type)")],
        "norm_type", "largest ABSOLUTE element",
    ),
    "factor_upside_down": (
        [("scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)",
          "scale = torch.clamp(total_norm / max_norm, min=1.0)")],
        "global_norm", "the factor is upside down",
    ),
    "all_none_returns_none": (
        [("        return torch.tensor(0.0)\n", "        return None\n")],
        "none_grads", "0 when every gradient is None",
    ),
    "all_none_crashes": (
        [("    if not grads:\n        return torch.tensor(0.0)\n", "")],
        "none_grads", "nothing to measure or scale",
    ),
    "value_upper_bound_only": (
        [("p.grad.clamp_(-clip_value, clip_value)", "p.grad.clamp_(max=clip_value)")],
        "clip_value", "only the upper bound was applied",
    ),
    "value_clamped_to_zero_and_c": (
        [("p.grad.clamp_(-clip_value, clip_value)", "p.grad.clamp_(0, clip_value)")],
        "clip_value", "clamped to [0, clip_value]",
    ),
    "value_none_grad_crashes": (
        [("        if p.grad is not None:\n            p.grad.clamp_",
          "        if True:\n            p.grad.clamp_")],
        "clip_value", "Skip parameters whose .grad is None",
    ),
    "value_single_tensor_iterated": (
        [("    if isinstance(parameters, torch.Tensor):\n        parameters = [parameters]\n"
          "    for p in parameters:", "    for p in parameters:")],
        "clip_value", "A single tensor counts as [tensor]",
    ),
    "value_clamps_the_weights": (
        [("p.grad.clamp_(-clip_value, clip_value)", "p.clamp_(-clip_value, clip_value)")],
        "clip_value", "changed the parameters themselves",
    ),
    "changes_the_weights": (
        [(SCALE, "    for p in (parameters if isinstance(parameters, list) else []):\n"
                 "        p.mul_(scale)\n" + SCALE)],
        "global_norm", "changed the parameters themselves",
    ),
}

TF_BUGS = {
    "train_step_without_max_norm": (
        [("def train_step(model, optimizer, x, y, max_norm):", "def train_step(model, optimizer, x, y):"),
         ("_ = clip_by_global_norm(grads, max_norm)", "_ = clip_by_global_norm(grads, 1.0)")],
        "api", "cannot be called as `train_step(model, optimizer, x, y, 1.0)`",
    ),
    "clips_by_value": (
        [("clipped = [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]",
          "clipped = [None if g is None else tf.clip_by_value(g, -max_norm, max_norm) for g in grads]")],
        "global_norm", "clipping by VALUE",
    ),
    "per_tensor_norm": (
        [("clipped = [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]",
          "clipped = [None if g is None else g * max_norm / tf.maximum(tf.norm(g), max_norm)\n"
          "               for g in grads]")],
        "global_norm", "its own norm",
    ),
    "returns_post_clip_norm": (
        [("    return clipped, norm\n", "    return clipped, tf.minimum(norm, max_norm)\n")],
        "global_norm", "AFTER clipping",
    ),
    "no_square_root": (
        [("norm = tf.sqrt(tf.add_n(", "norm = (tf.add_n(")],
        "global_norm", "without its square root",
    ),
    "scales_up_under_bound": (
        [("scale = max_norm / tf.maximum(norm, max_norm)", "scale = max_norm / norm")],
        "under_bound", "scaled UP",
    ),
    "drops_none_entries": (
        [("clipped = [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]",
          "clipped = [g * tf.cast(scale, g.dtype) for g in present]")],
        "none_grads", "None where the input was None",
    ),
    "none_becomes_zero": (
        [("clipped = [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]",
          "clipped = [tf.zeros(()) if g is None else g * tf.cast(scale, g.dtype) for g in grads]")],
        "none_grads", "Leave None entries alone",
    ),
    "sum_of_norms": (
        [("norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in present]))",
          "norm = tf.add_n([tf.norm(g) for g in present])")],
        "global_norm", "SUM of the per-tensor norms",
    ),
    "none_grad_crashes": (
        [("tf.cast(g, tf.float32))) for g in present]))", "tf.cast(g, tf.float32))) for g in grads]))")],
        "none_grads", "Compute the norm over the entries that are not None",
    ),
    "all_none_crashes": (
        [("    if not present:\n        return list(grads), tf.constant(0.0)\n", "")],
        "none_grads", "nothing to measure or scale",
    ),
    "loss_on_probabilities": (
        [("keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)\n        )",
          "keras.losses.sparse_categorical_crossentropy(y, logits)\n        )")],
        "train_step", "from_logits=True",
    ),
    "model_not_in_training_mode": (
        [("logits = model(x, training=True)", "logits = model(x)")],
        "train_step", "call model(x, training=True)",
    ),
    "calls_the_library": (
        [("    present = [g for g in grads if g is not None]\n",
          "    return tf.clip_by_global_norm(grads, max_norm)\n")],
        "from_scratch", "tf.clip_by_global_norm",
    ),
    "library_norm": (
        [("norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in present]))",
          "norm = tf.linalg.global_norm(present)")],
        "from_scratch", "tf.linalg.global_norm",
    ),
    "applies_before_clipping": (
        [("    clipped, _ = clip_by_global_norm(grads, max_norm)\n"
          "    optimizer.apply_gradients(zip(clipped, model.trainable_variables, strict=True))\n",
          "    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))\n"
          "    clipped, _ = clip_by_global_norm(grads, max_norm)\n")],
        "train_step", "UNCLIPPED",
    ),
    "never_clips": (
        [("optimizer.apply_gradients(zip(clipped, model.trainable_variables, strict=True))",
          "optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))")],
        "train_step", "UNCLIPPED",
    ),
    "returns_post_update_loss": (
        [("    return loss\n",
          "    logits = model(x, training=True)\n"
          "    return tf.reduce_mean(\n"
          "        keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))\n")],
        "train_step", "AFTER the update",
    ),
    "applies_twice": (
        [("    optimizer.apply_gradients(zip(clipped, model.trainable_variables, strict=True))\n",
          "    optimizer.apply_gradients(zip(clipped, model.trainable_variables, strict=True))\n"
          "    optimizer.apply_gradients(zip(clipped, model.trainable_variables, strict=True))\n")],
        "train_step", "2 steps",
    ),
    "summed_loss": (
        [("        loss = tf.reduce_mean(\n", "        loss = tf.reduce_sum(\n")],
        "train_step", "summed loss",
    ),
}


@needs("torch")
@pytest.mark.torch
def test_torch_exploding_run_fails_without_clipping_and_shows_both_curves(grade_source):
    source = mutate(solution_source(EX, "torch"), (SCALE, ""))
    record = grade_source(EX, "torch", source, only=["exploding"])
    result = check_of(record, "exploding")
    assert result.status == "fail"
    assert "the loss without clipping became nan" in result.message
    assert "also became nan" in result.message
    assert result.details["unclipped_curve"][-1] is None
    assert result.details["clipped_curve"][-1] is None
    # the report's curve holds the finite losses only, up to the blow-up
    assert result.loss_curve == result.details["clipped_curve"][:-1]


@needs("tf")
@pytest.mark.tf
def test_tf_exploding_run_fails_when_train_step_does_not_clip(grade_source):
    source = mutate(solution_source(EX, "tf"), *TF_BUGS["never_clips"][0])
    record = grade_source(EX, "tf", source, only=["exploding"])
    result = check_of(record, "exploding")
    assert result.status == "fail"
    assert "also became nan" in result.message


@needs("torch")
@pytest.mark.torch
def test_torch_exploding_run_passes_and_reports_the_unclipped_blowup(grade_source):
    record = grade_source(EX, "torch", solution_source(EX, "torch"), only=["exploding"])
    result = check_of(record, "exploding")
    assert result.status == "pass", result.message
    assert "without clipping the loss became nan" in result.message
    assert all(v is not None for v in result.details["clipped_curve"])
    assert result.loss_curve == result.details["clipped_curve"]

TORCH_VARIANTS = {
    "concatenated_vector_and_replaced_grads": """
        import torch

        def clip_grad_norm(parameters, max_norm, norm_type=2.0):
            params = [parameters] if torch.is_tensor(parameters) else list(parameters)
            with_grad = [p for p in params if p.grad is not None]
            if not with_grad:
                return 0.0
            flat = torch.cat([p.grad.detach().reshape(-1) for p in with_grad])
            p = float(norm_type)
            total = flat.abs().max() if p == float("inf") else flat.abs().pow(p).sum().pow(1.0 / p)
            if total > max_norm:
                for q in with_grad:
                    q.grad = q.grad * (max_norm / total)
            return float(total)

        def clip_grad_value(parameters, clip_value):
            params = [parameters] if torch.is_tensor(parameters) else list(parameters)
            for q in params:
                if q.grad is not None:
                    q.grad = torch.clamp(q.grad, -clip_value, clip_value)
    """,
    "old_torch_style_with_foreach": """
        import math
        import torch

        def clip_grad_norm(parameters, max_norm, norm_type=2.0):
            if isinstance(parameters, torch.Tensor):
                parameters = [parameters]
            parameters = [p for p in parameters if p.grad is not None]
            max_norm, norm_type = float(max_norm), float(norm_type)
            if len(parameters) == 0:
                return torch.tensor(0.0)
            with torch.no_grad():
                if norm_type == math.inf:
                    total_norm = max(p.grad.detach().abs().max() for p in parameters)
                else:
                    total_norm = torch.norm(
                        torch.stack([torch.norm(p.grad.detach(), norm_type) for p in parameters]),
                        norm_type,
                    )
                clip_coef = max_norm / (total_norm + 1e-6)
                if clip_coef < 1:
                    torch._foreach_mul_([p.grad for p in parameters], clip_coef.item())
            return total_norm

        def clip_grad_value(parameters, clip_value):
            if isinstance(parameters, torch.Tensor):
                parameters = [parameters]
            with torch.no_grad():
                for p in filter(lambda p: p.grad is not None, parameters):
                    p.grad.data.clamp_(min=-clip_value, max=clip_value)
    """,
}

TF_VARIANTS = {
    "keras_ops_and_compiled_step": """
        import keras
        import tensorflow as tf
        from keras import ops

        def clip_by_global_norm(grads, max_norm):
            squares = [ops.sum(ops.square(g)) for g in grads if g is not None]
            norm = ops.sqrt(ops.sum(ops.stack(squares))) if squares else ops.convert_to_tensor(0.0)
            factor = ops.minimum(1.0, max_norm / ops.maximum(norm, 1e-12))
            return [g if g is None else g * factor for g in grads], norm

        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function
        def train_step(model, optimizer, x, y, max_norm):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            variables = model.trainable_variables
            grads, _ = clip_by_global_norm(tape.gradient(loss, variables), max_norm)
            optimizer.apply_gradients(list(zip(grads, variables)))
            return loss
    """,
    "per_tensor_norms_then_global": """
        import keras
        import tensorflow as tf

        def clip_by_global_norm(grads, max_norm):
            norms = [tf.norm(g) for g in grads if g is not None]
            total = tf.sqrt(tf.reduce_sum(tf.square(tf.stack(norms)))) if norms else 0.0
            if float(total) <= max_norm:
                return list(grads), total
            ratio = max_norm / total
            return [None if g is None else g * ratio for g in grads], total

        def train_step(model, optimizer, x, y, max_norm):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                per_example = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
                loss = keras.ops.mean(per_example)
            grads = tape.gradient(loss, model.trainable_weights)
            clipped, norm = clip_by_global_norm(grads, max_norm)
            optimizer.apply(clipped, model.trainable_weights)
            return float(loss)
    """,
}


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=TORCH_FAST), *bugs("tf", TF_BUGS, only=TF_FAST),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=["tf-keras_ops_and_compiled_step", "tf-per_tensor_norms_then_global"])
