"""Checks for 04_resnet: resnet18/34/50 with torchvision's layout, names and counts."""

from resnet_kata import data as D
from resnet_kata.checks import Check, CheckFailed, Context, fail
from resnet_kata.checks import spec as S
from resnet_kata.checks.networks import NetSpec, NetTrain, net_checks, prepared

from .keys import keys_check
from .network import NET, ResNetBuild

DEFAULTS = {"num_classes": 1000, "in_channels": 3, "width": 64}
SIGNATURE = "resnet18(num_classes=1000, in_channels=3, width=64) (and resnet34, resnet50)"


def r18(**kwargs) -> ResNetBuild:
    return ResNetBuild.of("resnet18", "basic", (2, 2, 2, 2), DEFAULTS, **kwargs)


def r34(**kwargs) -> ResNetBuild:
    return ResNetBuild.of("resnet34", "basic", (3, 4, 6, 3), DEFAULTS, **kwargs)


def r50(**kwargs) -> ResNetBuild:
    return ResNetBuild.of("resnet50", "bottleneck", (3, 4, 6, 3), DEFAULTS, **kwargs)


def patterns_32():
    x, y = D.patterns(800, 32, 3, seed=7)
    return D.split(x, y)


# the small models every check shares (Keras builds each once): odd sizes, batch 1, and
# non-default num_classes, in_channels and width for every builder (a builder that drops an
# argument is caught by its own model)
R18_W8 = r18(num_classes=10, in_channels=1, width=8)
R34_ODD = r34(num_classes=7, in_channels=4, width=8)
R50_W4 = r50(num_classes=10, in_channels=1, width=4)

SPEC = NetSpec(
    net=NET,
    fns=("resnet18", "resnet34", "resnet50"),
    signature=SIGNATURE,
    api=R18_W8,
    attrs=("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"),
    traces=[(R18_W8, (1, 1, 224, 224)), (R34_ODD, (2, 4, 33, 47)), (R50_W4, (1, 1, 32, 32))],
    counts=[r18(), r34(), r50(), R34_ODD, R50_W4],
    structure=[R34_ODD, R50_W4, r18(), r34(), r50()],
    # every builder by function; 33x65 leaves layer4 a non-square 2x3 map (a pool over a
    # square window gets it wrong)
    function=[(R18_W8, (2, 1, 40, 36)), (R34_ODD, (2, 4, 33, 65)), (R50_W4, (2, 1, 35, 33))],
    training=NetTrain(
        build=r18(num_classes=4, width=8),
        gpu_build=r18(num_classes=4),
        data=patterns_32,
        in_shape=(2, 3, 32, 32),
        steps=50,
        target=0.85,
        task="a seeded 4-class image task (stripes and blobs, 32x32)",
    ),
)
# torchvision's models, checked key for key against the measured state_dicts (torch)
REFERENCE_BUILDS = [("resnet18", r18()), ("resnet34", r34()), ("resnet50", r50())]


def never_called(ctx: Context, b: ResNetBuild, model) -> list[str]:
    """The expected layers of a Keras model that have no weights after a forward pass."""
    A = ctx.A
    return [p for p in S.leaves(NET.layers(b))
            if (layer := A.get(model, p)) is not None and A.info(layer).in_channels is None]


def padding_diffs(ctx: Context, b: ResNetBuild, model) -> list[str]:
    """Each conv wider than 1x1 pads itself: torch k // 2 (the stem 3, a 3x3 1), Keras "same"."""
    A, out = ctx.A, []
    for path, want in S.leaves(NET.layers(b)).items():
        layer = A.get(model, path)
        if not isinstance(want, S.Conv) or want.k == 1 or layer is None:
            continue
        pad = A.info(layer).padding
        ok = (pad == "same") if A.channels_last else (
            isinstance(pad, (tuple, list)) and tuple(pad) == (want.k // 2,) * 2)
        if not ok:
            shown = f'"{pad}"' if isinstance(pad, str) else str(tuple(pad))
            out.append(f"`{path}` has padding {shown}, expected "
                       + ('"same"' if A.channels_last else str(want.k // 2)))
    return out


def padding_failure(ctx: Context, builds) -> None:
    for b in builds:
        diffs = padding_diffs(ctx, b, prepared(ctx, SPEC, b))
        if diffs:
            more = f" (and {len(diffs) - 3} more)" if len(diffs) > 3 else ""
            fail(f"In `{b.text()}`: " + "; ".join(diffs[:3]) + more + ". The padding belongs to "
                 "the conv (" + ('padding="same"; not a separate ZeroPadding2D, which pads '
                                 "symmetrically where Keras' \"same\" pads the bottom and right"
                                 if ctx.A.channels_last else "padding 3 for the 7x7 stem, 1 for "
                                 "each 3x3") + "), so the grader's recomputation from your layers "
                 "matches your forward.")


def with_padding(check: Check) -> Check:
    """structure: every conv also pads itself."""
    inner = check.run

    def run(ctx: Context) -> str:
        message = inner(ctx)
        padding_failure(ctx, SPEC.structure)
        return message

    check.run = run
    return check


def built_first(check: Check) -> Check:
    """Keras: every layer of the function check's models was called (has weights) before the
    grader randomises their BN statistics; else name the layer call() never applies. A failure
    of a model whose convs pad outside themselves names that."""
    inner = check.run

    def checked(ctx: Context) -> str:
        try:
            return inner(ctx)
        except CheckFailed:
            padding_failure(ctx, [b for b, _shape in SPEC.function])
            raise

    def run(ctx: Context) -> str:
        if ctx.framework == "tf":
            for b, in_shape in SPEC.function:
                idle = never_called(ctx, b, prepared(ctx, SPEC, b, in_shape))
                if idle:
                    more = f" (and {len(idle) - 1} more)" if len(idle) > 1 else ""
                    why = (" A shortcut is downsample(x, training=training): the 1x1 conv, then its "
                           "BatchNorm." if any("downsample" in p for p in idle) else "")
                    fail(f"In `{b.text()}`, `{idle[0]}`{more} still has no weights after a forward "
                         "pass: your call() never applies it (Keras creates a layer's weights on "
                         "its first call)." + why)
        return checked(ctx)

    check.run = run
    return check


def checks(framework: str):
    guards = {"function": built_first, "structure": with_padding}
    battery = [guards.get(c.name, lambda c: c)(c) for c in net_checks(SPEC)]
    if framework != "torch":
        return battery
    after = [c.name for c in battery].index("params") + 1
    return [*battery[:after], keys_check(SPEC, REFERENCE_BUILDS), *battery[after:]]
