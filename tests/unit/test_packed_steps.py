"""`plan` counts packed sequences, not rows, when train.packing is on (engine.data.lengths)."""

from __future__ import annotations

from engine.data.lengths import approx_tokens, packed_sequences


def test_best_fit_decreasing_fills_the_fullest_bin_that_still_fits():
    # 600 and 600 open two bins; each 400 goes into one of them (424 left in each), not a third bin
    assert packed_sequences([400, 600, 400, 600], 1024) == 2
    # in the given order, first fit needs 3 (500+300 | 700 | 500); longest first, best fit needs 2 (700+300 | 500+500)
    assert packed_sequences([500, 700, 300, 500], 1000) == 2
    assert packed_sequences([1024] * 3, 1024) == 3


def test_rows_longer_than_a_sequence_are_cut_to_it_not_split():
    assert packed_sequences([5000, 10], 1024) == 2
    assert packed_sequences([], 1024) == 0


def test_token_estimate_counts_ascii_by_four_characters_and_cjk_by_one():
    english = [{"role": "user", "content": "a" * 400}]
    chinese = [{"role": "user", "content": "锤" * 100}]
    assert approx_tokens(english) == 5 + 100
    assert approx_tokens(chinese) == 5 + 100
    assert approx_tokens(english + chinese) == approx_tokens(english) + approx_tokens(chinese)
