"""Serving a model folder as an OpenAI-compatible HTTP API.

Two backends behind one set of settings (ServeSettings): the builtin one (FastAPI + uvicorn over
transformers generation, one request generating at a time, the rest waiting in a bounded FIFO) and
vLLM when it is installed (GPUs, batching, scale). Heavy imports live inside the functions that
need them, so the CLI, the deploy stage's plan and `status` stay fast.
"""
