"""09_finetune_freezing (Keras 3). Statement: `resnet-kata start 09_finetune_freezing --framework tf`.

Fine-tune a pretrained ResNet: a new Dense head on the base's pooled features, the
base frozen and run in inference mode, one stage unfrozen later, and one optimizer
per learning rate. Check with `resnet-kata check`.
"""

import keras


def prepare_finetune(base: keras.Model, num_classes: int) -> keras.Model:
    # TODO: freeze the base (base.trainable = False); return a keras.Model mapping
    #   images (N, H, W, 3) to logits (N, num_classes): the output of the base's layer
    #   "avgpool" -> a new Dense(num_classes). Its call() must run the base's layers
    #   with training=False (a subclassed keras.Model; see the statement for why).
    raise NotImplementedError("prepare_finetune")


def unfreeze(model: keras.Model, stage: str) -> keras.Model:
    # TODO: make the base's layer named `stage` (e.g. "layer4") trainable again.
    raise NotImplementedError("unfreeze")


def make_optimizers(model: keras.Model, head_lr: float, backbone_lr: float) -> list:
    # TODO: return [(keras.optimizers.Adam(head_lr), head variables),
    #   (keras.optimizers.Adam(backbone_lr), trainable backbone variables)];
    #   leave the second pair out while nothing in the backbone is trainable.
    raise NotImplementedError("make_optimizers")
