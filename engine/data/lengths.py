"""Rough token lengths of chat rows, and how many packed sequences they fill: `plan`'s step count.

Why: with `train.packing` on, the Trainer steps over packed sequences (TRL's best-fit-decreasing
bins of max_length tokens), not rows, so a row count overstates the steps several times on short
rows. `plan` must answer in well under a second, before the model (and its tokenizer) may even be
downloaded, so lengths are estimated from the text: about 4 characters a token for ASCII text,
one a token for other characters (CJK), and a few tokens of chat markup per turn.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

TURN_TOKENS = 5  # "<|im_start|>role\n ... <|im_end|>\n" and the like


def approx_tokens(messages: list[dict[str, Any]]) -> int:
    """Estimated tokens of one chat row rendered with a chat template."""
    total = 0
    for message in messages:
        content = message.get("content", "")
        text = content if isinstance(content, str) else " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict))
        ascii_chars = sum(1 for ch in text if ord(ch) < 128)
        total += TURN_TOKENS + (ascii_chars + 3) // 4 + (len(text) - ascii_chars)
    return max(1, total)


def packed_sequences(lengths: Iterable[int], capacity: int) -> int:
    """Bins of `capacity` tokens that best-fit decreasing packing fills with rows of these lengths
    (a row longer than `capacity` is cut to it, as TRL's "bfd" strategy does)."""
    free: list[int] = []  # the space left in each open bin, kept sorted
    bins = 0
    for length in sorted((min(max(1, n), capacity) for n in lengths), reverse=True):
        at = bisect.bisect_left(free, length)  # the fullest bin that still fits the row
        if at == len(free):
            bins += 1
            left = capacity - length
        else:
            left = free.pop(at) - length
        if left:
            bisect.insort(free, left)
    return bins
