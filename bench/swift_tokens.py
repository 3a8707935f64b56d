"""Run `swift sft|rlhf ARGS` in this process with transformers counting non-padding input tokens.

Run by .venv-peers/bin/python (bench/peer_varlen.py). ms-swift's argument parser takes
`--include_num_input_tokens_seen` as a yes/no flag, so its "non_padding" mode (a logging switch
only: each logged step then carries `num_input_tokens_seen`) is set here on every TrainingArguments.
"""

import runpy
import sys

import transformers

_post_init = transformers.TrainingArguments.__post_init__


def _count_non_padding(self) -> None:
    _post_init(self)
    self.include_num_input_tokens_seen = "non_padding"


transformers.TrainingArguments.__post_init__ = _count_non_padding
command = sys.argv.pop(1)
runpy.run_module(f"swift.cli.{command}", run_name="__main__")
