"""Serve a model folder as an OpenAI-compatible API in the foreground (Ctrl-C stops it).

DIR is merged/, export/ (compressed-tensors AWQ loads as it is) or any Hugging Face model folder.
The server binds 127.0.0.1 unless --host says otherwise; a non-loopback host needs an API key in the
environment variable named by --api-key-env (default YCDY_API_KEY), or --insecure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from ..errors import UserError
from ..spec.deploy import DeploySpec
from ..spec.errors import format_errors

FLAGS = {"host": "--host", "port": "--port", "api_key_env": "--api-key-env",
         "served_model_name": "--served-model-name", "max_queue": "--max-queue", "backend": "--backend",
         "max_image_bytes": "--max-image-bytes", "max_image_pixels": "--max-image-pixels", "max_images": "--max-images"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", type=Path, metavar="DIR", help="the model folder to serve")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--api-key-env", default="YCDY_API_KEY",
                   help="environment variable that holds the API key (default YCDY_API_KEY); unset = no key")
    p.add_argument("--served-model-name", help="the model name clients ask for (default: the folder's name)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback host without an API key")
    p.add_argument("--backend", choices=["auto", "builtin", "vllm"], default="auto",
                   help="auto: vLLM when installed, else builtin (default auto)")
    p.add_argument("--max-queue", type=int, default=16, help="requests that may wait; more get 503 (default 16)")
    p.add_argument("--max-body-bytes", type=int, default=1024 * 1024, help="largest request body (default 1 MiB)")
    p.add_argument("--trust-remote-code", action="store_true", help="run Python code shipped with the model")
    p.add_argument("--start-timeout", type=int, default=900, help="vLLM: seconds to wait for it to answer")
    images = p.add_argument_group("images (vision-language models)")
    images.add_argument("--allow-remote-images", action="store_true",
                        help="also fetch http(s) image URLs clients name (public addresses only); default: data: URLs only")
    images.add_argument("--max-image-bytes", type=int, default=DeploySpec.model_fields["max_image_bytes"].default,
                        help="largest image per request part, in bytes (default 5 MiB; more is a 413)")
    images.add_argument("--max-image-pixels", type=int, default=DeploySpec.model_fields["max_image_pixels"].default,
                        help="largest image in pixels, width × height (default 4096×4096)")
    images.add_argument("--max-images", type=int, default=DeploySpec.model_fields["max_images"].default,
                        help="images one request may carry (default 4)")


def settings_from_args(args: argparse.Namespace):  # -> ServeSettings (import kept light for --help)
    from ..serve.settings import ServeSettings, check_model_dir, default_served_name, security_problems
    from ..serve.vllm import resolve_backend

    try:
        checked = DeploySpec(host=args.host, port=args.port, api_key_env=args.api_key_env,
                             served_model_name=args.served_model_name, max_queue=args.max_queue, backend=args.backend,
                             allow_remote_images=args.allow_remote_images, max_image_bytes=args.max_image_bytes,
                             max_image_pixels=args.max_image_pixels, max_images=args.max_images)
    except ValidationError as exc:
        raise UserError(*(f"{FLAGS.get(path, path)}: {msg}" for path, msg in format_errors(exc, DeploySpec))) from None
    if args.max_body_bytes < 1024:
        raise UserError("--max-body-bytes: use at least 1024")
    model_dir = args.model_dir.expanduser().resolve()
    settings = ServeSettings(
        model_dir=model_dir,
        served_name=checked.served_model_name or default_served_name(model_dir),
        host=checked.host, port=checked.port, api_key_env=checked.api_key_env, max_queue=checked.max_queue,
        max_body_bytes=args.max_body_bytes, insecure=args.insecure, trust_remote_code=args.trust_remote_code,
        backend=resolve_backend(checked.backend), allow_remote_images=checked.allow_remote_images,
        max_image_bytes=checked.max_image_bytes, max_image_pixels=checked.max_image_pixels, max_images=checked.max_images,
    )
    problems = check_model_dir(model_dir) + security_problems(settings)
    if problems:
        raise UserError(*problems)
    return settings


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    try:
        if settings.backend == "vllm":
            from ..serve.vllm import serve_vllm

            return serve_vllm(settings, timeout=args.start_timeout)
        from ..serve.builtin import serve_builtin

        serve_builtin(settings)
    except KeyboardInterrupt:
        pass
    print("server stopped", flush=True)
    return 0
