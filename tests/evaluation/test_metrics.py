import numpy as np
import pytest

from jewel_vision.evaluation import metrics


def test_classification_accuracy_macro_f1_and_confusion():
    truth = ["ring", "ring", "earring", "necklace"]
    pred = ["ring", "earring", "earring", None]
    m = metrics.classification(truth, pred)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["per_class"]["ring"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["per_class"]["earring"]["precision"] == pytest.approx(0.5)
    # macro over the true classes: ring 2/3, earring 2/3, necklace 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    labels = m["confusion"]["labels"]
    assert m["confusion"]["matrix"][labels.index("necklace")][labels.index("(none)")] == 1


def test_multilabel_micro_and_macro():
    truth = [frozenset({"diamond"}), frozenset({"pearl", "diamond"}), frozenset()]
    pred = [frozenset({"diamond"}), frozenset({"pearl"}), frozenset({"coloured"})]
    m = metrics.multilabel(truth, pred)
    # tp=2 (diamond, pearl), fp=1 (coloured), fn=1 (diamond)
    assert m["micro_f1"] == pytest.approx(4 / 6)
    assert m["per_class"]["pearl"]["f1"] == 1.0


def test_retrieval_recall_at_k():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.7, 0.7]], dtype=np.float32)
    groups = ["a", "a", "b", "b", "c"]
    m = metrics.retrieval(v, groups, ks=(1, 5))
    assert m["n"] == 4 and m["recall@1"] == 1.0 and m["recall@5"] == 1.0
    m = metrics.retrieval(v, ["a", "b", "a", "b", "c"], ks=(1,))
    assert m["recall@1"] == 0.0


def test_average_precision_perfect_and_with_false_positive():
    gt = [[(0.1, 0.1, 0.3, 0.3)], [(0.5, 0.5, 0.7, 0.7)]]
    perfect = [[((0.1, 0.1, 0.3, 0.3), 0.9)], [((0.5, 0.5, 0.7, 0.7), 0.8)]]
    assert metrics.average_precision(gt, perfect)["ap50"] == pytest.approx(1.0)
    # A confident false positive ranked first halves precision at the first hit.
    noisy = [[((0.6, 0.6, 0.9, 0.9), 0.99), ((0.1, 0.1, 0.3, 0.3), 0.9)], [((0.5, 0.5, 0.7, 0.7), 0.8)]]
    assert metrics.average_precision(gt, noisy)["ap50"] == pytest.approx(2 / 3, abs=0.01)
    assert metrics.average_precision(gt, [[], []])["ap50"] == 0.0


def test_mask_iou():
    a = np.zeros((10, 10), bool)
    a[:5] = True
    b = np.zeros((10, 10), bool)
    b[:, :5] = True
    assert metrics.iou_masks(a, b) == pytest.approx(25 / 75)
