"""OpenAI request bodies: parsed strictly, rejected the way OpenAI rejects them.

Malformed JSON and unknown arguments are 400 (OpenAI's "Unrecognized request argument supplied");
a known argument with a wrong type or value is 422 naming it in `param`. Either way the body is an
OpenAI error object, which the official clients turn into their own exception types.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # what torch.manual_seed accepts


class ApiError(Exception):
    """An answer with an OpenAI error object; raised anywhere in a handler, rendered by the app."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ImageUrl(_Strict):
    url: str  # data:image/png;base64,... (http(s) only where the server allows remote images)
    detail: Literal["auto", "low", "high"] | None = None  # accepted for OpenAI compatibility; changes nothing here


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[Annotated[TextPart | ImagePart, Field(discriminator="type")]]
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    def image_parts(self) -> list[tuple[int, ImagePart]]:
        """(index in content, part) for each image, in order."""
        if isinstance(self.content, str):
            return []
        return [(j, part) for j, part in enumerate(self.content) if isinstance(part, ImagePart)]


class StreamOptions(_Strict):
    include_usage: bool = False


class Sampling(_Strict):
    """Parameters both endpoints share; the vLLM extras (top_k, min_tokens, ...) behave as in vLLM."""

    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=SEED_MIN, le=SEED_MAX)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    user: str | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    top_k: int | None = Field(None, ge=-1)
    min_tokens: int = Field(0, ge=0)
    ignore_eos: bool = False
    repetition_penalty: float | None = Field(None, ge=0.01, le=2)  # far below 0.01, logits / penalty overflow to inf

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        items = [value] if isinstance(value, str) else value
        if len(items) > 4:
            raise ValueError("at most 4 stop sequences")
        if any(not s for s in items):
            raise ValueError("stop sequences must not be empty")
        return items

    @field_validator("n")
    @classmethod
    def _n(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n=1 is supported by this server")
        return value

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _penalty(cls, value: float) -> float:
        if value != 0:
            raise ValueError("only 0 is supported by this server; use repetition_penalty instead")
        return value

    def stops(self) -> list[str]:
        return list(self.stop or [])  # type: ignore[arg-type]  # normalised to a list by _stop

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(Sampling):
    prompt: str | list[str]
    echo: bool = False

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("give one prompt (a string, or a list of one string)")
        return value

    @field_validator("echo")
    @classmethod
    def _echo(cls, value: bool) -> bool:
        if value:
            raise ValueError("echo is not supported by this server")
        return value

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    def token_limit(self) -> int | None:
        return self.max_tokens


# Known OpenAI arguments this server cannot honour: present with a real value → 400 naming it.
UNSUPPORTED = {
    "logprobs", "top_logprobs", "logit_bias", "tools", "tool_choice", "functions", "function_call",
    "response_format", "parallel_tool_calls", "audio", "modalities", "prediction", "reasoning_effort",
    "web_search_options", "best_of", "suffix",
}
# Known arguments that change nothing here: accepted and ignored (OpenAI bookkeeping).
IGNORED = {"store", "metadata", "service_tier"}


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # a lone surrogate ("\ud800") is no text
    except (ValueError, RecursionError, UnicodeError):
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. The API expects a JSON object, "
            "sent with Content-Type: application/json.",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return data


def param_name(loc: tuple[int | str, ...]) -> str | None:
    """pydantic's ('messages', 0, 'content', 'list[tagged-union[...]]', 1, 'image_url', 'image_url', 'url')
    → 'messages[0].content[1].image_url.url': union branch labels and repeated union tags dropped."""
    out = ""
    last: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or part == last or (part == "str" and last == "content"):
            continue
        else:
            out += ("." if out else "") + part
        last = part
    return out or None


def parse_request(model: type[Sampling], body: bytes) -> Any:
    """Bytes → a validated request, or ApiError(400/422) naming the first bad argument."""
    data = parse_json(body)
    for key in data:
        if key in IGNORED:
            continue
        if key in UNSUPPORTED:
            if data[key] not in (None, False, [], {}, 1 if key == "best_of" else None):
                raise ApiError(400, f"{key} is not supported by this server.", param=key, code="unsupported_parameter")
            continue
        if key not in model.model_fields:
            raise ApiError(400, f"Unrecognized request argument supplied: {key}", param=key)
    clean = {k: v for k, v in data.items() if k in model.model_fields}
    try:
        return model.model_validate(clean)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = max(errors, key=lambda e: len(e["loc"]))  # the list branch's error, not "should be a string"
        loc = param_name(first["loc"])
        if first["type"] == "missing":
            raise ApiError(400, f"Missing required parameter: '{loc}'.", param=loc, code="missing_required_parameter") from None
        message = first["msg"].removeprefix("Value error, ")
        raise ApiError(422, f"Invalid value for '{loc}': {message}", param=loc, code="invalid_value") from None
