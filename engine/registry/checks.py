"""What is known about a job's model before anything runs, and the mistakes that follows from it.

Called from JobSpec's validation (so `validate`, `plan`, the wizard and `run` all refuse the same
jobs) and again by the download stage once the files are on disk. It reads only the catalogue and,
for a folder, its small JSON files: no network, no torch. The registry sits below the job schema,
so it takes the model section by its shape (ModelRef) and the stage names, never a JobSpec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from . import builtin
from .catalogue import lookup
from .info import ModelInfo
from .resolver import known, read_json, resolve_local, supported
from .vision import is_vision_model, remote_code_vlm

CHAT_STAGES = ("sft", "dpo", "deploy")  # stages that format conversations with the chat template
OTHER_HUB = {"modelscope": "huggingface", "huggingface": "modelscope"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "*.gguf")


class ModelRef(Protocol):
    """The model section of a job (engine.spec.model.ModelSpec), as far as the registry reads it."""

    id: str
    hub: str
    revision: str | None
    trust_remote_code: bool


def resolve(model: ModelRef) -> tuple[ModelInfo | None, list[str]]:
    """ModelInfo for the job's model when it can be known offline, and problems found on the way."""
    if model.hub == "builtin":
        info = lookup(model.id, "builtin")
        if info is None or model.id not in builtin.BUILTINS:
            names = ", ".join(sorted(builtin.BUILTINS))
            return None, [f"model.id: there is no builtin model {model.id!r}; the builtin models are: {names}"]
        return info, []
    if model.hub == "local":
        folder = Path(model.id)
        try:
            if folder.is_absolute() and (folder / "config.json").is_file():
                line = remote_code_vlm(model.id, read_json(folder / "config.json") or {})
                return (None, [line]) if line else (resolve_local(folder), [])
        except (OSError, ValueError):  # a name too long for the filesystem, an unreadable config
            return None, []
        return None, []  # relative (resolved later against the job file) or missing: the stage says so
    line = remote_code_vlm(model.id)
    if line:  # before any download: the native classes cannot load it
        return None, [line]
    info = lookup(model.id, model.hub)
    if info is not None and info.hub_id(model.hub) is None:
        other = OTHER_HUB[model.hub]
        return info, [f"model.hub: {model.id} is not on {model.hub}; set model.hub: {other}"]
    if info is None:
        info = cached(model.hub, model.id, model.revision)
    return info, []


def cached(hub: str, model_id: str, revision: str | None) -> ModelInfo | None:
    """A model downloaded and verified earlier: resolved from its folder in the cache."""
    from .hubs import verify

    default = "master" if hub == "modelscope" else "main"
    stamp = verify.reusable(hub, model_id, revision or default)
    if stamp is None:
        return None
    try:
        return resolve_local(stamp["path"], model_id=model_id)
    except ValueError:
        return None


def problems_for(info: ModelInfo, model: ModelRef, stages: list[str]) -> list[str]:
    """One line per reason this model cannot do what the job asks, each with the fix."""
    name = model.id
    out: list[str] = []
    if info.status == "coming":
        kind = "vision-language" if info.modality == "vision" else info.family
        out.append(
            f"model.id: {name} is a {kind} model; fine-tuning it is coming in a later version. "
            "Pick a text model, e.g. Qwen/Qwen2.5-7B-Instruct (python -m engine models lists them)"
        )
    if is_vision_model(info) and info.trust_remote_code:
        out.append(
            f"model.id: {name} is a vision-language model that ships its own Python code (auto_map); images are "
            "handled through transformers' native classes only (AutoModelForImageTextToText): pick a native one "
            "(python -m engine models --search vl)"
        )
    elif info.trust_remote_code and not model.trust_remote_code:
        out.append(
            f"model.trust_remote_code: {name} needs its own Python code to load (auto_map in its config.json); "
            "set model.trust_remote_code: true if you trust its authors, or pick a model transformers supports natively"
        )
    elif info.source == "local" and not info.trust_remote_code and info.status != "coming" and not supported(info):
        version = known().get("transformers", "?")
        out.append(
            f"model.id: {name}: architecture {info.architecture or '?'} (model_type {info.model_type or '?'}) is not "
            f"one that transformers {version} can load; pick a supported model (python -m engine models)"
        )
    chat = [s for s in stages if s in CHAT_STAGES]
    if info.chat_template is None and chat:
        out.append(
            f"model.id: {name} has no chat template (no chat_template in tokenizer_config.json and no "
            f"chat_template.jinja), but the {chat[0]} stage formats conversations with one; use the model's "
            "Instruct/Chat version, or put a chat_template.jinja into the model folder"
        )
    return out


def model_problems(model: ModelRef, stages: list[str]) -> list[str]:
    """Everything validate can say about the model offline (the download stage re-checks the files)."""
    info, problems = resolve(model)
    if info is not None:
        problems = problems + problems_for(info, model, stages)
    return problems


def check_local_dir(path: Path) -> list[str]:
    """Problems that would stop a later stage from loading this folder, one line each."""
    if not path.is_dir():
        return [f"model.id: {path} is not a folder; give the folder that holds config.json"]
    problems = []
    if not (path / "config.json").is_file():
        problems.append(f"model.id: {path} has no config.json; is this the model folder?")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        problems.append(f"model.id: {path} has no tokenizer (tokenizer.json / tokenizer.model); copy it in")
    if not any(any(path.glob(pattern)) for pattern in WEIGHT_GLOBS):
        problems.append(f"model.id: {path} has no weights (*.safetensors or pytorch_model*.bin)")
    return problems
