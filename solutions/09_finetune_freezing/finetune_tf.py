"""09_finetune_freezing, Keras 3: a new head on the frozen base's pooled features,
the base run in inference mode, one optimizer per learning rate."""

import keras
from keras import layers


class FineTuner(keras.Model):
    """images (N, H, W, 3) -> logits (N, num_classes): `backbone` then `fc`."""

    def __init__(self, backbone: keras.Model, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.fc = layers.Dense(num_classes)

    def call(self, x, training=None):
        # Inference mode even when training, and even after a stage is unfrozen: BN
        # keeps its pretrained moving statistics. Passed here, in a subclassed call();
        # a functional graph would overwrite it with the outer call's training=True.
        return self.fc(self.backbone(x, training=False))


def prepare_finetune(base: keras.Model, num_classes: int) -> keras.Model:
    """Freeze `base` and put a new Dense head on its pooled features (layer `avgpool`)."""
    base.trainable = False
    backbone = keras.Model(base.input, base.get_layer("avgpool").output, name="backbone")
    return FineTuner(backbone, num_classes)


def unfreeze(model: keras.Model, stage: str) -> keras.Model:
    """Make the base's stage `stage` (e.g. "layer4") trainable again."""
    model.backbone.get_layer(stage).trainable = True
    return model


def make_optimizers(model: keras.Model, head_lr: float, backbone_lr: float) -> list:
    """[(optimizer, variables), ...]: Adam(head_lr) for the head, Adam(backbone_lr) for
    the trainable backbone (left out while it is all frozen). Keras optimizers have no
    parameter groups, so each learning rate gets its own optimizer."""
    head = model.fc.trainable_weights
    backbone = model.backbone.trainable_weights
    pairs = [(keras.optimizers.Adam(head_lr), head)]
    if backbone:
        pairs.append((keras.optimizers.Adam(backbone_lr), backbone))
    return pairs
