"""Quantised export: AWQ 4-bit through llm-compressor (or bitsandbytes 4-bit), verified before it ships.

One module per concern: calibration (which rows, rendered how), groups (the group size), awq (AWQ,
and the plain-rounding baseline it must beat) and bnb (the two methods), verify (perplexity / logit
cosine / greedy generation, and the gate),
card (the model card), progress (events while a library works silently). engine.stages.export
puts them in order. Everything here imports torch and friends only inside functions.
"""
