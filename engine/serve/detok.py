"""Token ids in, text deltas out, as soon as each token is decodable.

Why not transformers' TextIteratorStreamer: it holds text back until a word boundary (a space or a
newline), which delays the first streamed token, and it cannot cut the text at a stop sequence.
This does what vLLM and TGI do: decode a short window of recent ids, release the new suffix unless
it ends in an incomplete UTF-8 character, and hold back anything that may be the start of a stop
sequence until it is clear either way.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


class IncrementalText:
    def __init__(self, tokenizer: Any, stops: list[str] | None = None) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in (stops or []) if s]
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0
        self.text = ""  # everything decoded so far (cut at a stop sequence once one is found)
        self.sent = 0  # characters of self.text already released
        self.stopped = False  # a stop sequence was found: generation should end now

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _advance(self, final: bool) -> None:
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        new = self._decode(self.ids[self.prefix_offset :])
        if len(new) > len(prefix) and (final or not new.endswith(REPLACEMENT)):
            self.text += new[len(prefix) :]
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)

    def add(self, token_id: int) -> str:
        """Feed one generated id; return the text that can be shown now (often '', never retracted)."""
        if self.stopped:
            return ""
        self.ids.append(token_id)
        self._advance(final=False)
        return self._release(final=False)

    def finish(self) -> str:
        """Generation ended: release what was held back (an incomplete character stays as U+FFFD)."""
        if not self.stopped and self.read_offset < len(self.ids):
            self._advance(final=True)
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        if self.stops and not self.stopped:
            hits = [i for i in (self.text.find(s, self.sent) for s in self.stops) if i >= 0]
            if hits:
                self.text = self.text[: min(hits)]
                self.stopped = True
                final = True
        end = len(self.text)
        if not final:
            end -= self._held_back()
        delta = self.text[self.sent : end]
        self.sent = max(self.sent, end)
        return delta

    def _held_back(self) -> int:
        """Length of the longest unreleased tail that is the beginning of some stop sequence."""
        tail = len(self.text) - self.sent
        best = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, tail), best, -1):
                if self.text.endswith(stop[:k]):
                    best = k
                    break
        return best
