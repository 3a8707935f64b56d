"""Job files in and out: render a JobSpec to commented YAML, and load YAML back safely.

Loading is bounded (size, nesting, no anchors/aliases) because job files are edited by hand and
passed around; a hostile or broken file must fail fast with a message, never hang or explode.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel, ValidationError

from .errors import UserError
from .spec import JobSpec, format_errors

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MAX_BYTES = 256 * 1024
MAX_DEPTH = 20


def yaml_value(value: Any) -> str:
    """One value as a single-line YAML flow scalar or collection that safe_load reads back exactly."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    style = None
    if isinstance(value, str) and not (value.isprintable() and value == value.strip()):
        style = '"'  # newlines, tabs, odd spaces: escaped inside double quotes, so one line always
    text = yaml.safe_dump(
        value, default_flow_style=True, default_style=style, allow_unicode=True, width=math.inf, sort_keys=False
    )
    text = text.strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[:-3].rstrip()
    return text


def _comment(text: str) -> str:
    return " ".join(text.split())


def _fields(model: type[BaseModel], data: dict[str, Any]) -> list[dict[str, Any]]:
    """What the template needs per field: key, value, description, and nested fields for sections."""
    out: list[dict[str, Any]] = []
    for key, info in model.model_fields.items():
        value = data[key]
        sub = info.annotation
        nested = isinstance(sub, type) and issubclass(sub, BaseModel)
        out.append(
            {
                "key": key,
                "doc": _comment(info.description or ""),
                "value": None if nested else value,
                "children": _fields(sub, value) if nested else None,
            }
        )
    return out


def template_env() -> jinja2.Environment:
    """The one Jinja setup for everything under templates/: undefined names are errors, nothing escaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["yaml"] = yaml_value
    return env


def render_job(spec: JobSpec) -> str:
    """The commented job.yaml for this spec; loading it gives back an equal spec."""
    data = spec.model_dump(mode="json")
    template = template_env().get_template("job.yaml.j2")
    return template.render(spec=data, fields=_fields(JobSpec, data))


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases (alias bombs) and deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                None, None, "anchors and aliases (&name / *name) are not allowed in job files", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _line_map(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Field path → 1-based line number, from the composed YAML node tree."""
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            lines[path] = key_node.start_mark.line + 1
            lines.update(_line_map(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*prefix, str(i))] = item.start_mark.line + 1
            lines.update(_line_map(item, (*prefix, str(i))))
    return lines


def parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """Parse a job document; return the mapping and a field→line map. Raises UserError."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise UserError(f"{source}: job file is larger than {MAX_BYTES // 1024} KiB; a job file is a few KiB")
    try:
        node = yaml.compose(text, Loader=_BoundedLoader)
        data = yaml.load(text, Loader=_BoundedLoader) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise UserError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise UserError(f"{source}: not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise UserError(f"{source}: a job file is a mapping of fields (name: ..., task: ...), this one is {kind}")
    return data, _line_map(node)


def spec_from_mapping(data: dict[str, Any], source: str, lines: dict[tuple[str, ...], int] | None = None) -> JobSpec:
    """Validate a mapping into a JobSpec; every problem becomes one `file:line: field: message` line."""
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        out = []
        for field, message in format_errors(exc, JobSpec):
            parts = tuple(p for p in field.replace("[", ".").replace("]", "").split(".") if p)
            line = None
            while parts and lines is not None and line is None:
                line = lines.get(parts)
                parts = parts[:-1]
            where = f"{source}:{line}" if line else source
            out.append(f"{where}: {field}: {message}")
        raise UserError(*out) from None


def load_job(path: Path) -> JobSpec:
    """Read, parse and validate a job file, with relative paths resolved against its folder."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such job file; create one with ./yichuidingyin.sh (the wizard)") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder; give the job's .yaml file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise UserError(f"{path}: job file is larger than {MAX_BYTES // 1024} KiB; a job file is a few KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the job file as UTF-8") from None
    data, lines = parse_yaml(text, str(path))
    spec = spec_from_mapping(data, str(path), lines)
    return spec.with_paths_resolved(path.resolve().parent)
