"""Benchmarks shipped with the tool, written for this project (English and Chinese); listed in engine.eval.benchmarks.SHIPPED."""
