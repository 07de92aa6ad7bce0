"""16_spot_the_bug: each flawed answer fails its own item, wrong repairs are named, and
repairs written differently from the reference pass."""

from __future__ import annotations

import re
import textwrap

import pytest

from resnet_kata import catalog

from .conftest import bugs, case_test, check_of, failed_checks, needs, solution_source, variants

EX = "16_spot_the_bug"
ITEMS = {
    "torch": ["item1_skip", "item2_head", "item3_warmup", "item4_resnet18"],
    "tf": ["item1_shortcut", "item2_conv1d", "item3_clipping", "item4_warmup"],
}
_MARK = re.compile(r"^# -- Item (\d) -+$", re.M)


def stub_source(framework: str) -> str:
    return catalog.resolve(EX).stub(framework).read_text(encoding="utf-8")


def sections(source: str) -> dict[int, tuple[int, int]]:
    """Item number -> (start, end) of its code, from its `# -- Item N` line to the next one."""
    marks = list(_MARK.finditer(source))
    ends = [m.start() for m in marks[1:]] + [len(source)]
    return {int(m.group(1)): (m.start(), end) for m, end in zip(marks, ends, strict=True)}


def with_item(source: str, n: int, code: str) -> str:
    """`source` with item n's code replaced by `code` (which starts with its own marker)."""
    start, end = sections(source)[n]
    return source[:start] + code + source[end:]


def flawed_item(framework: str, n: int) -> str:
    """The reference solution with item n put back as the stub has it."""
    start, end = sections(stub_source(framework))[n]
    return with_item(solution_source(EX, framework), n, stub_source(framework)[start:end])


def alternative(framework: str, n: int, code: str) -> str:
    code = f"# -- Item {n} --\n" + textwrap.dedent(code) + "\n\n"
    return with_item(solution_source(EX, framework), n, code)


def failure(record, name: str) -> str:
    result = check_of(record, name)
    assert result.status == "fail", (result.status, result.message)
    return result.message


# -- each original flaw fails its own item, and only that one -----------------------------

FLAW_PHRASES = {
    ("torch", 1): "concatenates x",
    ("torch", 2): "1000 outputs, is still in the model",
    ("torch", 3): "falls during the warmup",
    ("torch", 4): "layout of ResNet-34",
    ("tf", 1): "only exists when the block is strided",
    ("tf", 2): "A 1-D layer takes 1-D sizes",
    ("tf", 3): "clips the weights after the step",
    ("tf", 4): "falls during the warmup",
}


def _marks(framework: str) -> list:
    return [needs(framework), getattr(pytest.mark, framework)]


@pytest.mark.parametrize(("framework", "n"), [
    pytest.param(fw, n, marks=_marks(fw), id=f"{fw}-item{n}") for fw, n in FLAW_PHRASES
])
def test_original_flaw_fails_only_its_own_item(grade_source, framework, n):
    record = grade_source(EX, framework, flawed_item(framework, n))
    name = ITEMS[framework][n - 1]
    assert FLAW_PHRASES[framework, n] in failure(record, name)
    assert failed_checks(record) == [name]


@pytest.mark.parametrize("framework", [pytest.param(fw, marks=_marks(fw)) for fw in ITEMS])
def test_untouched_stub_fails_every_item_with_its_flaw(grade_source, framework):
    record = grade_source(EX, framework, stub_source(framework))
    for n, name in enumerate(ITEMS[framework], start=1):
        assert FLAW_PHRASES[framework, n] in failure(record, name)


# -- wrong repairs are named by the right item ---------------------------------------------

TORCH_BUGS = {
    "warmup_default_epochs_not_5": (
        [("warmup_epochs: int = 5, decay", "warmup_epochs: int = 6, decay")],
        "item3_warmup", "(both left to their defaults)",
    ),
    "resnet18_default_num_classes_not_1000": (
        [("def resnet18(num_classes: int = 1000)", "def resnet18(num_classes: int = 1001)")],
        "item4_resnet18", "num_classes defaults to 1000",
    ),
    "cat_then_1x1_conv": (
        [("return F.relu(out + x)", "return F.relu(self.mix(torch.cat([out, x], 1)))"),
         ("self.bn2 = nn.BatchNorm2d(channels)\n",
          "self.bn2 = nn.BatchNorm2d(channels)\n        self.mix = nn.Conv2d(2 * channels, channels, 1)\n")],
        "item1_skip", "unexpected parameters in `mix`",
    ),
    "detached_identity": (
        [("return F.relu(out + x)", "return F.relu(out + x.detach())")],
        "item1_skip", "gradient with respect to the input differs",
    ),
    "relu_before_add": (
        [("out = self.bn2(self.conv2(out))\n        return F.relu(out + x)",
          "out = F.relu(self.bn2(self.conv2(out)))\n        return out + x")],
        "item1_skip", "a ReLU after bn2 on the branch and none after the add",
    ),
    "skip_from_the_first_conv": (
        [("out = F.relu(self.bn1(self.conv1(x)))\n        out = self.bn2(self.conv2(out))\n"
          "        return F.relu(out + x)",
          "h = F.relu(self.bn1(self.conv1(x)))\n        out = self.bn2(self.conv2(h))\n"
          "        return F.relu(out + h)")],
        "item1_skip", "the skip adds relu(bn1(conv1(x)))",
    ),
    "relu_before_bn1": (
        [("out = F.relu(self.bn1(self.conv1(x)))\n        out = self.bn2(self.conv2(out))\n"
          "        return F.relu(out + x)",
          "out = self.bn1(F.relu(self.conv1(x)))\n        out = self.bn2(self.conv2(out))\n"
          "        return F.relu(out + x)")],
        "item1_skip", "the ReLU comes before bn1",
    ),
    "bn2_after_the_add": (
        [("out = self.bn2(self.conv2(out))\n        return F.relu(out + x)",
          "return F.relu(self.bn2(self.conv2(out) + x))")],
        "item1_skip", "bn2 is applied after the add",
    ),
    "hard_coded_512": (
        [("nn.Linear(model.fc.in_features, num_classes)", "nn.Linear(512, num_classes)")],
        "item2_head", "read `model.fc.in_features`",
    ),
    "rebuilt_as_sequential": (
        [("model.fc = nn.Linear(model.fc.in_features, num_classes)\n    return model",
          "return nn.Sequential(*list(model.children())[:-1], nn.Flatten(),\n"
          "                         nn.Linear(model.fc.in_features, num_classes))")],
        "item2_head", "`fc` should be one nn.Linear",
    ),
    "softmax_head": (
        [("model.fc = nn.Linear(model.fc.in_features, num_classes)",
          "model.fc = nn.Sequential(nn.Linear(model.fc.in_features, num_classes), nn.Softmax(1))")],
        "item2_head", "`fc` should be one nn.Linear",
    ),
    "wrapped_in_a_new_module": (
        [("model.fc = nn.Linear(model.fc.in_features, num_classes)\n    return model",
          "wrapper = nn.Module()\n    wrapper.fc = nn.Linear(model.fc.in_features, num_classes)\n"
          "    model.fc = nn.Identity()\n    wrapper.body = model\n    return wrapper")],
        "item2_head", "changed the state_dict keys",
    ),
    "head_without_bias": (
        [("nn.Linear(model.fc.in_features, num_classes)",
          "nn.Linear(model.fc.in_features, num_classes, bias=False)")],
        "item2_head", "with a bias",
    ),
    "backbone_reinitialised": (
        [("model.fc = nn.Linear(model.fc.in_features, num_classes)",
          "model.conv1.reset_parameters()\n    model.fc = nn.Linear(model.fc.in_features, num_classes)")],
        "item2_head", "changed the pretrained `conv1.weight`",
    ),
    "softmax_hook_on_the_head": (
        [("    return model\n\n\n# -- Item 3",
          "    model.register_forward_hook(lambda module, inputs, out: out.softmax(dim=1))\n"
          "    return model\n\n\n# -- Item 3")],
        "item2_head", "a softmax over the classes is applied to fc's output",
    ),
    "softmax_over_the_batch": (
        [("    return model\n\n\n# -- Item 3",
          "    model.register_forward_hook(lambda module, inputs, out: out.softmax(dim=0))\n"
          "    return model\n\n\n# -- Item 3")],
        "item2_head", "a softmax over the wrong dimension (dim=0, the batch)",
    ),
    "softmax_twice": (
        [("    return model\n\n\n# -- Item 3",
          "    model.register_forward_hook(lambda module, inputs, out: out.softmax(1).softmax(1))\n"
          "    return model\n\n\n# -- Item 3")],
        "item2_head", "a softmax applied twice",
    ),
    "max_pooled_features": (
        [("    return model\n\n\n# -- Item 3",
          "    model.avgpool = nn.AdaptiveMaxPool2d(1)\n    return model\n\n\n# -- Item 3")],
        "item2_head", "the pooled features are a global MAX",
    ),
    "returns_the_rate_not_a_factor": (
        [("    def factor(epoch: int) -> float:\n        return min(",
          "    base_lr = optimizer.param_groups[0]['lr']\n\n"
          "    def factor(epoch: int) -> float:\n        return base_lr * min(")],
        "item3_warmup", "must return a factor",
    ),
    "ramp_starts_at_zero": (
        [("min((epoch + 1) / warmup_epochs, decay ** (epoch + 1 - warmup_epochs))",
          "min(epoch / warmup_epochs, decay ** (epoch - warmup_epochs))")],
        "item3_warmup", "Epoch 0 trains at a rate of 0",
    ),
    "decay_one_epoch_late": (
        [("decay ** (epoch + 1 - warmup_epochs)", "decay ** (epoch - warmup_epochs)")],
        "item3_warmup", "one epoch late",
    ),
    "decay_counted_from_epoch_0": (
        [("decay ** (epoch + 1 - warmup_epochs)", "(decay ** epoch if epoch >= warmup_epochs else 2.0)")],
        "item3_warmup", "counts epochs from 0",
    ),
    "num_classes_ignored": (
        [("return ResNet((2, 2, 2, 2), num_classes)", "return ResNet((2, 2, 2, 2))")],
        "item4_resnet18", "expected (1, 10) logits",
    ),
    "resnet_relu_before_add": (
        [("return F.relu(self.bn2(self.conv2(out)) + identity)",
          "return F.relu(F.relu(self.bn2(self.conv2(out))) + identity)")],
        "item4_resnet18", "a ReLU after bn2, before the add",
    ),
    "resnet_no_final_relu": (
        [("return F.relu(self.bn2(self.conv2(out)) + identity)",
          "return self.bn2(self.conv2(out)) + identity")],
        "item4_resnet18", "the ReLU after the add is missing",
    ),
    "resnet_skip_from_the_first_conv": (
        [("return F.relu(self.bn2(self.conv2(out)) + identity)",
          "return F.relu(self.bn2(self.conv2(out)) + out)")],
        "item4_resnet18", "the skip adds relu(bn1(conv1(x)))",
    ),
    "resnet_shortcut_without_bn": (
        [("identity = x if self.downsample is None else self.downsample(x)",
          "identity = x if self.downsample is None else self.downsample[0](x)")],
        "item4_resnet18", "the shortcut skips its BatchNorm",
    ),
    "resnet_relu_before_bn": (
        [("out = F.relu(self.bn1(self.conv1(x)))\n        return F.relu(self.bn2",
          "out = self.bn1(F.relu(self.conv1(x)))\n        return F.relu(self.bn2")],
        "item4_resnet18", "the ReLU comes before bn1",
    ),
    "resnet_stride_on_conv2": (
        [("nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)",
          "nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)"),
         ("nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)",
          "nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False)")],
        "item4_resnet18", "the stride sits on conv2",
    ),
    "resnet_no_maxpool": (
        [("x = self.maxpool(F.relu(self.bn1(self.conv1(x))))", "x = F.relu(self.bn1(self.conv1(x)))")],
        "item4_resnet18", "the stem's max pool is never applied",
    ),
    "resnet_maxpool_unpadded": (
        [("self.maxpool = nn.MaxPool2d(3, 2, 1)", "self.maxpool = nn.MaxPool2d(3, 2)")],
        "item4_resnet18", "the stem's max pool has no padding",
    ),
    "resnet_global_max_pool": (
        [("F.adaptive_avg_pool2d(x, 1)", "F.adaptive_max_pool2d(x, 1)")],
        "item4_resnet18", "the features are max-pooled",
    ),
    "resnet_softmax": (
        [("return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))",
          "return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)).softmax(dim=1)")],
        "item4_resnet18", "a softmax over the classes",
    ),
    "resnet_softmax_over_the_batch": (
        [("return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))",
          "return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)).softmax(dim=0)")],
        "item4_resnet18", "a softmax over the wrong dimension",
    ),
    "resnet_bn_always_eval": (
        [("x = self.maxpool(F.relu(self.bn1(self.conv1(x))))",
          "self.eval()\n        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))")],
        "item4_resnet18", "BatchNorm ran in eval mode while the model was called in train mode",
    ),
}

TF_BUGS = {
    "warmup_default_epochs_not_5": (
        [("def warmup_schedule(base_lr, warmup_epochs=5, decay=0.5)",
          "def warmup_schedule(base_lr, warmup_epochs=4, decay=0.5)")],
        "item4_warmup", "(both left to their defaults)",
    ),
    "projection_only_when_channels_grow": (
        [("or input_shape[-1] != self.filters:", "or input_shape[-1] < self.filters:")],
        "item1_shortcut", "x (16 channels, 5x5) and the branch's output (8 channels, 5x5) cannot be added",
    ),
    "channels_compared_with_is_not": (
        [("or input_shape[-1] != self.filters:", "or input_shape[-1] is not self.filters:")],
        "item1_shortcut", "In `ResidualBlock(300)`",
    ),
    "audio_default_in_channels_not_1": (
        [("def audio_model(in_channels: int = 1,", "def audio_model(in_channels: int = 2,")],
        "item2_conv1d", "its defaults are in_channels=1, num_classes=10",
    ),
    "audio_default_num_classes_not_10": (
        [("num_classes: int = 10) -> keras.Model:", "num_classes: int = 12) -> keras.Model:")],
        "item2_conv1d", "maps a (2, 48, 1) input to (2, 12)",
    ),
    "clip_default_lr_not_0_01": (
        [("max_norm, learning_rate=0.01,", "max_norm, learning_rate=0.1,")],
        "item3_clipping", "at learning_rate 0.01 in batches of 32",
    ),
    "clip_default_epochs_not_1": (
        [("learning_rate=0.01, epochs=1,", "learning_rate=0.01, epochs=2,")],
        "item3_clipping", "trains one epoch",
    ),
    "clip_default_batch_size_not_32": (
        [("epochs=1, batch_size=32):", "epochs=1, batch_size=64):")],
        "item3_clipping", "batch_size defaults to 32",
    ),
    "clip_batch_size_ignored": (
        [("epochs=epochs, batch_size=batch_size, verbose=0)", "epochs=epochs, verbose=0)")],
        "item3_clipping", "the largest batch the model saw had 32 points; expected 40",
    ),
    "only_the_attribute_fixed": (
        [("        self.downsample = None\n\n    def build(self, input_shape):\n"
          "        if self.stride != 1 or input_shape[-1] != self.filters:\n"
          "            self.downsample = keras.Sequential([\n"
          "                layers.Conv2D(self.filters, 1, strides=self.stride, use_bias=False),\n"
          "                layers.BatchNormalization(),\n            ])\n",
          "        self.downsample = None\n        if stride != 1:\n"
          "            self.downsample = keras.Sequential([\n"
          "                layers.Conv2D(filters, 1, strides=stride, use_bias=False),\n"
          "                layers.BatchNormalization(),\n            ])\n")],
        "item1_shortcut", "by a stride or by a change of channels",
    ),
    "projection_everywhere": (
        [("if self.stride != 1 or input_shape[-1] != self.filters:", "if True:")],
        "item1_shortcut", "added as is, with no parameters",
    ),
    "projection_bn_always_inference": (
        [("else self.downsample(x, training=training)", "else self.downsample(x, training=False)")],
        "item1_shortcut", "train mode",
    ),
    "relu_before_add": (
        [("out = self.bn2(self.conv2(out), training=training)",
          "out = ops.relu(self.bn2(self.conv2(out), training=training))")],
        "item1_shortcut", "a ReLU after bn2, before the add",
    ),
    "no_final_relu": (
        [("return ops.relu(out + shortcut)", "return out + shortcut")],
        "item1_shortcut", "the final ReLU after the add is missing",
    ),
    "skip_from_the_first_conv": (
        [("out = ops.relu(self.bn1(self.conv1(x), training=training))",
          "out = h = ops.relu(self.bn1(self.conv1(x), training=training))"),
         ("return ops.relu(out + shortcut)", "return ops.relu(out + h)")],
        "item1_shortcut", "the skip adds relu(bn1(conv1(x)))",
    ),
    "relu_before_bn1": (
        [("out = ops.relu(self.bn1(self.conv1(x), training=training))",
          "out = self.bn1(ops.relu(self.conv1(x)), training=training)")],
        "item1_shortcut", "the ReLU comes before bn1",
    ),
    "projection_without_stride": (
        [("layers.Conv2D(self.filters, 1, strides=self.stride, use_bias=False)",
          "layers.Conv2D(self.filters, 1, use_bias=False)")],
        "item1_shortcut", "the 1x1 projection (with the block's stride) must bring x to it",
    ),
    "same_length_lost": (
        [("y = layers.Conv1D(64, 3, padding=\"same\", use_bias=False)(x)",
          "y = layers.Conv1D(64, 3, use_bias=False)(x)")],
        "item2_conv1d", "padding=\"same\"",
    ),
    "pool_of_four": (
        [("layers.MaxPooling1D(pool_size=2)", "layers.MaxPooling1D(pool_size=4)")],
        "item2_conv1d", "one MaxPooling1D with pool 2",
    ),
    "kernel_nine": (
        [("y = layers.Conv1D(64, 3, padding=\"same\", use_bias=False)(x)",
          "y = layers.Conv1D(64, 9, padding=\"same\", use_bias=False)(x)")],
        "item2_conv1d", "kernel (9,)",
    ),
    "conv_with_bias": (
        [("x = layers.Conv1D(64, 3, padding=\"same\", use_bias=False)(inputs)",
          "x = layers.Conv1D(64, 3, padding=\"same\")(inputs)")],
        "item2_conv1d", "25,866 trainable",
    ),
    "audio_relu_before_add": (
        [("y = layers.BatchNormalization()(y)\n", "y = layers.ReLU()(layers.BatchNormalization()(y))\n")],
        "item2_conv1d", "a ReLU after the block's second BN, before the add",
    ),
    "audio_no_final_relu": (
        [("x = layers.ReLU()(layers.Add()([x, y]))", "x = layers.Add()([x, y])")],
        "item2_conv1d", "the ReLU after the add is missing",
    ),
    "audio_skip_from_the_first_conv": (
        [("y = layers.ReLU()(layers.BatchNormalization()(y))",
          "y = h = layers.ReLU()(layers.BatchNormalization()(y))"),
         ("layers.Add()([x, y])", "layers.Add()([h, y])")],
        "item2_conv1d", "the skip adds the output of the block's first conv-BN-ReLU",
    ),
    "audio_relu_before_bn": (
        [("x = layers.ReLU()(layers.BatchNormalization()(x))",
          "x = layers.BatchNormalization()(layers.ReLU()(x))")],
        "item2_conv1d", "a ReLU comes before its BatchNormalization",
    ),
    "audio_pool_after_the_block": (
        [("    x = layers.MaxPooling1D(pool_size=2)(x)\n", ""),
         ("x = layers.GlobalAveragePooling1D()(x)",
          "x = layers.GlobalAveragePooling1D()(layers.MaxPooling1D(pool_size=2)(x))")],
        "item2_conv1d", "the max pool comes after the residual block",
    ),
    "audio_global_max_pool": (
        [("layers.GlobalAveragePooling1D()", "layers.GlobalMaxPooling1D()")],
        "item2_conv1d", "the features are max-pooled over time",
    ),
    "audio_softmax": (
        [("layers.Dense(num_classes)(x)", "layers.Dense(num_classes, activation=\"softmax\")(x)")],
        "item2_conv1d", "a softmax is applied to the output",
    ),
    "audio_softmax_twice": (
        [("layers.Dense(num_classes)(x)",
          "layers.Softmax()(layers.Dense(num_classes, activation=\"softmax\")(x))")],
        "item2_conv1d", "a softmax is applied twice",
    ),
    "clipnorm_per_tensor": (
        [("global_clipnorm=max_norm", "clipnorm=max_norm")],
        "item3_clipping", "clipped to max_norm on its own (clipnorm)",
    ),
    "clipvalue": (
        [("global_clipnorm=max_norm", "clipvalue=max_norm")],
        "item3_clipping", "(clipvalue)",
    ),
    "no_clipping": (
        [(", global_clipnorm=max_norm", "")],
        "item3_clipping", "The update used the raw gradients: nothing clipped them",
    ),
    "callback_kept": (
        [("return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)",
          "return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,\n"
          "                     callbacks=[ShrinkWeights(max_norm)])\n\n\n"
          "class ShrinkWeights(keras.callbacks.Callback):\n"
          "    def __init__(self, max_norm):\n        super().__init__()\n"
          "        self.max_norm = max_norm\n\n"
          "    def on_train_batch_end(self, batch, logs=None):\n"
          "        variables = self.model.trainable_variables\n"
          "        norm = ops.sqrt(sum(ops.sum(ops.square(v)) for v in variables))\n"
          "        for v in variables:\n"
          "            v.assign(v * ops.minimum(1.0, self.max_norm / norm))")],
        "item3_clipping", "the callback is still there",
    ),
    "momentum": (
        [("global_clipnorm=max_norm", "global_clipnorm=max_norm, momentum=0.9")],
        "item3_clipping", "plain SGD at learning_rate",
    ),
    "decay_compounds_the_given_lr": (
        [("return float(base_lr * min((epoch + 1) / warmup_epochs, decay ** (epoch + 1 - warmup_epochs)))",
          "if epoch < warmup_epochs:\n            return base_lr * (epoch + 1) / warmup_epochs\n"
          "        return lr * decay")],
        "item4_warmup", "multiplies the `lr` it is given",
    ),
    "ramp_starts_at_zero": (
        [("min((epoch + 1) / warmup_epochs, decay ** (epoch + 1 - warmup_epochs))",
          "min(epoch / warmup_epochs, decay ** (epoch - warmup_epochs))")],
        "item4_warmup", "Epoch 0 trains at a rate of 0",
    ),
    "returns_a_tensor": (
        [("return float(base_lr * min(", "return keras.ops.convert_to_tensor(base_lr * min(")],
        "item4_warmup", "must return a Python float",
    ),
}


# -- repairs written differently from the reference pass -----------------------------------

TORCH_VARIANTS = {
    "inplace_add_and_relu_module": (1, """
        class ResidualBlock(nn.Module):
            def __init__(self, channels):
                super().__init__()
                self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(channels)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(channels)
                nn.init.zeros_(self.bn2.weight)

            def forward(self, x):
                identity = x
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                out += identity
                return self.relu(out)
    """),
    "copy_and_weight_shape": (2, """
        import copy


        def replace_head(model, num_classes):
            new = copy.deepcopy(model)
            in_features = new.fc.weight.shape[1]
            new.fc = nn.Linear(in_features, num_classes)
            nn.init.zeros_(new.fc.bias)
            return new
    """),
    "own_scheduler_subclass": (3, """
        class WarmupThenDecay(LRScheduler):
            def __init__(self, optimizer, warmup_epochs, decay):
                self.warmup_epochs, self.decay = warmup_epochs, decay
                super().__init__(optimizer)

            def get_lr(self):
                e, w = self.last_epoch, self.warmup_epochs
                factor = (e + 1) / w if e < w else self.decay ** (e - w + 1)
                return [base * factor for base in self.base_lrs]


        def warmup_scheduler(optimizer, warmup_epochs=5, decay=0.5):
            return WarmupThenDecay(optimizer, warmup_epochs, decay)
    """),
    "linear_then_exponential": (3, """
        from torch.optim.lr_scheduler import ExponentialLR, LinearLR, SequentialLR


        def warmup_scheduler(optimizer, warmup_epochs=5, decay=0.5):
            if warmup_epochs == 1:
                return ExponentialLR(optimizer, decay)
            ramp = LinearLR(optimizer, start_factor=1 / warmup_epochs, total_iters=warmup_epochs - 1)
            return SequentialLR(optimizer, [ramp, ExponentialLR(optimizer, decay)],
                                milestones=[warmup_epochs - 1])
    """),
    "lambda_with_if": (3, """
        def warmup_scheduler(optimizer, warmup_epochs=5, decay=0.5):
            def factor(epoch):
                if epoch < warmup_epochs:
                    return (epoch + 1) / warmup_epochs
                return decay ** (epoch - warmup_epochs + 1)

            return LambdaLR(optimizer, factor)
    """),
    "torchvision_style_make_layer": (4, """
        class BasicBlock(nn.Module):
            expansion = 1

            def __init__(self, inplanes, planes, stride=1, downsample=None):
                super().__init__()
                self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(planes)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(planes)
                self.downsample = downsample

            def forward(self, x):
                identity = x
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                if self.downsample is not None:
                    identity = self.downsample(x)
                out += identity
                return self.relu(out)


        class ResNet(nn.Module):
            def __init__(self, blocks, num_classes=1000):
                super().__init__()
                self.inplanes = 64
                self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
                self.bn1 = nn.BatchNorm2d(64)
                self.relu = nn.ReLU(inplace=True)
                self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
                self.layer1 = self._make_layer(64, blocks[0])
                self.layer2 = self._make_layer(128, blocks[1], stride=2)
                self.layer3 = self._make_layer(256, blocks[2], stride=2)
                self.layer4 = self._make_layer(512, blocks[3], stride=2)
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.fc = nn.Linear(512, num_classes)
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

            def _make_layer(self, planes, n, stride=1):
                downsample = None
                if stride != 1 or self.inplanes != planes:
                    downsample = nn.Sequential(
                        nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes))
                layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
                self.inplanes = planes
                layers += [BasicBlock(planes, planes) for _ in range(1, n)]
                return nn.Sequential(*layers)

            def forward(self, x):
                x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
                x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
                return self.fc(torch.flatten(self.avgpool(x), 1))


        def resnet18(num_classes=1000):
            return ResNet([2, 2, 2, 2], num_classes=num_classes)
    """),
}

TF_VARIANTS = {
    "build_with_add_layer": (1, """
        class ResidualBlock(keras.layers.Layer):
            def __init__(self, filters, stride=1, **kwargs):
                super().__init__(**kwargs)
                self.filters = filters
                self.stride = stride
                self.conv1 = layers.Conv2D(filters, (3, 3), strides=(stride, stride), padding="same",
                                           use_bias=False, kernel_initializer="he_normal")
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv2D(filters, (3, 3), padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization(gamma_initializer="zeros")
                self.add = layers.Add()
                self.relu = layers.ReLU()

            def build(self, input_shape):
                in_channels = int(input_shape[-1])
                if self.stride == 1 and in_channels == self.filters:
                    self.downsample = None
                else:
                    self.downsample = keras.Sequential(
                        [layers.Conv2D(self.filters, 1, strides=self.stride, use_bias=False),
                         layers.BatchNormalization()])
                super().build(input_shape)

            def call(self, inputs, training=None):
                x = self.relu(self.bn1(self.conv1(inputs), training=training))
                x = self.bn2(self.conv2(x), training=training)
                shortcut = inputs
                if self.downsample is not None:
                    shortcut = self.downsample(inputs, training=training)
                return self.relu(self.add([x, shortcut]))
    """),
    "projection_made_on_first_call": (1, """
        class ResidualBlock(layers.Layer):
            def __init__(self, filters, stride=1, **kwargs):
                super().__init__(**kwargs)
                self.filters, self.stride = filters, stride
                self.conv1 = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)
                self.bn1 = layers.BatchNormalization()
                self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
                self.bn2 = layers.BatchNormalization()

            def call(self, x, training=None):
                if not hasattr(self, "downsample"):
                    self.downsample = None
                    if self.stride != 1 or x.shape[-1] != self.filters:
                        self.downsample = keras.Sequential([
                            layers.Conv2D(self.filters, 1, strides=self.stride, use_bias=False),
                            layers.BatchNormalization()])
                out = ops.relu(self.bn1(self.conv1(x), training=training))
                out = self.bn2(self.conv2(out), training=training)
                shortcut = x if self.downsample is None else self.downsample(x, training=training)
                return ops.relu(out + shortcut)
    """),
    "one_tuples_and_activation_layers": (2, """
        def audio_model(in_channels=1, num_classes=10):
            def conv_bn(t, relu=True):
                t = layers.Conv1D(filters=64, kernel_size=(3,), strides=(1,), padding="same",
                                  use_bias=False)(t)
                t = layers.BatchNormalization()(t)
                return layers.Activation("relu")(t) if relu else t

            inputs = keras.Input(shape=(None, in_channels))
            x = layers.MaxPooling1D(2)(conv_bn(inputs))
            y = conv_bn(conv_bn(x), relu=False)
            x = layers.Activation("relu")(layers.add([x, y]))
            logits = layers.Dense(num_classes)(layers.GlobalAveragePooling1D()(x))
            return keras.Model(inputs=inputs, outputs=logits, name="audio_resnet")
    """),
    "subclassed_model_block_layers_first": (2, """
        class AudioNet(keras.Model):
            def __init__(self, in_channels, num_classes):
                super().__init__()
                # the block's layers are made first: the grader must not rely on the order
                self.block_bn2 = layers.BatchNormalization()
                self.block_conv2 = layers.Conv1D(64, 3, padding="same", use_bias=False)
                self.block_bn1 = layers.BatchNormalization()
                self.block_conv1 = layers.Conv1D(64, 3, padding="same", use_bias=False)
                self.stem_conv = layers.Conv1D(64, 3, padding="same", use_bias=False)
                self.stem_bn = layers.BatchNormalization()
                self.pool = layers.MaxPooling1D(2)
                self.head = layers.Dense(num_classes)

            def call(self, x, training=None):
                x = ops.relu(self.stem_bn(self.stem_conv(x), training=training))
                x = self.pool(x)
                y = ops.relu(self.block_bn1(self.block_conv1(x), training=training))
                y = self.block_bn2(self.block_conv2(y), training=training)
                return self.head(ops.mean(ops.relu(x + y), axis=1))


        def audio_model(in_channels=1, num_classes=10):
            model = AudioNet(in_channels, num_classes)
            model.build((None, None, in_channels))
            return model
    """),
    "own_training_loop": (3, """
        import numpy as np
        import tensorflow as tf


        def fit_clipped(model, x, y, max_norm, learning_rate=0.01, epochs=1, batch_size=32):
            optimizer = keras.optimizers.SGD(learning_rate)
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            for _ in range(epochs):
                for start in range(0, len(x), batch_size):
                    xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                    with tf.GradientTape() as tape:
                        loss = loss_fn(yb, model(xb, training=True))
                    grads = tape.gradient(loss, model.trainable_variables)
                    grads, _ = tf.clip_by_global_norm(grads, max_norm)
                    optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return np.asarray(loss)
    """),
    "one_argument_schedule": (4, """
        def warmup_schedule(base_lr, warmup_epochs=5, decay=0.5):
            def schedule(epoch):
                if epoch < warmup_epochs:
                    return base_lr * (epoch + 1) / warmup_epochs
                return base_lr * decay ** (epoch - warmup_epochs + 1)

            return schedule
    """),
}


def repairs(framework: str, table: dict[str, tuple[int, str]]) -> dict[str, str]:
    """The reference solution with one item replaced by each repair in `table` (name -> (item, code))."""
    return {name: alternative(framework, n, code) for name, (n, code) in table.items()}


def its_item(framework: str, table: dict[str, tuple[int, str]]):
    """`only=` for a repair: just the check of the item it replaces."""
    return lambda name: [ITEMS[framework][table[name][0] - 1]]


# each wrong repair is graded by its item alone (a bug's `only` defaults to its named check);
# no case takes 2 s (--durations=0), so none is marked slow
test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS), *bugs("tf", TF_BUGS),
    *variants("torch", repairs("torch", TORCH_VARIANTS), only=its_item("torch", TORCH_VARIANTS)),
    *variants("tf", repairs("tf", TF_VARIANTS), only=its_item("tf", TF_VARIANTS)),
])


def test_items_are_marked_alike_in_stubs_and_solutions():
    for framework in ITEMS:
        assert list(sections(stub_source(framework))) == [1, 2, 3, 4]
        assert list(sections(solution_source(EX, framework))) == [1, 2, 3, 4]
