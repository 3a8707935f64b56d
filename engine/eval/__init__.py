"""Evaluation: does the fine-tuned model do what the job trained it for, and did the export keep it?

readers (general_mcq CSV / general_qa JSONL, every problem as file:line), instructions (IFEval-style
rules checked by code), identity (a probe built from the job's model_name/model_author), benchmarks
(shipped names, user files, held-out rows), scorers (pure functions on text and log-probabilities),
runner (batched greedy generation and choice log-probabilities with transformers), score (a model
folder against benchmarks, and `behaviour` for the export gate), report (json, markdown, chart),
evalscope (the optional EvalScope backend). Nothing here imports torch at module level.
"""
