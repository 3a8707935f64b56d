"""Scorers: pure functions from generated text or log-probabilities to numbers, checked by hand in tests.

Kept free of models so a report can be recomputed from saved generations, and so the export gate and
the eval stage share one definition of "right".
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Sequence

_PUNCT = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】…—·「」")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalize(text: str) -> str:
    """Lower case, full-width folded (NFKC), punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Words for ROUGE-L: each CJK character is a token of its own, other text splits on spaces."""
    out: list[str] = []
    for word in normalize(text).split():
        buf = ""
        for ch in word:
            if _CJK.match(ch):
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(ch)
            else:
                buf += ch
        if buf:
            out.append(buf)
    return out


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the two are equal after normalize(), else 0.0."""
    return 1.0 if normalize(prediction) == normalize(reference) else 0.0


def contains(prediction: str, reference: str) -> float:
    """1.0 when the normalised reference appears inside the normalised prediction (an empty reference never does)."""
    ref = normalize(reference)
    return 1.0 if ref and ref in normalize(prediction) else 0.0


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: longest common subsequence of tokens, harmonic mean of its precision and recall."""
    p, r = tokens(prediction), tokens(reference)
    lcs = _lcs(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def perplexity(nll_sum: float, count: int) -> float | None:
    """exp(mean negative log-likelihood per token); None when there are no tokens or it overflows."""
    if count <= 0:
        return None
    mean = nll_sum / count
    return math.exp(mean) if mean < 700 else None


def preference_accuracy(chosen: Sequence[float], rejected: Sequence[float]) -> float | None:
    """Share of pairs whose chosen answer has the higher log-probability (ties count as wrong)."""
    if not chosen:
        return None
    return sum(1 for c, r in zip(chosen, rejected, strict=True) if c > r) / len(chosen)


def reward_margin(chosen: Sequence[float], rejected: Sequence[float]) -> float | None:
    """Mean of chosen minus rejected log-probability (nats): the implicit reward gap with no reference model."""
    if not chosen:
        return None
    return sum(c - r for c, r in zip(chosen, rejected, strict=True)) / len(chosen)


def pick_choice(logprobs: dict[str, float]) -> str | None:
    """The letter with the highest log-probability (first in letter order on a tie)."""
    if not logprobs:
        return None
    return max(sorted(logprobs), key=lambda k: logprobs[k])


def mentions(text: str, names: Sequence[str]) -> float:
    """1.0 when any of `names` appears in the text (case and width folded), else 0.0."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return 1.0 if any(n and unicodedata.normalize("NFKC", n).lower() in folded for n in names) else 0.0


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
