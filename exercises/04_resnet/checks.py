"""Checks for 04_resnet: resnet18/34/50 with torchvision's layout, names and counts."""

from resnet_kata import data as D
from resnet_kata.checks.networks import NetSpec, NetTrain, net_checks

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


# the small models every check shares (Keras builds each once): odd sizes, batch 1,
# and non-default num_classes, in_channels and width
R18_W8 = r18(width=8)
R34_ODD = r34(num_classes=7, in_channels=4, width=8)
R50_W4 = r50(num_classes=10, in_channels=1, width=4)

SPEC = NetSpec(
    net=NET,
    fns=("resnet18", "resnet34", "resnet50"),
    signature=SIGNATURE,
    api=r18(num_classes=10, in_channels=1, width=8),
    attrs=("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"),
    traces=[(R18_W8, (1, 3, 224, 224)), (R34_ODD, (2, 4, 33, 47)), (R50_W4, (1, 1, 32, 32))],
    counts=[r18(), r34(), r50(), R34_ODD, R50_W4],
    structure=[R34_ODD, R50_W4, r18(), r34(), r50()],
    function=[(R18_W8, (2, 3, 40, 36)), (R50_W4, (2, 1, 35, 33))],
    training=NetTrain(
        build=r18(num_classes=4, width=8),
        gpu_build=r18(num_classes=4),
        data=patterns_32,
        in_shape=(2, 3, 32, 32),
        steps=80,
        target=0.85,
        task="a seeded 4-class image task (stripes and blobs, 32x32)",
    ),
)
# torchvision's models, checked key for key against the measured state_dicts (torch)
REFERENCE_BUILDS = [("resnet18", r18()), ("resnet34", r34()), ("resnet50", r50())]


def checks(framework: str):
    battery = net_checks(SPEC)
    if framework != "torch":
        return battery
    after = [c.name for c in battery].index("params") + 1
    return [*battery[:after], keys_check(SPEC, REFERENCE_BUILDS), *battery[after:]]
