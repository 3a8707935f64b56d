"""An OpenAPI 3.1 document of the builtin server, built from the very pydantic models it parses bodies with.

The server reads each body itself (to answer OpenAI's 400/413/422 exactly), so FastAPI's own schema
knows no request bodies, and the server does not publish /openapi.json. This document is what a
client would need: every route, the request models (ChatRequest, CompletionRequest), bearer auth,
and the OpenAI error object every non-2xx answer must be. Schemathesis generates from it.
"""

from __future__ import annotations

from typing import Any

TOKEN_CAP = 8  # fuzzed generations stay short: the point is the server's handling, not the model's speed

ERROR = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string", "minLength": 1}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}},
    }},
}
ERROR_STATUSES = ("400", "401", "404", "405", "413", "422", "503")


def _tighten(schema: dict[str, Any]) -> None:
    """Say in the schema what the server's validators say in code, so positive cases are really valid."""
    props = schema.get("properties", {})
    for name in ("max_tokens", "max_completion_tokens", "min_tokens"):
        for option in props.get(name, {}).get("anyOf", [props.get(name, {})]):
            if option.get("type") == "integer":
                option["maximum"] = TOKEN_CAP
    fixed = {"n": 1, "presence_penalty": 0, "frequency_penalty": 0, "echo": False}
    for name, value in fixed.items():
        if name in props:
            props[name] = {"const": value}
    if "stop" in props:
        word = {"type": "string", "minLength": 1}
        props["stop"] = {"anyOf": [word, {"type": "array", "items": word, "maxItems": 4}, {"type": "null"}]}
    if "prompt" in props:
        props["prompt"] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"},
                                                           "minItems": 1, "maxItems": 1}]}


def _responses(ok: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    content = {"application/json": {"schema": ok}}
    if stream:
        # schemathesis checks each server-sent event against this: a data line, JSON or the final [DONE]
        content["text/event-stream"] = {"schema": {"type": "object", "required": ["data"],
                                                   "properties": {"data": {"type": "string", "minLength": 1}}}}
    out: dict[str, Any] = {"200": {"description": "OK", "content": content}}
    for status in ERROR_STATUSES:
        out[status] = {"description": "OpenAI error object",
                       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return out


def server_schema(tight: bool = True) -> dict[str, Any]:
    """tight: for valid (positive) cases, short generations and the validators' rules spelled out;
    not tight: exactly what the request models say, for invalid (negative) cases the server must refuse."""
    from pydantic.json_schema import models_json_schema

    from engine.serve.protocol import ChatRequest, CompletionRequest

    _, defs = models_json_schema([(ChatRequest, "validation"), (CompletionRequest, "validation")],
                                 ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = defs["$defs"]
    for name in ("ChatRequest", "CompletionRequest"):
        if tight:
            _tighten(schemas[name])
    schemas["Error"] = ERROR
    any_object = {"type": "object"}
    auth = [{"bearer": []}]

    def post(ref: str) -> dict[str, Any]:
        return {"post": {
            "security": auth,
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}},
            "responses": _responses(any_object, stream=True),
        }}

    return {
        "openapi": "3.1.0",
        "info": {"title": "yichuidingyin builtin server", "version": "1"},
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/health": {"get": {"responses": _responses(any_object)}},
            "/v1/models": {"get": {"security": auth, "responses": _responses(any_object)}},
            "/v1/models/{model_id}": {"get": {
                "security": auth,
                "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": _responses(any_object),
            }},
            "/v1/chat/completions": post("ChatRequest"),
            "/v1/completions": post("CompletionRequest"),
        },
    }
