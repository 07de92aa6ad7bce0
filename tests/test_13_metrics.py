"""13_metrics: typical bugs are caught by the right check; correct variants pass; the CLI
runs a numpy-only exercise end to end (no --framework, no torch, no tensorflow)."""

from __future__ import annotations

import json
import shutil

import pytest

from resnet_kata import catalog, cli

from .conftest import bugs, case_test, check_of, mutate, solution_source, variants

EX = "13_metrics"
FW = "numpy"
FAST = ["api", "confusion_matrix", "num_classes", "bad_labels", "accuracy", "per_class",
        "averages", "edge_cases", "top_k", "top_k_ties", "inputs", "no_mutation", "interview"]

CM_BODY = "    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)\n"
RANGE_CHECK = (
    "    if low < 0 or high >= num_classes:\n"
    "        raise ValueError(f\"labels must lie in [0, {num_classes}); found {low}..{high}\")\n"
)
DEFAULT_K = "        num_classes = int(max(y_true.max(), y_pred.max())) + 1\n"
MACRO_RETURN = "    return tuple(float(np.sum(weights * v)) for v in (precision, recall, f1))\n"
RANK = "    return float(np.mean(rank < k))\n"

BUGS = {
    "labels_must_include_zero": (
        [("if low < 0 or high >= num_classes:", "if low > 0 or high >= num_classes:")],
        "bad_labels", "a class that never occurs (here 0) is fine",
    ),
    "top_k_default_not_5": (
        [("def top_k_accuracy(labels, scores, k=5)", "def top_k_accuracy(labels, scores, k=3)")],
        "top_k", "the default is k=5",
    ),
    "average_compared_with_is": (
        [('if average == "micro":', 'if average is "micro":')],
        "averages", "Micro pools the counts of every class",
    ),
    "transposed_matrix": (
        [("np.bincount(y_true * k + y_pred", "np.bincount(y_pred * k + y_true")],
        "confusion_matrix", "Rows and columns are swapped",
    ),
    "buffered_fancy_increment": (
        [(CM_BODY, "    m = np.zeros((k, k), dtype=np.int64)\n    m[y_true, y_pred] += 1\n    return m\n")],
        "confusion_matrix", "counted once",
    ),
    "float_counts": (
        [(CM_BODY, "    m = np.zeros((k, k))\n    np.add.at(m, (y_true, y_pred), 1)\n    return m\n")],
        "confusion_matrix", "counts are integers",
    ),
    "default_k_from_y_true_only": (
        [(DEFAULT_K, "        num_classes = int(y_true.max()) + 1\n")],
        "num_classes", "over BOTH arrays",
    ),
    "default_k_counts_distinct_labels": (
        [(DEFAULT_K, "        num_classes = len(np.union1d(y_true, y_pred))\n")],
        "num_classes", "not the number of distinct labels",
    ),
    "num_classes_ignored": (
        [("    if num_classes is None:\n" + DEFAULT_K, DEFAULT_K.replace("        ", "    ", 1))],
        "num_classes", "num_classes=5 was ignored",
    ),
    "no_label_validation": (
        [(RANGE_CHECK, "")],
        "bad_labels", "accepted a predicted label 3",
    ),
    "add_at_wraps_negative_labels": (
        [(RANGE_CHECK, ""),
         (CM_BODY, "    m = np.zeros((k, k), dtype=np.int64)\n    np.add.at(m, (y_true, y_pred), 1)\n"
                   "    return m\n")],
        "bad_labels", "a label of -1",
    ),
    "accuracy_is_a_count": (
        [("    return float(np.mean(y_true == y_pred))", "    return float(np.sum(y_true == y_pred))")],
        "accuracy", "the number of correct predictions",
    ),
    "accuracy_in_percent": (
        [("    return float(np.mean(y_true == y_pred))",
          "    return float(100 * np.mean(y_true == y_pred))")],
        "accuracy", "a percentage",
    ),
    "precision_recall_swapped": (
        [("    precision = _ratio(tp, predicted)\n    recall = _ratio(tp, support)\n",
          "    precision = _ratio(tp, support)\n    recall = _ratio(tp, predicted)\n")],
        "per_class", "Precision and recall are swapped",
    ),
    "f1_arithmetic_mean": (
        [("    f1 = _ratio(2 * precision * recall, precision + recall)",
          "    f1 = (precision + recall) / 2")],
        "per_class", "HARMONIC mean",
    ),
    "macro_f1_from_macro_p_and_r": (
        [(MACRO_RETURN,
          "    p, r = float(np.sum(weights * precision)), float(np.sum(weights * recall))\n"
          "    return p, r, 2 * p * r / (p + r)\n")],
        "averages", "harmonic mean of macro precision and macro recall",
    ),
    "weighted_f1_from_weighted_p_and_r": (
        [(MACRO_RETURN,
          "    if average == \"weighted\":\n"
          "        p, r = float(np.sum(weights * precision)), float(np.sum(weights * recall))\n"
          "        return p, r, 2 * p * r / (p + r)\n" + MACRO_RETURN)],
        "averages", "harmonic mean of weighted precision and weighted recall",
    ),
    "weighted_by_predictions": (
        [("weights = support / support.sum()", "weights = predicted / predicted.sum()")],
        "averages", "how often each class was PREDICTED",
    ),
    "weighted_not_normalised": (
        [("weights = support / support.sum()", "weights = support")],
        "averages", "not divided by the total support",
    ),
    "micro_is_macro": (
        [("    if average == \"micro\":", "    if average == \"micro-disabled\":")],
        "averages", "That is the MACRO average",
    ),
    "macro_over_present_classes_only": (
        [(MACRO_RETURN,
          "    if average == \"macro\":\n"
          "        seen = (support + predicted) > 0\n"
          "        return tuple(float(v[seen].mean()) for v in (precision, recall, f1))\n"
          + MACRO_RETURN)],
        "averages", "only over the classes that appear",
    ),
    "unknown_average_falls_back": (
        [("        raise ValueError(f\"average must be 'macro', 'weighted', 'micro' or None, not "
          "{average!r}\")", "        average = \"macro\"")],
        "averages", "must raise ValueError",
    ),
    "zero_division_gives_nan": (
        [("    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)",
          "    with np.errstate(invalid=\"ignore\", divide=\"ignore\"):\n        return num / den")],
        "edge_cases", "nan or inf",
    ),
    "zero_division_gives_one": (
        [("out=np.zeros_like(num)", "out=np.ones_like(num)")],
        "edge_cases", "never predicted (TP + FP = 0): the convention is 0",
    ),
    "top_k_off_by_one": (
        [(RANK, "    return float(np.mean(rank <= k))\n")],
        "top_k", "off-by-one in k",
    ),
    "top_k_lowest_scores": (
        [("    rank = np.sum(scores >= true_score[:, None], axis=1) - 1\n" + RANK,
          "    top = np.argsort(scores, axis=1)[:, :k]\n"
          "    return float(np.mean(np.any(top == labels[:, None], axis=1)))\n")],
        "top_k", "k LOWEST scores",
    ),
    "top_k_argpartition_k_above_classes": (
        [("    rank = np.sum(scores >= true_score[:, None], axis=1) - 1\n" + RANK,
          "    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]\n"
          "    return float(np.mean(np.any(top == labels[:, None], axis=1)))\n")],
        "top_k", "k may exceed the number of classes",
    ),
    "top_k_ties_count_for_the_true_class": (
        [("    rank = np.sum(scores >= true_score[:, None], axis=1) - 1\n",
          "    rank = np.sum(scores > true_score[:, None], axis=1)\n")],
        "top_k_ties", "ties count against",
    ),
    "top_k_ties_by_sorting": (
        [("    rank = np.sum(scores >= true_score[:, None], axis=1) - 1\n" + RANK,
          "    top = np.argsort(-scores, axis=1, kind=\"stable\")[:, :k]\n"
          "    return float(np.mean(np.any(top == labels[:, None], axis=1)))\n")],
        "top_k_ties", "ties count against",
    ),
    "list_inputs_compared_as_lists": (
        [("    y_true, y_pred, _ = _labels(y_true, y_pred)\n    return float(np.mean(y_true == y_pred))",
          "    return float(np.mean(y_true == y_pred))")],
        "inputs", "gives ONE bool",
    ),
    "top_k_writes_into_scores": (
        [("    true_score = scores[np.arange(labels.size), labels]\n",
          "    true_score = scores[np.arange(labels.size), labels].copy()\n"
          "    scores[np.arange(labels.size), labels] = -np.inf  # drop the true class ...\n"),
         ("    rank = np.sum(scores >= true_score[:, None], axis=1) - 1\n",
          "    rank = np.sum(scores >= true_score[:, None], axis=1)  # ... so no - 1\n")],
        "no_mutation", "changed its argument `scores` in place",
    ),
    "uses_a_library": (
        [("import numpy as np\n",
          "import types\n\nimport numpy as np\n\n"
          "sklearn = types.ModuleType(\"sklearn\")  # stands in for `import sklearn`\n")],
        "api", "numpy-only",
    ),
    "misnamed_function": (
        [("def top_k_accuracy(", "def topk_accuracy(")],
        "api", "no function named `top_k_accuracy`",
    ),
}


@pytest.mark.slow  # waits for the 4 s stop
def test_a_slow_count_is_stopped_and_named(grade_source):
    slow = mutate(solution_source(EX, FW), (CM_BODY, (
        "    m = np.zeros((k, k), dtype=np.int64)\n"
        "    for i in range(k):\n"
        "        for j in range(k):\n"
        "            m[i, j] = np.sum((y_true == i) & (y_pred == j))\n"
        "    return m\n")))
    record = grade_source(EX, FW, slow, only=["confusion_matrix", "scale"])
    assert check_of(record, "confusion_matrix").status == "pass"  # right, only slow
    result = check_of(record, "scale")
    assert result.status == "fail" and "np.bincount" in result.message, result.message
    assert result.seconds < 15


LOOPS = '''
def confusion_matrix(y_true, y_pred, num_classes=None):
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError("lengths differ")
    if num_classes is None:
        num_classes = max(max(y_true), max(y_pred)) + 1
    m = np.zeros((num_classes, num_classes), dtype=int)
    for t, p in zip(y_true, y_pred):
        if not (0 <= t < num_classes and 0 <= p < num_classes):
            raise ValueError(f"label out of range: {t}, {p}")
        m[t, p] += 1
    return m


def accuracy(y_true, y_pred):
    y_true, y_pred = list(y_true), list(y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)


def precision_recall_f1(y_true, y_pred, num_classes=None, average="macro"):
    if average not in ("macro", "weighted", "micro", None):
        raise ValueError(average)
    m = confusion_matrix(y_true, y_pred, num_classes)
    k, n = len(m), int(m.sum())
    if average == "micro":
        a = accuracy(y_true, y_pred)
        return a, a, a
    ps, rs, fs = [], [], []
    for c in range(k):
        tp, col, row = m[c, c], m[:, c].sum(), m[c, :].sum()
        p = tp / col if col else 0.0
        r = tp / row if row else 0.0
        ps.append(p)
        rs.append(r)
        fs.append(2 * p * r / (p + r) if p + r else 0.0)
    if average is None:
        return np.array(ps), np.array(rs), np.array(fs)
    w = [m[c, :].sum() / n if average == "weighted" else 1 / k for c in range(k)]
    return tuple(sum(wc * v for wc, v in zip(w, vals)) for vals in (ps, rs, fs))


def top_k_accuracy(labels, scores, k=5):
    scores = np.asarray(scores)
    hits = 0
    for row, label in zip(scores, labels):
        above = int(np.count_nonzero(row >= row[label])) - 1
        hits += above < k
    return hits / len(scores)
'''

VECTORISED = '''
def confusion_matrix(y_true, y_pred, num_classes=None):
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError("y_true and y_pred differ in length")
    k = int(np.max(np.concatenate([t, p]))) + 1 if num_classes is None else num_classes
    if np.any((t < 0) | (t >= k) | (p < 0) | (p >= k)):
        raise ValueError("label outside [0, num_classes)")
    m = np.zeros((k, k), dtype=np.int32)
    np.add.at(m, (t, p), 1)
    return m


def accuracy(y_true, y_pred):
    return float(np.trace(confusion_matrix(y_true, y_pred)) / len(y_true))


def precision_recall_f1(y_true, y_pred, num_classes=None, average="macro"):
    m = confusion_matrix(y_true, y_pred, num_classes).astype(float)
    tp = np.diag(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.nan_to_num(tp / m.sum(0))
        r = np.nan_to_num(tp / m.sum(1))
        f = np.nan_to_num(2 * p * r / (p + r))
    if average is None:
        return p, r, f
    if average == "micro":
        fp, fn = m.sum(0) - tp, m.sum(1) - tp
        mp, mr = tp.sum() / (tp.sum() + fp.sum()), tp.sum() / (tp.sum() + fn.sum())
        return mp, mr, 2 * mp * mr / (mp + mr) if mp + mr else 0.0
    if average == "weighted":
        return tuple(np.average(v, weights=m.sum(1)) for v in (p, r, f))
    if average == "macro":
        return p.mean(), r.mean(), f.mean()
    raise ValueError(f"unknown average {average!r}")


def top_k_accuracy(labels, scores, k=5):
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels)
    true = np.take_along_axis(s, y[:, None], axis=1)
    beaten_or_tied = (s > true).sum(1) + (s == true).sum(1) - 1
    return float((beaten_or_tied < k).mean())
'''


VARIANTS = {"LOOPS": "import numpy as np\n" + LOOPS, "VECTORISED": "import numpy as np\n" + VECTORISED}

test_cases = case_test(EX, [*bugs(FW, BUGS, only=FAST), *variants(FW, VARIANTS)])


@pytest.fixture
def grade_source(grade_source):
    """Every message of this exercise names the mistake in words: none shows a traceback."""

    def grade(*args, **kwargs):
        record = grade_source(*args, **kwargs)
        shown = [c.name for c in record.checks if "Traceback" in c.message]
        assert not shown, f"a traceback in the message of {shown}"
        return record

    return grade


def test_the_interview_check_states_the_lesson(grade_source):
    record = grade_source(EX, FW, solution_source(EX, FW), only=["interview"])
    result = check_of(record, "interview")
    assert result.status == "pass"
    assert "looks fine, yet macro-F1" in result.message and "majority class" in result.message
    # the worker may lift a check's "accuracy" detail into the result's own field
    accuracy = getattr(result, "accuracy", None)
    accuracy = result.details["accuracy"] if accuracy is None else accuracy
    assert accuracy > 0.85 > 0.5 > result.details["macro_f1"]


# -- the CLI, end to end, for a numpy-only exercise -----------------------------------


@pytest.fixture
def kata(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESNET_KATA_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str):
        capsys.readouterr()
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    run.workspace = tmp_path / "ws"
    return run


def test_cli_runs_a_numpy_exercise_end_to_end(kata):
    ex = catalog.resolve(EX)
    code, out, _ = kata("start", "13")  # one framework: no --framework needed
    learner = kata.workspace / EX / "metrics_np.py"
    assert code == 0 and learner.read_text() == ex.stub(FW).read_text()
    assert "NumPy" in out and "confusion_matrix" in out
    code, out, _ = kata("check")
    assert code == 1 and "FAIL" in out and "Not implemented yet" in out
    code, out, _ = kata("solution", "13")
    assert code == 1 and "--give-up" in out
    shutil.copy(ex.solution(FW), learner)
    code, out, _ = kata("check", "--json")
    record = json.loads(out)
    assert code == 0 and record["status"] == "pass" and record["framework"] == FW
    assert not {"torch", "tensorflow", "keras"} & set(record["loaded"])
    code, out, _ = kata("check")
    assert code == 0 and "PASS" in out and "NumPy" in out
    code, out, _ = kata("list", "--json")
    row = next(r for r in json.loads(out) if r["id"] == EX)
    assert row["status"] == {"torch": "n/a", "tf": "n/a", "numpy": "passed"}
    torch_row = next(r for r in json.loads(out) if r["id"] == "01_residual_block")
    assert torch_row["status"]["numpy"] == "n/a"
    code, out, _ = kata("list")
    line = next(s for s in out.splitlines() if EX in s)
    assert "numpy" in out and line.count("n/a") == 2 and "passed" in line
    code, out, _ = kata("progress", "--json")
    assert json.loads(out)["numpy"] == {"passed": 1, "total": 1}
    code, out, _ = kata("progress")
    assert "NumPy" in out and "1/1" in out and "Current: 13_metrics (numpy)" in out
    code, out, _ = kata("hint")
    assert code == 0 and "Hint 1/3" in out
    code, out, _ = kata("solution", "13")
    assert code == 0 and "def confusion_matrix" in out
    code, out, _ = kata("reset", "13", "--yes")
    assert code == 0 and learner.read_text() == ex.stub(FW).read_text()
