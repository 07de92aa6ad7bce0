"""11_train_loop: augmentation and loop bugs fail the right check; correct variants pass."""

from __future__ import annotations

import pytest

from .conftest import assert_caught, bugs, case_test, check_of, needs, variants

EX = "11_train_loop"
AUGMENT = ["api", "flip", "crop", "seeding"]


def checks_for(named: list[str]) -> list[str]:
    """An augmentation bug runs all augmentation checks; a fit bug the api gate and its check."""
    return AUGMENT if named[0] in AUGMENT else ["api", *named]


TORCH_SAVE = ("        if val_loss < best_loss:\n"
              "            # state_dict() returns the live tensors: keep a copy, not a reference\n"
              "            best_loss, best_state, wait = val_loss, copy.deepcopy(model.state_dict()), 0\n")
TF_SAVE = ("        if val_loss < best_loss:\n"
           "            best_loss, best_weights, wait = val_loss, model.get_weights(), 0  # copies\n")
PREVIOUS = '(history["val_loss"][-2] if len(history["val_loss"]) > 1 else math.inf)'
TORCH_AUGMENT = "            batch = random_flip(random_crop(x[idx], padding, generator), generator)\n"
TF_AUGMENT = "            batch = augment(x[idx], seed_gen)\n"
STOP = "            if wait == patience:\n                break\n"

# mistakes of the early stopping rule and of the copy it keeps, the same text in both files
LOOP_BUGS = {
    "stops_one_epoch_late": (
        [("if wait == patience:", "if wait > patience:")],
        "early_stopping", "one late",
    ),
    "stops_one_epoch_early": (
        [("if wait == patience:", "if wait == patience - 1:")],
        "early_stopping", "one early",
    ),
    "ties_count_as_improvement": (
        [("        if val_loss < best_loss:\n", "        if val_loss <= best_loss:\n")],
        "early_stopping", "strictly lower",
    ),
    "compares_with_the_previous_epoch": (
        [("        if val_loss < best_loss:\n", f"        if val_loss < {PREVIOUS}:\n")],
        "early_stopping", "not with the best so far",
    ),
}


def loop_bugs(save: str, copy: str, restore: str, augment: str, cached: str, one_crop: str,
              reseed: tuple[str, str]) -> dict:
    """The loop's bugs for one framework: `save` is the solution's improvement branch, `copy`
    the expression of the copy it keeps, `restore` the line that loads it back."""
    keep = save.splitlines(keepends=True)[-1]
    var = restore.strip().split("(")[1].rstrip(")")  # best_state / best_weights
    indent = "            "
    return {
        **LOOP_BUGS,
        "counter_not_reset_on_improvement": (
            [(keep, keep.replace(", wait = val_loss,", " = val_loss,").replace(copy + ", 0", copy))],
            "early_stopping", "not reset",
        ),
        "keeps_a_copy_on_ties": (
            [(save, f"        if val_loss <= best_loss:\n{indent}{var} = {copy}\n"
                    + save.replace(keep, keep.replace(copy, var)))],
            "best_weights", "strictly lower",
        ),
        "keeps_a_copy_when_better_than_the_previous_epoch": (
            [(save, f"        if val_loss < {PREVIOUS}:\n{indent}{var} = {copy}\n"
                    + save.replace(keep, keep.replace(copy, var)))],
            "best_weights", "not with the best so far",
        ),
        "restores_only_when_stopping_fires": (
            [(restore, ""),
             (STOP, f"{indent}if wait == patience:\n{indent}    {restore.strip()}\n{indent}    break\n")],
            "best_weights", "the last epoch's weights",
        ),
        "augments_once_before_the_loop": (
            [(augment, f"{indent}batch = augmented[idx]\n"),
             ("    for _ in range(epochs):\n", cached + "    for _ in range(epochs):\n")],
            "modes", "drawn once and reused",
        ),
        "one_crop_offset_for_the_batch_in_fit": (
            [(augment, one_crop)],
            "modes", "one crop offset for the whole batch",
        ),
        "generator_reseeded_every_epoch": (
            [reseed],
            "modes", "drawn once and reused",
        ),
    }


TORCH_BUGS = {
    "epoch_loss_not_a_mean": (
        [('history["loss"].append(sum(losses) / len(losses))', 'history["loss"].append(sum(losses))')],
        "early_stopping", "Record the mean of the epoch's batch losses",
    ),
    "default_lr_not_1e_3": (
        [("patience: int, lr: float = 1e-3,", "patience: int, lr: float = 1e-2,")],
        "modes", "the default lr is 0.001",
    ),
    "default_batch_size_not_64": (
        [("batch_size: int = 64, padding: int = 2", "batch_size: int = 32, padding: int = 2")],
        "modes", "the default batch_size is 64",
    ),
    "default_padding_not_2": (
        [("batch_size: int = 64, padding: int = 2", "batch_size: int = 64, padding: int = 4")],
        "modes", "Is the default padding in your signature 2?",
    ),
    "val_accuracy_counts_from_one": (
        [("loss, correct = 0.0, 0", "loss, correct = 0.0, 1")],
        "early_stopping", "val_accuracy is the fraction of validation images",
    ),
    "val_accuracy_counts_argmax_at_least_the_label": (
        [("(logits.argmax(1) == target)", "(logits.argmax(1) >= target)")],
        "best_weights", "but the history's `val_accuracy` for epoch",
    ),
    **loop_bugs(
        TORCH_SAVE, "copy.deepcopy(model.state_dict())", "    model.load_state_dict(best_state)\n",
        TORCH_AUGMENT,
        "    augmented = random_flip(random_crop(x, padding, generator), generator)\n",
        "            dy, dx = torch.randint(0, 2 * padding + 1, (2,), generator=generator).tolist()\n"
        "            padded = F.pad(x[idx], (padding,) * 4)\n"
        "            batch = random_flip(padded[..., dy:dy + x.shape[2], dx:dx + x.shape[3]], generator)\n",
        ("        model.train()\n",
         "        model.train()\n        generator = torch.Generator().manual_seed(seed)\n"),
    ),
    "restores_the_parameters_only": (
        [("copy.deepcopy(model.state_dict())",
          "{k: p.detach().clone() for k, p in model.named_parameters()}"),
         ("    model.load_state_dict(best_state)\n",
          "    model.load_state_dict(best_state, strict=False)\n")],
        "best_weights", "only the parameters were restored",
    ),
    "drops_the_last_batch": (
        [("        for start in range(0, len(x), batch_size):\n            idx = order",
          "        for start in range(0, len(x) - batch_size + 1, batch_size):\n            idx = order")],
        "modes", "keep the last, smaller batch",
    ),
    "flip_along_height": (
        [("images.flip(-1), images)", "images.flip(-2), images)")],
        "flip", "upside down",
    ),
    "one_flip_for_the_batch": (
        [("flip = torch.rand(images.shape[0], generator=generator) < 0.5",
          "flip = torch.rand(1, generator=generator) < 0.5")],
        "flip", "flipped as a whole",
    ),
    "flip_in_place": (
        [("    return torch.where(flip[:, None, None, None], images.flip(-1), images)",
          "    images[flip] = images[flip].flip(-1)\n    return images")],
        "flip", "in place",
    ),
    "flip_reorders_the_batch": (
        [("    return torch.where(flip[:, None, None, None], images.flip(-1), images)",
          "    return torch.cat([images[flip].flip(-1), images[~flip]])")],
        "flip", "moved to another place",
    ),
    "global_rng": (
        [("flip = torch.rand(images.shape[0], generator=generator) < 0.5",
          "flip = torch.rand(images.shape[0]) < 0.5")],
        "seeding", "global random",
    ),
    "crop_offsets_exclusive_bound": (
        [("torch.randint(0, 2 * padding + 1, (2, n)", "torch.randint(0, 2 * padding, (2, n)")],
        "crop", "upper bound is exclusive",
    ),
    "crop_offsets_within_padding_only": (
        [("torch.randint(0, 2 * padding + 1, (2, n)", "torch.randint(0, padding + 1, (2, n)")],
        "crop", "never exceed 3",
    ),
    "one_crop_for_the_batch": (
        [("torch.randint(0, 2 * padding + 1, (2, n), generator=generator)",
          "torch.randint(0, 2 * padding + 1, (2, 1), generator=generator).expand(2, n)")],
        "crop", "same offset",
    ),
    "reflect_padding": (
        [("F.pad(images, (padding, padding, padding, padding))",
          "F.pad(images, (padding, padding, padding, padding), mode=\"reflect\")")],
        "crop", "'reflect' mode",
    ),
    "never_stops": (
        [("            if wait == patience:\n                break\n", "")],
        "early_stopping", "never fired",
    ),
    "stops_at_first_bad_epoch": (
        [("if wait == patience:", "if wait >= 1:")],
        "early_stopping", "the first epoch without improvement",
    ),
    "restores_nothing": (
        [("    model.load_state_dict(best_state)\n", "")],
        "best_weights", "the last epoch's weights",
    ),
    "state_dict_reference_not_copy": (
        [("copy.deepcopy(model.state_dict())", "model.state_dict()")],
        "best_weights", "returns the live tensors",
    ),
    "validation_in_train_mode": (
        [("    model.eval()\n    loss, correct", "    loss, correct")],
        "modes", "evaluated in training mode",
    ),
    "no_train_mode_after_validation": (
        [("        model.train()\n", "")],
        "modes", "stayed in eval mode",
    ),
    "no_augmentation_in_fit": (
        [("batch = random_flip(random_crop(x[idx], padding, generator), generator)",
          "batch = x[idx]")],
        "modes", "must augment every training batch",
    ),
}

TF_BUGS = {
    "epoch_loss_not_a_mean": (
        [('history["loss"].append(sum(losses) / len(losses))', 'history["loss"].append(sum(losses))')],
        "early_stopping", "Record the mean of the epoch's batch losses",
    ),
    "default_lr_not_1e_3": (
        [("patience: int, lr: float = 1e-3,", "patience: int, lr: float = 1e-2,")],
        "modes", "the default lr is 0.001",
    ),
    "default_batch_size_not_64": (
        [("batch_size: int = 64, padding: int = 2", "batch_size: int = 32, padding: int = 2")],
        "modes", "the default batch_size is 64",
    ),
    "default_padding_not_2": (
        [("batch_size: int = 64, padding: int = 2", "batch_size: int = 64, padding: int = 4")],
        "modes", "Is the default padding in your signature 2?",
    ),
    "val_accuracy_is_a_count": (
        [("float(np.mean(logits.argmax(axis=1) == y))", "float(np.sum(logits.argmax(axis=1) == y))")],
        "early_stopping", "val_accuracy is the fraction of validation images",
    ),
    "val_accuracy_counts_argmax_at_least_the_label": (
        [("float(np.mean(logits.argmax(axis=1) == y))", "float(np.mean(logits.argmax(axis=1) >= y))")],
        "best_weights", "but the history's `val_accuracy` for epoch",
    ),
    **loop_bugs(
        TF_SAVE, "model.get_weights()", "    model.set_weights(best_weights)\n", TF_AUGMENT,
        "    augmented = np.asarray(random_flip(random_crop(x, padding, seed_gen), seed_gen))\n",
        "            dy, dx = shuffle.integers(0, 2 * padding + 1, 2)\n"
        "            padded = np.pad(x[idx], ((0, 0), (padding, padding), (padding, padding), (0, 0)))\n"
        "            batch = random_flip(padded[:, dy:dy + x.shape[1], dx:dx + x.shape[2]], seed_gen)\n",
        ("        order = shuffle.permutation(len(x))\n",
         "        seed_gen, shuffle = keras.random.SeedGenerator(seed), np.random.default_rng(seed)\n"
         "        order = shuffle.permutation(len(x))\n"),
    ),
    "restores_the_trainable_weights_only": (
        [("model.get_weights(), 0  # copies", "[w.numpy() for w in model.trainable_weights], 0"),
         ("    model.set_weights(best_weights)\n",
          "    for w, value in zip(model.trainable_weights, best_weights):\n        w.assign(value)\n")],
        "best_weights", "only the parameters were restored",
    ),
    "drops_the_last_batch": (
        [("        for start in range(0, len(x), batch_size):\n            idx = order",
          "        for start in range(0, len(x) - batch_size + 1, batch_size):\n            idx = order")],
        "modes", "keep the last, smaller batch",
    ),
    "flip_along_height": (
        [("ops.flip(images, axis=2)", "ops.flip(images, axis=1)")],
        "flip", "upside down",
    ),
    "global_rng": (
        [("keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=seed)",
          "tf.random.uniform((ops.shape(images)[0], 1, 1, 1))")],
        "seeding", "global random",
    ),
    "crop_offsets_exclusive_bound": (
        [("dy = keras.random.randint((n,), 0, 2 * padding + 1, seed=seed)",
          "dy = keras.random.randint((n,), 0, 2 * padding, seed=seed)"),
         ("dx = keras.random.randint((n,), 0, 2 * padding + 1, seed=seed)",
          "dx = keras.random.randint((n,), 0, 2 * padding, seed=seed)")],
        "crop", "upper bound is exclusive",
    ),
    "one_crop_for_the_batch": (
        [("dy = keras.random.randint((n,), 0, 2 * padding + 1, seed=seed)",
          "dy = keras.random.randint((1,), 0, 2 * padding + 1, seed=seed)"),
         ("dx = keras.random.randint((n,), 0, 2 * padding + 1, seed=seed)",
          "dx = keras.random.randint((1,), 0, 2 * padding + 1, seed=seed)")],
        "crop", "same offset",
    ),
    "reflect_padding": (
        [("[padding, padding], [0, 0]])", "[padding, padding], [0, 0]], mode=\"reflect\")")],
        "crop", "'reflect' mode",
    ),
    "never_stops": (
        [("            if wait == patience:\n                break\n", "")],
        "early_stopping", "never fired",
    ),
    "stops_at_first_bad_epoch": (
        [("if wait == patience:", "if wait >= 1:")],
        "early_stopping", "the first epoch without improvement",
    ),
    "restores_nothing": (
        [("    model.set_weights(best_weights)\n", "")],
        "best_weights", "the last epoch's weights",
    ),
    "validation_with_training_true": (
        [("return model(xb, training=False)", "return model(xb, training=True)")],
        "modes", "evaluated in training mode",
    ),
}

TF_EARLY_STOPPING_WITHOUT_RESTORE = """
    import math

    import keras
    import numpy as np
    from keras import ops

    def random_flip(images, seed):
        flip = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=seed) < 0.5
        return ops.where(flip, ops.flip(images, axis=2), images)

    def random_crop(images, padding, seed):
        return images

    def fit(model, train_data, val_data, *, epochs, patience, lr=1e-3, batch_size=64, padding=2,
            seed=0):
        model.compile(optimizer=keras.optimizers.Adam(lr),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)
        return model.fit(*train_data, batch_size=batch_size, epochs=epochs, validation_data=val_data,
                         callbacks=[stop], verbose=0).history
"""


@needs("tf")
@pytest.mark.tf
@pytest.mark.slow
def test_tf_early_stopping_callback_without_restore_keeps_the_last_weights(grade_source):
    record = grade_source(EX, "tf", TF_EARLY_STOPPING_WITHOUT_RESTORE,
                          only=["api", "early_stopping", "best_weights"])
    assert check_of(record, "early_stopping").status == "pass"
    assert_caught(record, ("best_weights", "restore_best_weights=True"))


TORCH_VARIANTS = {
    "loops_clones_and_dataloader": """
        import torch
        import torch.nn.functional as F
        from torch.utils.data import DataLoader, TensorDataset

        def random_flip(images, generator):
            out = images.clone()
            for i in range(len(images)):
                if torch.rand((), generator=generator).item() < 0.5:
                    out[i] = images[i].flip(dims=(2,))
            return out

        def random_crop(images, padding, generator):
            n, _, h, w = images.shape
            padded = F.pad(images, [padding] * 4)
            out = torch.empty_like(images)
            for i in range(n):
                top, left = torch.randint(2 * padding + 1, (2,), generator=generator).tolist()
                out[i] = padded[i, :, top:top + h, left:left + w]
            return out

        def fit(model, train_data, val_data, *, epochs, patience, lr=1e-3, batch_size=64,
                padding=2, seed=0):
            g = torch.Generator().manual_seed(seed)
            loader = DataLoader(TensorDataset(*train_data), batch_size=batch_size, shuffle=True,
                                generator=torch.Generator().manual_seed(seed))
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            history = {"loss": [], "val_loss": [], "val_accuracy": []}
            best, best_state, since_best = None, None, 0
            for epoch in range(epochs):
                model.train()
                total = 0.0
                for xb, yb in loader:
                    opt.zero_grad()
                    loss = F.cross_entropy(model(random_flip(random_crop(xb, padding, g), g)), yb)
                    loss.backward()
                    opt.step()
                    total += loss.item()
                model.eval()
                with torch.no_grad():
                    logits = model(val_data[0])
                    val_loss = F.cross_entropy(logits, val_data[1]).item()
                    acc = (logits.argmax(dim=1) == val_data[1]).float().mean().item()
                history["loss"].append(total / len(loader))
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(acc)
                if best is None or val_loss < best:
                    best, since_best = val_loss, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    since_best += 1
                if since_best >= patience:
                    break
            model.load_state_dict(best_state)
            return history
    """,
    "whole_model_copy_and_index_select": """
        import copy
        import torch
        from torch import nn

        def random_flip(images, generator):
            flipped = torch.rand(len(images), generator=generator) < 0.5
            w = images.shape[-1]
            reverse = torch.arange(w - 1, -1, -1)
            mirrored = images.index_select(3, reverse)
            return torch.where(flipped.view(-1, 1, 1, 1), mirrored, images)

        def random_crop(images, padding, generator):
            n, c, h, w = images.shape
            big = images.new_zeros(n, c, h + 2 * padding, w + 2 * padding)
            big[:, :, padding:padding + h, padding:padding + w] = images
            offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator)
            return torch.stack([big[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(offsets.tolist())])

        def fit(model, train_data, val_data, *, epochs, patience, lr=1e-3, batch_size=64,
                padding=2, seed=0):
            gen = torch.Generator().manual_seed(seed)
            x, y = train_data
            xv, yv = val_data
            optimizer = torch.optim.Adam(model.parameters(), lr)
            loss_fn = nn.CrossEntropyLoss()
            history = {"loss": [], "val_loss": [], "val_accuracy": []}
            best_model, best_loss, bad_epochs = None, float("inf"), 0
            for _ in range(epochs):
                model.train()
                perm = torch.randperm(len(x), generator=gen)
                running = []
                for batch in perm.split(batch_size):
                    out = model(random_flip(random_crop(x[batch], padding, gen), gen))
                    loss = loss_fn(out, y[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    running.append(float(loss))
                model.eval()
                with torch.inference_mode():
                    losses, hits = [], 0
                    for xb, yb in zip(xv.split(batch_size), yv.split(batch_size)):
                        logits = model(xb)
                        losses.append(loss_fn(logits, yb).item() * len(xb))
                        hits += (logits.argmax(1) == yb).sum().item()
                val_loss = sum(losses) / len(xv)
                history["loss"].append(sum(running) / len(running))
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(hits / len(xv))
                if val_loss < best_loss:
                    best_loss, best_model, bad_epochs = val_loss, copy.deepcopy(model), 0
                    continue
                bad_epochs += 1
                if bad_epochs == patience:
                    break
            model.load_state_dict(best_model.state_dict())
            return history
    """,
}

TF_VARIANTS = {
    "model_fit_with_early_stopping_callback": """
        import math

        import keras
        import numpy as np
        from keras import ops

        def random_flip(images, seed):
            coin = keras.random.uniform((ops.shape(images)[0],), seed=seed)
            return ops.where((coin < 0.5)[:, None, None, None], images[:, :, ::-1, :], images)

        def random_crop(images, padding, seed):
            n, h, w, _ = ops.shape(images)
            padded = ops.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
            offsets = keras.random.randint((n, 2), 0, 2 * padding + 1, seed=seed)
            rows = offsets[:, :1] + ops.arange(h)[None]
            cols = offsets[:, 1:] + ops.arange(w)[None]
            out = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
            return ops.take_along_axis(out, cols[:, None, :, None], axis=2)

        def fit(model, train_data, val_data, *, epochs, patience, lr=1e-3, batch_size=64,
                padding=2, seed=0):
            x, y = train_data
            seed_gen = keras.random.SeedGenerator(seed)
            rng = np.random.default_rng(seed)

            def batches():
                while True:
                    order = rng.permutation(len(x))
                    for start in range(0, len(x), batch_size):
                        idx = order[start:start + batch_size]
                        xb = random_flip(random_crop(x[idx], padding, seed_gen), seed_gen)
                        yield np.asarray(xb), y[idx]

            model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                 restore_best_weights=True)
            history = model.fit(batches(), steps_per_epoch=math.ceil(len(x) / batch_size),
                                epochs=epochs, validation_data=val_data, callbacks=[stop],
                                verbose=0)
            return history.history
    """,
    "eager_loop_with_variable_copies": """
        import keras
        import numpy as np
        import tensorflow as tf

        def random_flip(images, seed):
            images = tf.convert_to_tensor(images)
            keep = keras.random.uniform((tf.shape(images)[0],), seed=seed) >= 0.5
            return tf.where(keep[:, None, None, None], images, tf.reverse(images, axis=[2]))

        def random_crop(images, padding, seed):
            images = tf.convert_to_tensor(images)
            h, w = images.shape[1], images.shape[2]
            padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
            n = images.shape[0]
            top = keras.random.randint((n,), 0, 2 * padding + 1, seed=seed).numpy()
            left = keras.random.randint((n,), 0, 2 * padding + 1, seed=seed).numpy()
            return tf.stack([padded[i, t:t + h, l:l + w] for i, (t, l) in enumerate(zip(top, left))])

        def fit(model, train_data, val_data, *, epochs, patience, lr=1e-3, batch_size=64,
                padding=2, seed=0):
            x, y = train_data
            xv, yv = val_data
            gen = keras.random.SeedGenerator(seed)
            order_rng = np.random.default_rng(seed)
            opt = keras.optimizers.Adam(lr)
            ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            history = {"loss": [], "val_loss": [], "val_accuracy": []}
            best, saved, waited = np.inf, None, 0
            for epoch in range(epochs):
                order = order_rng.permutation(len(x))
                losses = []
                for s in range(0, len(x), batch_size):
                    idx = order[s:s + batch_size]
                    xb = random_flip(random_crop(x[idx], padding, gen), gen)
                    with tf.GradientTape() as tape:
                        loss = ce(y[idx], model(xb, training=True))
                    grads = tape.gradient(loss, model.trainable_variables)
                    opt.apply_gradients(zip(grads, model.trainable_variables))
                    losses.append(float(loss))
                logits = model(xv, training=False)
                val_loss = float(ce(yv, logits))
                history["loss"].append(float(np.mean(losses)))
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(float(np.mean(np.argmax(logits, 1) == yv)))
                if val_loss < best:
                    best, waited = val_loss, 0
                    saved = [v.numpy().copy() for v in model.weights]
                else:
                    waited += 1
                    if waited >= patience:
                        break
            for v, value in zip(model.weights, saved):
                v.assign(value)
            return history
    """,
}

# more than ~2 s each: the variants run every check, these Keras bugs train their fit runs
SLOW = [*TORCH_VARIANTS, *TF_VARIANTS, "tf-never_stops", "tf-restores_nothing",
        "tf-validation_with_training_true", "tf-augments_once_before_the_loop",
        "tf-generator_reseeded_every_epoch", "tf-one_crop_offset_for_the_batch_in_fit",
        "tf-restores_only_when_stopping_fires", "tf-stops_one_epoch_late",
        "tf-keeps_a_copy_when_better_than_the_previous_epoch", "tf-keeps_a_copy_on_ties",
        "tf-drops_the_last_batch", "tf-stops_at_first_bad_epoch"]

test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=checks_for), *bugs("tf", TF_BUGS, only=checks_for),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=SLOW)
