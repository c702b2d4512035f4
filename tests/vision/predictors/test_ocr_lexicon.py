"""Lexicon rescoring: the hallmark spellings and the CTC likelihood of a spelling."""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.vision.hallmarks import parse_hallmark
from jewel_vision.vision.predictors.ocr_lexicon import ctc_log_likelihood, hallmark_lexicon



def test_the_lexicon_holds_common_marks_and_only_parsable_ones():
    words = hallmark_lexicon()
    assert {"S925", "750", "18K", "PT950", "STERLING"} <= set(words)
    assert all(parse_hallmark(w) is not None for w in words)
    assert words == sorted(words)


def test_ctc_likelihood_prefers_the_spelling_the_frames_show():
    # frames: blank, "1", blank, "2", "2" over an alphabet {blank, 1, 2}
    probs = np.full((5, 3), 0.05)
    for t, c in enumerate([0, 1, 0, 2, 2]):
        probs[t, c] = 0.9
    logp = np.log(probs / probs.sum(1, keepdims=True))
    ll = ctc_log_likelihood(logp, [[1, 2], [2, 1], [1, 1]])
    assert ll[0] > ll[1] + 3 and ll[0] > ll[2] + 3
    # one frame, one label: P = p(label) at that frame
    one = np.log(np.array([[0.2, 0.8]]))
    assert ctc_log_likelihood(one, [[1]])[0] == pytest.approx(np.log(0.8))
