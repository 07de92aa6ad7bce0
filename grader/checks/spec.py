"""Expected layers, written once for both frameworks, and the diff against the learner's.

An exercise describes the layers it expects as `{path: spec}`, e.g.
`{"conv1": Conv(16, 32, 3, stride=2), "bn1": BN(32), "downsample": None}`.
From that the battery derives the closed-form parameter count, the structure
check, and a per-layer diff that names what is wrong ("conv2 has a bias").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..i18n import _


@dataclass(frozen=True)
class Conv:
    cin: int
    cout: int
    k: int
    stride: int = 1
    groups: int = 1
    bias: bool = False
    dims: int = 2

    def trainable(self) -> int:
        return self.k**self.dims * (self.cin // self.groups) * self.cout + (
            self.cout if self.bias else 0
        )

    def non_trainable(self, framework: str) -> int:
        return 0

    def describe(self) -> str:
        k = "x".join([str(self.k)] * self.dims)
        parts = [_("{k} conv {cin}->{cout}").format(k=k, cin=self.cin, cout=self.cout)]
        if self.stride != 1:
            parts.append(_("stride {stride}").format(stride=self.stride))
        if self.groups != 1:
            parts.append(_("groups {groups}").format(groups=self.groups))
        parts.append(_("with bias") if self.bias else _("no bias"))
        return _(", ").join(parts)


@dataclass(frozen=True)
class BN:
    ch: int

    def trainable(self) -> int:
        return 2 * self.ch

    def non_trainable(self, framework: str) -> int:
        # Keras counts the moving mean and variance as non-trainable weights;
        # torch keeps them as buffers, outside parameters().
        return 2 * self.ch if framework == "tf" else 0

    def describe(self) -> str:
        return _("BatchNorm over {ch} channels").format(ch=self.ch)


@dataclass(frozen=True)
class Dense:
    cin: int
    cout: int
    bias: bool = True
    conv_ok: bool = False  # a 1x1 convolution is an acceptable way to write it

    def trainable(self) -> int:
        return self.cin * self.cout + (self.cout if self.bias else 0)

    def non_trainable(self, framework: str) -> int:
        return 0

    def describe(self) -> str:
        if self.bias:
            text = (_("Linear/Dense (or 1x1 conv) {cin}->{cout}, with bias") if self.conv_ok
                    else _("Linear/Dense {cin}->{cout}, with bias"))
        else:
            text = (_("Linear/Dense (or 1x1 conv) {cin}->{cout}, no bias") if self.conv_ok
                    else _("Linear/Dense {cin}->{cout}, no bias"))
        return text.format(cin=self.cin, cout=self.cout)


@dataclass(frozen=True)
class Seq:
    items: tuple[Any, ...]

    def describe(self) -> str:
        return _("a {n}-element sequential: {items}").format(
            n=len(self.items), items=_(" then ").join(i.describe() for i in self.items))


Spec = Conv | BN | Dense | Seq | None


def flatten(expected: dict[str, Spec]) -> dict[str, Spec]:
    """Expand `Seq` entries into `path.0`, `path.1`, ... leaves (the Seq stays too)."""
    out: dict[str, Spec] = {}
    for path, spec in expected.items():
        out[path] = spec
        if isinstance(spec, Seq):
            for i, item in enumerate(spec.items):
                out.update(flatten({f"{path}.{i}": item}))
    return out


def leaves(expected: dict[str, Spec]) -> dict[str, Spec]:
    return {p: s for p, s in flatten(expected).items() if isinstance(s, (Conv, BN, Dense))}


def expected_counts(expected: dict[str, Spec], framework: str) -> tuple[int, int]:
    specs = leaves(expected).values()
    return sum(s.trainable() for s in specs), sum(s.non_trainable(framework) for s in specs)


def _fmt(n: int) -> str:
    return f"{n:,}"


def _tuple(v: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in v) if isinstance(v, (tuple, list)) else (int(v),)


def compare(A: Any, model: Any, expected: dict[str, Spec]) -> list[tuple[str, str, str]]:
    """Differences between the learner's layers and the expected ones.

    Returns (path, field, message) triples; `field` is one of missing, present,
    kind, kernel, stride, groups, bias, channels, length, so that an exercise
    can map a (path, field) pair to its own likely-mistake sentence.
    """
    diffs: list[tuple[str, str, str]] = []
    for path, spec in flatten(expected).items():
        if "." in path and path.rsplit(".", 1)[0] in {d[0] for d in diffs}:
            continue  # the parent is already wrong; its items would only repeat it
        layer = A.get(model, path)
        info = A.info(layer)
        if spec is None:
            if layer is not None:
                t, _nt = A.count(layer) if A.is_model(layer) else (0, 0)
                diffs.append(
                    (path, "present", _("`{path}` should be None here, found {type} with {n} "
                                        "parameters").format(path=path, type=info.type_name, n=_fmt(t)))
                )
            continue
        if info.kind == "missing":
            diffs.append((path, "missing", _("`{path}` missing: expected {spec}").format(
                path=path, spec=spec.describe())))
            continue
        if isinstance(spec, Seq):
            n = info.extra.get("length")
            if info.kind != "sequential" or n != len(spec.items):
                found = (_("a {type} of {n} layers") if n is not None else _("a {type}")).format(
                    type=info.type_name, n=n)
                diffs.append((path, "length", _("`{path}` should be {spec}; found {found}").format(
                    path=path, spec=spec.describe(), found=found)))
            continue
        diffs.extend(_compare_leaf(path, spec, info))
    return diffs


def _compare_leaf(path: str, spec: Any, info: Any) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    if isinstance(spec, Conv):
        if info.kind != "conv":
            return [(path, "kind", _should_be(path, spec, info))]
        if info.dims and info.dims != spec.dims:
            out.append((path, "kind", _("`{path}` is a {dims}-D conv, expected {want}-D").format(
                path=path, dims=info.dims, want=spec.dims)))
        if any(k != spec.k for k in _tuple(info.kernel)):
            out.append((path, "kernel", _("`{path}` kernel is {kernel}, expected {want}").format(
                path=path, kernel=info.kernel, want=spec.k)))
        if any(s != spec.stride for s in _tuple(info.stride)):
            out.append((path, "stride", _("`{path}` stride is {stride}, expected {want}").format(
                path=path, stride=info.stride, want=spec.stride)))
        if info.groups != spec.groups:
            out.append((path, "groups", _("`{path}` has groups={groups}, expected {want}").format(
                path=path, groups=info.groups, want=spec.groups)))
        if (info.in_channels, info.out_channels) != (spec.cin, spec.cout):
            out.append(
                (path, "channels", _("`{path}` maps {cin}->{cout} channels, expected "
                                     "{want_in}->{want_out}").format(
                    path=path, cin=info.in_channels, cout=info.out_channels,
                    want_in=spec.cin, want_out=spec.cout))
            )
        if info.bias and not spec.bias:
            out.append(
                (path, "bias", _("`{path}` has a bias (+{n} parameters): a conv followed by "
                                 "BatchNorm needs none, BN's beta already shifts "
                                 "(bias=False / use_bias=False)").format(path=path, n=_fmt(spec.cout)))
            )
        elif spec.bias and not info.bias:
            out.append((path, "bias", _("`{path}` has no bias, expected one").format(path=path)))
    elif isinstance(spec, BN):
        if info.kind != "bn":
            return [(path, "kind", _("`{path}` should be {spec}; found {type}").format(
                path=path, spec=spec.describe(), type=info.type_name))]
        if info.in_channels != spec.ch:
            out.append(
                (path, "channels", _("`{path}` normalises {ch} channels, expected {want}").format(
                    path=path, ch=info.in_channels, want=spec.ch))
            )
    elif isinstance(spec, Dense):
        as_conv = spec.conv_ok and info.kind == "conv" and set(_tuple(info.kernel)) == {1}
        if info.kind != "linear" and not as_conv:
            return [(path, "kind", _should_be(path, spec, info))]
        if (info.in_channels, info.out_channels) != (spec.cin, spec.cout):
            out.append(
                (path, "channels", _("`{path}` maps {cin}->{cout}, expected {want_in}->{want_out}").format(
                    path=path, cin=info.in_channels, cout=info.out_channels,
                    want_in=spec.cin, want_out=spec.cout))
            )
        if info.bias != spec.bias:
            text = (_("`{path}` has a bias, expected none") if info.bias
                    else _("`{path}` has no bias, expected one"))
            out.append((path, "bias", text.format(path=path)))
    return out


def _should_be(path: str, spec: Any, info: Any) -> str:
    return _("`{path}` should be a {spec}; found {type}").format(
        path=path, spec=spec.describe(), type=info.type_name)


def walk(A: Any, obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every sublayer below `obj` with its dotted path (first path wins for shared ones)."""
    seen: set[int] = set()
    out: list[tuple[str, Any]] = []

    def visit(o: Any, pre: str) -> None:
        for name, child in A.children(o).items():
            if id(child) in seen:
                continue
            seen.add(id(child))
            path = f"{pre}{name}"
            out.append((path, child))
            visit(child, path + ".")

    visit(obj, prefix)
    return out


def unexpected_params(A: Any, model: Any, expected: dict[str, Spec]) -> list[tuple[str, int]]:
    """Layers carrying parameters that no expected path accounts for."""
    wanted = [A.get(model, p) for p in leaves(expected)]
    wanted_ids = {id(w) for w in wanted if w is not None}
    inside: set[int] = set()
    for w in wanted:
        if w is not None:
            inside.update(id(m) for _, m in walk(A, w))
    found: list[tuple[str, int]] = []
    reported: list[str] = []
    for path, layer in walk(A, model):
        if id(layer) in wanted_ids or id(layer) in inside:
            continue
        if any(path.startswith(r + ".") for r in reported):
            continue
        sub = walk(A, layer)
        if any(id(m) in wanted_ids for _, m in sub):
            continue  # a container of expected layers (e.g. an nn.Sequential branch)
        t, n = A.count(layer)
        if t + n:
            found.append((path, t + n))
            reported.append(path)
    return found
