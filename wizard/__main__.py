"""Entry point of `./yichuidingyin.sh` with no verb. The TUI arrives with the wizard issue."""

import sys

print(
    "yichuidingyin wizard: coming soon. It will walk you through task, model, dataset and settings,\n"
    "then write jobs/<name>/job.yaml and run it. Meanwhile write a job file by hand (see examples/)\n"
    "and use: ./yichuidingyin.sh validate|plan|run JOB.yaml"
)
sys.exit(0)
