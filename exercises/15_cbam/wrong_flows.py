"""CBAM's usual mistakes as named wrong data flows, for the battery's function check to name."""

from __future__ import annotations

from resnet_kata.checks.blocks import Flow
from resnet_kata.checks.probes import numpy_gate, softmax_over

from .flows import ca_gate, ca_logits, ca_scale, mlp_logits, sa_gate, sa_logits, sa_scale

CA_WRONG_FLOWS: dict[str, Flow] = {
    "only the AVERAGE-pooled descriptor reaches the MLP: that is SE's squeeze; CBAM sums "
    "MLP(avgpool(x)) and MLP(maxpool(x))":
        lambda A, m, x, t: x * A.sigmoid(mlp_logits(A, m, x)),
    "only the MAX-pooled descriptor reaches the MLP; CBAM sums MLP(avgpool(x)) and "
    "MLP(maxpool(x))":
        lambda A, m, x, t: x * A.sigmoid(mlp_logits(A, m, x, squeeze=A.spatial_max)),
    "a sigmoid on each branch, then the two gates summed; sum the two MLP outputs first, then "
    "apply ONE sigmoid":
        lambda A, m, x, t: x * (A.sigmoid(mlp_logits(A, m, x))
                                + A.sigmoid(mlp_logits(A, m, x, squeeze=A.spatial_max))),
    "a sigmoid on each branch, then the two gates averaged; sum the two MLP outputs first, "
    "then apply ONE sigmoid":
        lambda A, m, x, t: x * (0.5 * (A.sigmoid(mlp_logits(A, m, x))
                                       + A.sigmoid(mlp_logits(A, m, x, squeeze=A.spatial_max)))),
    "the two pooled descriptors are added BEFORE the MLP; each goes through the MLP on its "
    "own and the two outputs are summed":
        lambda A, m, x, t: x * A.sigmoid(mlp_logits(
            A, m, x, squeeze=lambda v: A.spatial_mean(v) + A.spatial_max(v))),
    "the ReLU between fc1 and fc2 is missing":
        lambda A, m, x, t: x * A.sigmoid(ca_logits(A, m, x, hidden=lambda h: h)),
    "the gate is a softmax over the channels instead of a sigmoid per channel":
        numpy_gate(ca_logits, softmax_over((1,))),
    "the gate is a ReLU instead of a sigmoid":
        lambda A, m, x, t: x * A.relu(ca_logits(A, m, x)),
    "the summed MLP output multiplies x without any sigmoid":
        lambda A, m, x, t: x * ca_logits(A, m, x),
    "the gate is added to x; channel attention multiplies x by it":
        lambda A, m, x, t: x + ca_gate(A, m, x),
}

SA_WRONG_FLOWS: dict[str, Flow] = {
    "the 2-channel map is concatenated as [max, mean]; the statement fixes [mean, max] (channel "
    "0 the mean, channel 1 the max), and the conv's weights depend on the order":
        lambda A, m, x, t: x * A.sigmoid(sa_logits(A, m, x, order=("max", "mean"))),
    "the 2-channel map is [mean, mean]: the channel-wise MAX is missing":
        lambda A, m, x, t: x * A.sigmoid(sa_logits(A, m, x, order=("mean", "mean"))),
    "the 2-channel map is [max, max]: the channel-wise MEAN is missing":
        lambda A, m, x, t: x * A.sigmoid(sa_logits(A, m, x, order=("max", "max"))),
    "the gate is a softmax over the positions instead of a sigmoid per position":
        numpy_gate(sa_logits, softmax_over((2, 3))),
    "the gate is a ReLU instead of a sigmoid":
        lambda A, m, x, t: x * A.relu(sa_logits(A, m, x)),
    "the conv's output multiplies x without any sigmoid":
        lambda A, m, x, t: x * sa_logits(A, m, x),
    "the gate is added to x; spatial attention multiplies x by it":
        lambda A, m, x, t: x + sa_gate(A, m, x),
}

CBAM_WRONG_FLOWS: dict[str, Flow] = {
    "spatial attention runs first; CBAM applies channel attention first, then spatial "
    "attention to its output (the paper's best arrangement)":
        lambda A, b, x, t: ca_scale(A, b.channel, sa_scale(A, b.spatial, x)),
    "the two attentions run in parallel on x (both gates computed from x); the spatial gate is "
    "computed from the channel-refined features":
        lambda A, b, x, t: x * ca_gate(A, b.channel, x) * sa_gate(A, b.spatial, x),
    "the two refined maps are added (channel(x) + spatial(x)); CBAM chains them: "
    "spatial(channel(x))":
        lambda A, b, x, t: ca_scale(A, b.channel, x) + sa_scale(A, b.spatial, x),
    "only channel attention is applied: `spatial` is never called":
        lambda A, b, x, t: ca_scale(A, b.channel, x),
    "only spatial attention is applied: `channel` is never called":
        lambda A, b, x, t: sa_scale(A, b.spatial, x),
}
