"""09_finetune_freezing: typical fine-tuning bugs fail the right check; correct variants pass."""

from __future__ import annotations

import importlib

import pytest

from resnet_kata import catalog, worker

from .conftest import assert_caught, bugs, case_test, check_of, needs, variants

EX = "09_finetune_freezing"
STATIC = ["api", "head", "frozen", "batchnorm", "optimizer", "unfreeze"]
TRAINING = ["api", "head", "frozen", "optimizer", "finetune"]

TORCH_ONCE = (
    "    model.train = types.MethodType(_frozen_bn_stays_in_eval, model)\n"
    "    return model.train(model.training)"
)

TORCH_BUGS = {
    "train_override_defaults_to_eval": (
        [("def _frozen_bn_stays_in_eval(model: nn.Module, mode: bool = True)",
          "def _frozen_bn_stays_in_eval(model: nn.Module, mode: bool = False)")],
        "unfreeze", "an override of train() must default to mode=True",
    ),
    "unfreeze_ignores_its_stage": (
        [("    getattr(model, stage).requires_grad_(True)",
          "    model.layer4.requires_grad_(True)")],
        "unfreeze", "must use its `stage` argument",
    ),
    "requires_grad_only": (
        [(TORCH_ONCE, "    return model")],
        "batchnorm", "freezes gamma and beta but not the running mean",
    ),
    "eval_once_then_model_train": (
        [(TORCH_ONCE, "    return _frozen_bn_stays_in_eval(model, False)")],
        "batchnorm", "`model.train()` switched them back",
    ),
    "momentum_zero_instead_of_eval": (
        [(TORCH_ONCE, "    for m in model.modules():\n        if isinstance(m, _BN):\n"
                      "            m.momentum = 0.0\n    return model")],
        "batchnorm", "normalise with the batch's statistics",
    ),
    "head_stacked_on_old_logits": (
        [("model.fc = nn.Linear(model.fc.in_features, num_classes)",
          "model.fc = nn.Sequential(model.fc, nn.Linear(model.fc.out_features, num_classes))")],
        "head", "old 4-way logits",
    ),
    "hard_coded_in_features": (
        [("nn.Linear(model.fc.in_features, num_classes)", "nn.Linear(512, num_classes)")],
        "head", "expected Linear(32, 3)",
    ),
    "head_frozen_too": (
        [("    model.requires_grad_(False)\n"
          "    model.fc = nn.Linear(model.fc.in_features, num_classes)  # replaces the old head\n",
          "    model.fc = nn.Linear(model.fc.in_features, num_classes)\n"
          "    model.requires_grad_(False)\n")],
        "frozen", "new head is not trainable",
    ),
    "backbone_not_frozen": (
        [("    model.requires_grad_(False)\n", "")],
        "frozen", "backbone tensors are still trainable",
    ),
    "frozen_params_in_optimizer": (
        [("    return torch.optim.Adam(groups)",
          "    return torch.optim.Adam(model.parameters(), lr=head_lr)")],
        "optimizer", "frozen tensors",
    ),
    "head_and_backbone_lr_swapped": (
        [('groups = [{"params": head, "lr": head_lr}]', 'groups = [{"params": head, "lr": backbone_lr}]'),
         ('groups.append({"params": backbone, "lr": backbone_lr})',
          'groups.append({"params": backbone, "lr": head_lr})')],
        "optimizer", "are head_lr and backbone_lr swapped?",
    ),
    "one_lr_for_everything": (
        [('groups.append({"params": backbone, "lr": backbone_lr})',
          'groups.append({"params": backbone, "lr": head_lr})')],
        "unfreeze", "one learning rate for everything",
    ),
    "unfreeze_forgets_bn": (
        [("if isinstance(m, _BN) and not any(p.requires_grad for p in m.parameters()):",
          "if isinstance(m, _BN):")],
        "unfreeze", "still do not update their running statistics",
    ),
    "unfreeze_everything": (
        [("getattr(model, stage).requires_grad_(True)", "model.requires_grad_(True)")],
        "unfreeze", "outside layer4 are trainable",
    ),
    "prepare_returns_nothing": (
        [(TORCH_ONCE, "    model.train = types.MethodType(_frozen_bn_stays_in_eval, model)\n"
                      "    model.train(model.training)")],
        "head", "returned None",
    ),
}

TF_BUGS = {
    "unfreeze_ignores_its_stage": (
        [('    model.backbone.get_layer(stage).trainable = True',
          '    model.backbone.get_layer("layer4").trainable = True')],
        "unfreeze", "must use its `stage` argument",
    ),
    "head_on_old_logits": (
        [('backbone = keras.Model(base.input, base.get_layer("avgpool").output, name="backbone")',
          "backbone = base")],
        "head", "old 4-way logits",
    ),
    "base_not_frozen": (
        [("    base.trainable = False\n", "")],
        "frozen", "backbone tensors are still trainable",
    ),
    "whole_model_frozen": (
        [("    return FineTuner(backbone, num_classes)",
          "    model = FineTuner(backbone, num_classes)\n    model.trainable = False\n    return model")],
        "frozen", "new head is not trainable",
    ),
    "frozen_variables_in_optimizer": (
        [("    pairs = [(keras.optimizers.Adam(head_lr), head)]",
          "    pairs = [(keras.optimizers.Adam(head_lr), model.weights)]")],
        "optimizer", "frozen tensors",
    ),
    "head_and_backbone_lr_swapped": (
        [("pairs = [(keras.optimizers.Adam(head_lr), head)]",
          "pairs = [(keras.optimizers.Adam(backbone_lr), head)]"),
         ("pairs.append((keras.optimizers.Adam(backbone_lr), backbone))",
          "pairs.append((keras.optimizers.Adam(head_lr), backbone))")],
        "optimizer", "are head_lr and backbone_lr swapped?",
    ),
    "one_lr_for_everything": (
        [("pairs.append((keras.optimizers.Adam(backbone_lr), backbone))",
          "pairs.append((keras.optimizers.Adam(head_lr), backbone))")],
        "unfreeze", "one learning rate for everything",
    ),
    "training_passed_through": (
        [("return self.fc(self.backbone(x, training=False))",
          "return self.fc(self.backbone(x, training=training))")],
        "unfreeze", "changed the moving statistics",
    ),
    "optimizer_not_a_list_of_pairs": (
        [("    return pairs", "    return pairs[0][0]")],
        "optimizer", "(optimizer, variables) pairs",
    ),
}

TF_FUNCTIONAL_TRAINING_FALSE = """
    import keras
    from keras import layers

    def prepare_finetune(base, num_classes):
        base.trainable = False
        inputs = keras.Input((None, None, 3))
        features = keras.Model(base.input, base.get_layer("avgpool").output, name="backbone")
        outputs = layers.Dense(num_classes, name="head")(features(inputs, training=False))
        return keras.Model(inputs, outputs)

    def unfreeze(model, stage):
        model.get_layer("backbone").get_layer(stage).trainable = True
        return model

    def make_optimizers(model, head_lr, backbone_lr):
        head = model.get_layer("head").trainable_weights
        rest = [v for v in model.trainable_weights if all(v is not h for h in head)]
        pairs = [(keras.optimizers.Adam(head_lr), head)]
        if rest:
            pairs.append((keras.optimizers.Adam(backbone_lr), rest))
        return pairs
"""


TF_BN1_LEFT_TRAINABLE = TF_FUNCTIONAL_TRAINING_FALSE.replace(
    "        base.trainable = False\n",
    "        base.trainable = False\n        base.get_layer(\"bn1\").trainable = True\n",
)

# caught only by training: the BN statistics move in every step of the loop
TORCH_TRAINING_BUGS = {
    "stats_moving_during_training": (
        [(TORCH_ONCE, "    return model")],
        "finetune", "frozen BatchNorm statistics changed",
    ),
}


@needs("tf")
@pytest.mark.tf
@pytest.mark.slow
def test_tf_functional_training_false_is_overridden_by_the_outer_call(grade_source):
    record = grade_source(EX, "tf", TF_FUNCTIONAL_TRAINING_FALSE, only=STATIC)
    assert_caught(record, ("unfreeze", "overwritten by the outer call's training=True"))
    assert check_of(record, "batchnorm").status == "pass"  # frozen BN is inference anyway


@needs("tf")
@pytest.mark.tf
@pytest.mark.slow
def test_tf_trainable_batchnorm_updates_its_statistics(grade_source):
    record = grade_source(EX, "tf", TF_BN1_LEFT_TRAINABLE, only=STATIC)
    assert_caught(record, ("batchnorm", "re-estimates its statistics"))
    assert_caught(record, ("frozen", "`bn1/gamma`"))


TORCH_VARIANTS = {
    "forward_pre_hook_and_named_groups": """
        import torch
        import torch.nn as nn

        def _frozen_bn_to_eval(module, args):
            if not any(p.requires_grad for p in module.parameters()):
                module.eval()

        def prepare_finetune(model, num_classes):
            for _, p in model.named_parameters():
                p.requires_grad = False
            in_features = model.fc.in_features
            model.fc = nn.Linear(in_features, num_classes)
            nn.init.zeros_(model.fc.weight)
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.register_forward_pre_hook(_frozen_bn_to_eval)
                    m.eval()
            return model

        def unfreeze(model, stage):
            for p in getattr(model, stage).parameters():
                p.requires_grad = True
            return model

        def make_optimizer(model, head_lr, backbone_lr):
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            return torch.optim.AdamW([
                {"params": [p for n, p in named if n.startswith("fc.")], "lr": head_lr},
                {"params": [p for n, p in named if not n.startswith("fc.")], "lr": backbone_lr},
            ], weight_decay=0.0)
    """,
    "frozen_batchnorm_swapped_in_and_out": """
        import torch
        from torch import nn

        class FrozenBatchNorm2d(nn.Module):
            def __init__(self, bn):
                super().__init__()
                self.eps = bn.eps
                for name in ("weight", "bias", "running_mean", "running_var"):
                    self.register_buffer(name, getattr(bn, name).detach().clone())

            def forward(self, x):
                scale = self.weight * (self.running_var + self.eps).rsqrt()
                shift = self.bias - self.running_mean * scale
                return x * scale[None, :, None, None] + shift[None, :, None, None]

            def thawed(self):
                bn = nn.BatchNorm2d(len(self.weight), eps=self.eps)
                with torch.no_grad():
                    for name in ("weight", "bias", "running_mean", "running_var"):
                        getattr(bn, name).copy_(getattr(self, name))
                return bn

        def _swap(module, kind, make):
            for name, child in module.named_children():
                if isinstance(child, kind):
                    setattr(module, name, make(child))
                else:
                    _swap(child, kind, make)

        def prepare_finetune(model, num_classes):
            model.requires_grad_(False)
            _swap(model, nn.BatchNorm2d, FrozenBatchNorm2d)
            model.fc = nn.Linear(model.fc.in_features, num_classes)
            return model

        def unfreeze(model, stage):
            part = getattr(model, stage)
            _swap(part, FrozenBatchNorm2d, lambda m: m.thawed().train(model.training))
            part.requires_grad_(True)
            return model

        def make_optimizer(model, head_lr, backbone_lr):
            head = list(model.fc.parameters())
            ids = {id(p) for p in head}
            rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
            opt = torch.optim.Adam(head, lr=head_lr)
            if rest:
                opt.add_param_group({"params": rest, "lr": backbone_lr})
            return opt
    """,
}

TF_VARIANTS = {
    "bn_layers_kept_frozen_in_the_stage": """
        import keras
        from keras import layers

        class Classifier(keras.Model):
            def __init__(self, base, num_classes):
                super().__init__()
                self.base = base
                self.features = keras.Model(base.input, base.get_layer("avgpool").output)
                self.head = layers.Dense(num_classes, kernel_initializer="zeros")

            def call(self, images, training=None):
                return self.head(self.features(images, training=False))

        def prepare_finetune(base, num_classes):
            for layer in base.layers:
                layer.trainable = False
            return Classifier(base, num_classes)

        def unfreeze(model, stage):
            block_stage = model.base.get_layer(stage)
            block_stage.trainable = True
            for block in block_stage.layers:
                for bn in (block.bn1, block.bn2):
                    bn.trainable = False
                if block.downsample is not None:
                    block.downsample.layers[1].trainable = False
            return model

        def make_optimizers(model, head_lr, backbone_lr):
            head_ids = {id(v) for v in model.head.weights}
            rest = [v for v in model.trainable_weights if id(v) not in head_ids]
            pairs = [(keras.optimizers.Adam(learning_rate=head_lr), list(model.head.weights))]
            if rest:
                pairs.append((keras.optimizers.Adam(learning_rate=backbone_lr), rest))
            return pairs
    """,
    "built_in_prepare_with_tuples": """
        import keras
        import numpy as np

        class FineTune(keras.Model):
            def __init__(self, backbone, num_classes, **kwargs):
                super().__init__(**kwargs)
                self.backbone = backbone
                self.fc = keras.layers.Dense(num_classes, use_bias=True)

            def call(self, x, training=None):
                pooled = self.backbone(x, training=False)
                return self.fc(pooled)

        def prepare_finetune(base, num_classes):
            base.trainable = False
            pooled = base.get_layer("avgpool").output
            model = FineTune(keras.Model(base.input, pooled), num_classes)
            model(np.zeros((1, 16, 16, 3), "float32"))
            return model

        def unfreeze(model, stage):
            model.backbone.get_layer(stage).trainable = True
            return model

        def make_optimizers(model, head_lr, backbone_lr):
            out = ((keras.optimizers.Adam(head_lr), tuple(model.fc.trainable_variables)),)
            if model.backbone.trainable_variables:
                out += ((keras.optimizers.Adam(backbone_lr), tuple(model.backbone.trainable_variables)),)
            return out
    """,
}

# more than ~2 s each: every Keras case builds and traces models; the rest train
SLOW = [*(f"tf-{name}" for name in TF_BUGS), *TF_VARIANTS, *TORCH_VARIANTS, *TORCH_TRAINING_BUGS]

test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=STATIC), *bugs("tf", TF_BUGS, only=STATIC),
    *bugs("torch", TORCH_TRAINING_BUGS, only=TRAINING),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=SLOW)


def _sibling(name: str):
    """A module of the exercise's folder, imported through its package."""
    return importlib.import_module(f"{worker.exercise_package(catalog.resolve(EX))}.{name}")


@needs("tf")
@needs("torch")
@pytest.mark.tf
@pytest.mark.torch
def test_the_two_backbones_compute_the_same_function():
    import numpy as np
    import torch

    torch_net = _sibling("backbone_torch").pretrained().eval()
    keras_net = _sibling("backbone_tf").pretrained()
    x, _ = _sibling("tasks").target_task(8, seed=3)
    with torch.no_grad():
        want = torch_net(torch.from_numpy(x)).numpy()
    got = np.asarray(keras_net(np.moveaxis(x, 1, -1), training=False))
    assert np.allclose(got, want, atol=1e-4)
