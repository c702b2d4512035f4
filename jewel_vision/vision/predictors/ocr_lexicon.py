"""Lexicon-constrained CTC rescoring: the last resort for stamps the greedy decoding misreads.

:func:`hallmark_lexicon` spells every hallmark as it is stamped (from the parser's tables);
:func:`ctc_log_likelihood` scores spellings against a recogniser's per-frame log-probabilities.
"""

from __future__ import annotations

import numpy as np

from ..hallmarks import (
    GOLD_GRADES,
    KARATS,
    KARATS_JP,
    PALLADIUM_GRADES,
    PLATINUM_GRADES,
    SILVER_BARE,
    SILVER_GRADES,
    parse_hallmark,
)

__all__ = ["ctc_log_likelihood", "hallmark_lexicon"]


def hallmark_lexicon() -> list[str]:
    """Spellings of hallmarks as they are stamped (built from the parser's tables, not the renderer's)."""

    words: set[str] = set()
    for g in sorted(SILVER_GRADES - {9999}):
        words |= {f"S{g}", f"{g}S", f"AG{g}", f"Ag{g}", f"{g}SILVER", f"{g} SILVER", f"SILVER{g}", f"SILVER {g}"}
        if g in SILVER_BARE:
            words.add(str(g))
    words |= {"STERLING", "STER", "Sterling", "STERLING SILVER", "BRITANNIA"}
    for k in sorted(KARATS):
        words |= {f"{k}K", f"{k}k", f"{k}KT", f"{k}kt", f"{k}Kt", f"{k}CT", f"{k}ct", f"{k}Ct", f"{k}KP"}
        if k in KARATS_JP:
            words.add(f"K{k}")
    for g in sorted(GOLD_GRADES - {500, 9999}):
        words |= {str(g), f"G{g}", f"AU{g}", f"Au{g}", f"{g}AU"}
    for g in sorted(PLATINUM_GRADES):
        words |= {f"PT{g}", f"Pt{g}", f"{g}PT", f"{g}Pt", f"{g}PLAT", f"{g} PLAT"}
    words |= {"PLAT", "PLATINUM", "PALLADIUM", "PALL"}
    for g in sorted(PALLADIUM_GRADES):
        words |= {f"PD{g}", f"Pd{g}", f"{g}PD", f"{g}Pd"}
    words |= {"足金", "千足金", "足银", "千足银", "足金999", "足金990", "足银999", "足银990"}
    return sorted(w for w in words if parse_hallmark(w) is not None)


def ctc_log_likelihood(log_probs: np.ndarray, labels: list[list[int]]) -> np.ndarray:
    """log P(label | frames) under CTC (blank = 0) for several labels at once; vectorised over labels."""
    T, _ = log_probs.shape
    n = len(labels)
    L = max(len(lab) for lab in labels)
    S = 2 * L + 1
    ext = np.zeros((n, S), dtype=np.int64)  # blank-interleaved labels
    valid = np.zeros((n, S), dtype=bool)
    skip = np.zeros((n, S), dtype=bool)  # transition s-2 -> s allowed
    for i, lab in enumerate(labels):
        for j, c in enumerate(lab):
            ext[i, 2 * j + 1] = c
        valid[i, : 2 * len(lab) + 1] = True
        for s in range(3, 2 * len(lab) + 1, 2):
            skip[i, s] = ext[i, s] != ext[i, s - 2]
    neg = -1e30
    alpha = np.full((n, S), neg)
    alpha[:, 0] = log_probs[0, 0]
    alpha[:, 1] = log_probs[0, ext[:, 1]]
    alpha[~valid] = neg
    for t in range(1, T):
        a1 = np.concatenate([np.full((n, 1), neg), alpha[:, :-1]], axis=1)
        a2 = np.concatenate([np.full((n, 2), neg), alpha[:, :-2]], axis=1)
        a2 = np.where(skip, a2, neg)
        m = np.maximum(np.maximum(alpha, a1), a2)
        tot = m + np.log(np.exp(alpha - m) + np.exp(a1 - m) + np.exp(a2 - m))
        alpha = np.where(valid, tot + log_probs[t, ext], neg)
    ends = np.array([2 * len(lab) for lab in labels])
    last = alpha[np.arange(n), ends]
    prev = alpha[np.arange(n), np.maximum(ends - 1, 0)]
    m = np.maximum(last, prev)
    return m + np.log(np.exp(last - m) + np.exp(prev - m))

