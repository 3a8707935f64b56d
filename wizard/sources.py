"""The engine's light APIs as the wizard uses them: model catalogue, built-in datasets, data preview,
memory estimate and model checks.

Every call imports its engine module inside the function (start-up stays fast) and degrades to
"not available" when a module of this install lacks it, so the wizard always opens; nothing
here imports torch or transformers. Slow calls (preview, estimate, checks) run in workers.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any


@dataclass(frozen=True)
class ModelChoice:
    id: str
    hub: str
    title: str  # what the list shows
    params: str = ""  # e.g. "0.5B"
    marks: tuple[str, ...] = ()  # gated, licence, coming
    memory: dict[str, float] = field(default_factory=dict)  # method → GB
    vision: bool = False  # a vision-language model (reads images)


@dataclass(frozen=True)
class DatasetChoice:
    name: str
    kind: str  # sft | preference
    rows: int
    description: str
    description_zh: str
    placeholders: bool
    images: bool = False  # rows carry images: a set for vision-language models


@dataclass
class Check:
    ok: bool  # True: confirmed there; False: a problem, or not confirmed (offline, gated) — shown as a warning
    detail: str


BUILTIN_FALLBACK = ModelChoice("builtin/smollm2-135m-instruct", "builtin", "builtin/smollm2-135m-instruct", "135M")


def _attr(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


def _model_choice(entry: Any, hub: str) -> ModelChoice | None:
    """A catalogue entry (engine.registry.ModelInfo) as a row: the ID on the chosen hub, size, marks, memory."""
    source = _attr(entry, "source", default="catalogue")
    ms, hf = _attr(entry, "modelscope_id"), _attr(entry, "huggingface_id")
    ident = str(_attr(entry, "id", default=""))
    if source == "builtin" or ident.startswith("builtin/"):
        chosen, chosen_hub = ident, "builtin"
    elif hub == "huggingface" and hf:
        chosen, chosen_hub = hf, "huggingface"
    elif ms:
        chosen, chosen_hub = ms, "modelscope"
    elif hf:
        chosen, chosen_hub = hf, "huggingface"
    else:
        return None
    marks = []
    if chosen_hub in (_attr(entry, "gated", default=()) or ()):
        marks.append("gated")
    if _attr(entry, "status", default="ready") == "coming":
        marks.append("coming")
    if _attr(entry, "license"):
        marks.append(str(_attr(entry, "license")))
    memory: dict[str, float] = {}
    needs = _attr(entry, "min_gpu_gb")
    try:
        memory = dict(needs()) if callable(needs) else {}
    except Exception:  # an entry without a shape has no figure; the row still shows
        memory = {}
    return ModelChoice(str(chosen), chosen_hub, str(chosen), str(_attr(entry, "size_label", default="") or ""),
                       tuple(marks), memory, _attr(entry, "modality", default="text") == "vision")


def models(query: str = "", hub: str = "modelscope", vision: bool | None = None) -> list[ModelChoice]:
    """Catalogue entries matching `query` (all when empty), only vision-language models (vision=True) or only
    text models (False) when asked; the builtin models are offered with the text ones."""
    found = _models(query, hub)
    return found if vision is None else [c for c in found if c.vision == vision]


def _models(query: str, hub: str) -> list[ModelChoice]:
    q = query.strip().lower()
    out: list[ModelChoice] = []
    finder = _finder()
    if finder is not None:
        try:
            entries = finder(query.strip())
        except TypeError:
            entries = [e for e in finder() if q in str(e).lower()]
        except Exception:  # a half-built catalogue must not stop the wizard
            entries = []
        for entry in entries or []:
            choice = _model_choice(entry, hub)
            if choice is not None:
                out.append(choice)
    if not any(c.hub == "builtin" for c in out):
        out = [b for b in _builtin_models() if q in b.id.lower()] + out
    return sorted(out, key=lambda c: c.hub != "builtin")  # the offline default first


def _builtin_models() -> list[ModelChoice]:
    try:
        from engine.registry.builtin import BUILTINS
    except ImportError:
        return [BUILTIN_FALLBACK]
    try:
        from engine.registry import lookup
    except ImportError:
        lookup = None
    out = []
    for name in BUILTINS:
        info = lookup(name) if lookup is not None else None
        choice = _model_choice(info, "builtin") if info is not None else None
        out.append(choice or ModelChoice(name, "builtin", name))
    return out


def model_modality(model_id: str, hub: str) -> str | None:
    """"vision" or "text" when it can be told offline (a local folder's config.json, a builtin or catalogue
    entry, a remote-code InternVL ID), None when not (a hub ID the catalogue does not know, no registry)."""
    if not model_id:
        return None
    try:
        from engine.registry import is_vision_model, lookup
    except ImportError:
        return None
    try:
        if hub == "local":
            folder = Path(model_id).expanduser()
            if not (folder / "config.json").is_file():
                return None
        elif hub != "builtin" and lookup(model_id, hub) is None:
            return "vision" if is_vision_model(model_id, hub) else None
        return "vision" if is_vision_model(model_id, hub) else "text"
    except Exception:  # advice only: a broken folder is reported by the model check
        return None


def _finder() -> Any:
    try:
        from engine import registry
    except ImportError:
        return None
    finder = _attr(registry, "search", "search_models", "catalogue", "list_models")
    return finder if callable(finder) else None


def has_catalogue() -> bool:
    return _finder() is not None


def datasets(kind: str, images: bool | None = None) -> list[DatasetChoice]:
    """The built-in sets of a kind; only image sets (images=True) or only text sets (False) when asked."""
    try:
        from engine.data.builtin import list_builtin
    except ImportError:
        return []
    found = [
        DatasetChoice(d.name, d.kind, d.rows, d.description, getattr(d, "description_zh", d.description),
                      bool(getattr(d, "placeholders", False)), bool(getattr(d, "images", False)))
        for d in list_builtin(kind)
    ]
    return found if images is None else [d for d in found if d.images == images]


def dataset_has_images(name: str | None) -> bool:
    """Whether `name` is a built-in image set (files are not opened here: the preview reads them)."""
    return any(d.name == name and d.images for kind in ("sft", "preference") for d in datasets(kind))


def is_builtin_dataset(name: str | None) -> bool:
    if not name:
        return False
    try:
        from engine.data.builtin import is_builtin
    except ImportError:
        return False
    return bool(is_builtin(name))


def has_placeholders(name: str | None) -> bool:
    if not is_builtin_dataset(name):
        return False
    from engine.data.builtin import get

    return bool(getattr(get(name), "placeholders", False))


def absolute_source(text: str) -> str:
    """A typed dataset entry as it is written to the job: built-in names as they are, paths absolute."""
    value = text.strip()
    if not value or is_builtin_dataset(value):
        return value
    return str(Path(value).expanduser().resolve())


@dataclass
class DataPreview:
    format: str
    rows: int
    first: list[str]
    problems: list[str]
    available: bool = True
    images: list[list[str]] = field(default_factory=list)  # per first row: its images (absolute paths, data: URLs)


def preview(source: str, fmt: str = "auto", identity: dict[str, str] | None = None,
            max_image_pixels: int | None = None, model: dict[str, str] | None = None) -> DataPreview:
    """The engine's preview; with the job's image limit and model ({"id", "hub"}) images are checked as at run."""
    try:
        from engine.data import preview as engine_preview
    except ImportError:
        return DataPreview("?", 0, [], [], available=False)
    kwargs: dict[str, Any] = {"limit": 3}
    if identity:
        try:
            from engine.data import Identity

            kwargs["identity"] = Identity(**identity)
        except (ImportError, TypeError):
            pass
    if max_image_pixels:
        kwargs["max_image_pixels"] = max_image_pixels
    if model and model.get("id"):
        kwargs["model"] = SimpleNamespace(id=model["id"], hub=model.get("hub", "modelscope"),
                                          revision=model.get("revision"), trust_remote_code=False)
    try:
        result = engine_preview(source, fmt, **kwargs)
    except Exception as exc:  # the preview never decides anything; the engine checks again at plan/run
        return DataPreview("?", 0, [], [f"{source}: {exc}"])
    first = [row_summary(row) for row in result.first]
    images = [[str(i) for i in row.get("images", [])] for row in result.first]
    return DataPreview(result.format, result.rows, first, list(result.problems), images=images)


def _content(value: Any) -> str:
    """Message content as text; content-part lists (rows with images) show each image as [image]."""
    if isinstance(value, list):
        value = "".join(p.get("text", "") if p.get("type") == "text" else " [image] "
                        for p in value if isinstance(p, dict))
    return " ".join(str(value).split())


def _text(value: Any) -> str:
    if isinstance(value, list):  # conversational: the last message's content says the most
        value = value[-1].get("content", "") if value and isinstance(value[-1], dict) else value
    return _content(value)


def row_summary(row: dict[str, Any]) -> str:
    """One converted row as one readable line: 'user → assistant', or 'prompt | chosen | rejected'."""
    messages = row.get("messages")
    if isinstance(messages, list):
        return " → ".join(f"{m.get('role', '?')}: {_content(m.get('content', ''))}" for m in messages if isinstance(m, dict))
    parts = [f"{key}: {_text(row[key])}" for key in ("prompt", "chosen", "rejected", "completion", "label") if key in row]
    return " | ".join(parts) if parts else json.dumps(row, ensure_ascii=False)


@dataclass
class Estimate:
    methods: dict[str, tuple[float, str]]  # method → (GB per device, fits | tight | will not fit | unknown)
    reason: str = ""  # why there are no figures (e.g. the model's config.json is not known yet)
    verdict: str = ""  # the engine's one-line verdict for the job as it stands


def estimate(mapping: dict[str, Any]) -> Estimate:
    """Memory per method for this job on this machine, from engine.estimate (arithmetic, no torch)."""
    try:
        from engine import estimate as est
        from engine import hardware
        from engine.sizing import level
        from engine.spec import JobSpec
    except ImportError:
        return Estimate({}, "estimate unavailable in this install")
    try:
        spec = JobSpec.model_validate(mapping)
        from .jobs import job_file

        result = est.for_job(spec, job_file(spec.name).parent, hardware.detect())
        if isinstance(result, str):
            return Estimate({}, result)
        have = result.device_gb
        methods = {m: (e.total_gb, level(e.total_gb, have)) for m, e in result.methods.items()}
        return Estimate(methods, verdict=result.verdict.message)
    except Exception as exc:  # an estimate is advice; its failure must never block the wizard
        return Estimate({}, f"estimate unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")


def check_model(model_id: str, hub: str, revision: str | None = None) -> Check:
    """Does the model exist? Local folders and builtin models for sure; hub IDs when the hub answers."""
    if hub == "local":
        try:
            from engine.registry import check_local_dir
        except ImportError:
            return Check(Path(model_id).is_dir(), model_id)
        problems = check_local_dir(Path(model_id).expanduser())
        return Check(not problems, "; ".join(p.removeprefix("model.id: ") for p in problems) or f"{model_id}: model folder")
    if hub == "builtin":
        try:
            from engine.registry import builtin
        except ImportError:
            return Check(model_id == BUILTIN_FALLBACK.id, "shipped with this tool")
        try:
            entry = builtin.get(model_id)
        except Exception as exc:
            return Check(False, str(getattr(exc, "lines", [exc])[0]).removeprefix("model.id: "))
        problem = builtin.missing_package(entry)
        return Check(problem is None, (problem or "shipped with this tool, works offline").removeprefix("model.id: "))
    return _check_hub(model_id, hub)


def _check_hub(model_id: str, hub: str) -> Check:
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("YCDY_OFFLINE") == "1":
        return Check(False, f"{model_id}: not checked (offline mode); download checks it")
    from engine.registry.hubs import module

    url = module(hub).info_url(model_id)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=5) as resp:
            return Check(resp.status < 400, f"{model_id}: found on {hub}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return Check(False, f"{model_id}: gated on {hub}; log in or request access before running")
        if exc.code == 404:
            return Check(False, f"{model_id}: not found on {hub}; check the ID")
        return Check(False, f"{model_id}: {hub} answered {exc.code}; download checks it again")
    except (urllib.error.URLError, OSError, ValueError):
        return Check(False, f"{model_id}: {hub} not reachable from here; download checks it")
