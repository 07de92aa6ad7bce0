"""Checks for 05_resnet1d_audio: ResNet1D, a ResNet-18-style network over time."""

from resnet_kata import data as D
from resnet_kata.checks.networks import NetSpec, NetTrain, net_checks

from .network import NET, Net1DBuild

DEFAULTS = {"in_channels": 1, "num_classes": 10, "layers": (2, 2, 2, 2), "width": 32}
ONE_INTEGER = (
    "1-D layers take one integer per argument: Conv1d/Conv1D(..., kernel_size=3), "
    "MaxPool1d/MaxPooling1D(3, ...); (3, 3) or (2, 2) are 2-D arguments."
)


def net(**kwargs) -> Net1DBuild:
    return Net1DBuild.of("ResNet1D", DEFAULTS, **kwargs)


def audio_clips():
    x, y = D.audio(800, 256, seed=11)
    return D.split(x, y)


# the models every check shares (Keras builds each once)
DEFAULT = net()
MFCC = net(in_channels=40, num_classes=12, width=16)
SMALL = net(in_channels=3, num_classes=4, layers=(1, 2, 1, 1), width=8)

SPEC = NetSpec(
    net=NET,
    fns=("ResNet1D",),
    signature="ResNet1D(in_channels=1, num_classes=10, layers=(2, 2, 2, 2), width=32)",
    api=net(in_channels=2, num_classes=5, layers=(1, 1, 1, 1), width=8),
    attrs=("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"),
    traces=[(DEFAULT, (1, 1, 64)), (MFCC, (2, 40, 101)), (SMALL, (3, 3, 1000))],
    counts=[DEFAULT, MFCC, SMALL],
    structure=[DEFAULT, MFCC, SMALL],
    function=[(SMALL, (2, 3, 100)), (MFCC, (3, 40, 67))],
    error_hints=[
        ("must be a tuple of 1 integers", ONE_INTEGER),
        ("4-dimensional weight", ONE_INTEGER),
        ("tuple of ints of size 1", ONE_INTEGER),
    ],
    training=NetTrain(
        build=net(num_classes=5, width=8),
        data=audio_clips,
        in_shape=(2, 1, 256),
        steps=50,
        target=0.9,
        task="a seeded 5-class audio task (tones, chirps, noise; 256 samples)",
    ),
)


def checks(framework: str):
    return net_checks(SPEC)
