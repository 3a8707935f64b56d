"""`--plain`: the wizard's steps as plain questionary prompts (screen readers, piping, unwelcome TUIs).

Driven by wizard.steps like the screens: the same fields in the same order, the same advanced
parts, the same Draft checks (a refused answer is asked again with pydantic's message), and the
same job file at the end. Ctrl+C at a prompt quits without writing anything.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import questionary
from prompt_toolkit.completion import Completer, Completion, PathCompleter

from . import i18n, jobs, schema, sources, steps
from .draft import DEPLOY, Draft
from .runwatch import RunView, fmt_duration


class Quit(Exception):
    """Ctrl+C (or end of input) at a prompt."""


def _ask(question: Any) -> Any:
    answer = question.ask(kbi_msg="")
    if answer is None:
        raise Quit
    return answer


def say(text: str = "") -> None:
    print(text, flush=True)


class SourceCompleter(Completer):
    """Built-in dataset names, then file paths."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Any, complete_event: Any) -> Any:
        text = document.text_before_cursor
        for name in self.names:
            if name.startswith(text):
                yield Completion(name, start_position=-len(text))
        yield from self.paths.get_completions(document, complete_event)


def _validator(draft: Draft, path: str) -> Any:
    def check(text: str) -> bool | str:
        return draft.check_text(path, text) or True

    return check


def ask_field(draft: Draft, path: str) -> None:
    if path == "model.hub":
        return  # asked together with model.id
    label = i18n.label(path)
    say(f"  {i18n.help_text(path)}")
    if path == "task":
        choices = [questionary.Choice(f"{i18n.choice('task', t)} — {i18n.explain('task', t)}", value=t)
                   for t in steps.task_choices()]
        draft.choose_task(_ask(questionary.select(label, choices, default=draft.task_choice)))
        return
    if path == "model.id":
        ask_model(draft)
        return
    if path in ("dataset.sft", "dataset.preference"):
        ask_source(draft, path)
        return
    if path == "train.method":
        result = sources.estimate(draft.mapping())
        choices = []
        for m in schema.meta(path).choices:
            figure = result.methods.get(m)
            need = (f"{i18n.t('est.needs', gb=f'{figure[0]:.1f}')} · {i18n.t('est.verdict.' + figure[1])}"
                    if figure else i18n.t("est.unavailable"))
            choices.append(questionary.Choice(f"{m} — {i18n.explain('method', m)} ({need})", value=m))
        if result.verdict or result.reason:
            say(f"  {result.verdict or result.reason}")
        draft.set_text(path, _ask(questionary.select(label, choices, default=draft.get(path))))
        return
    kind = "bool" if path == DEPLOY else schema.meta(path).kind
    if kind == "choice":
        values = schema.meta(path).choices
        choices = [questionary.Choice(i18n.choice(path, v), value=v) for v in values]
        draft.set_text(path, _ask(questionary.select(label, choices, default=draft.get(path))))
    elif kind == "bool":
        draft.set_text(path, "true" if _ask(questionary.confirm(label, default=bool(draft.get(path)))) else "false")
    else:
        answer = _ask(questionary.text(label, default=draft.text(path), validate=_validator(draft, path)))
        draft.set_text(path, answer)


def ask_model(draft: Draft) -> None:
    ids = [c.id for c in sources.models("", draft.get("model.hub"), True if draft.vision else None)]
    if draft.vision:
        say("  " + i18n.t("model.catalogue_vision", n=len(ids)) + ": " + ", ".join(ids[:8]) + (" …" if len(ids) > 8 else ""))

    def check(text: str) -> bool | str:
        return draft.copy().set_model(text) or True

    text = _ask(questionary.autocomplete(i18n.label("model.id"), ids, default=draft.get("model.id"), validate=check))
    draft.set_model(text)
    hubs = [questionary.Choice(h, value=h) for h in schema.meta("model.hub").choices]
    say(f"  {i18n.help_text('model.hub')}")
    hub = _ask(questionary.select(i18n.label("model.hub"), hubs, default=draft.get("model.hub")))
    error = draft.set_model(text, hub=hub)
    if error:
        say(f"  ! {error}")
        ask_model(draft)
        return
    result = sources.check_model(draft.get("model.id"), draft.get("model.hub"))
    say("  " + i18n.t("model.ok" if result.ok else "model.warn", detail=result.detail))


def ask_source(draft: Draft, path: str) -> None:
    kind = "sft" if path == "dataset.sft" else "preference"
    builtins = sources.datasets(kind, images=draft.vision)
    if builtins:
        say("  " + i18n.t("data.builtins") + ":")
        zh = i18n.lang() == "zh"
        for d in builtins:
            say(f"    {d.name:<20} {d.rows:>4}  {d.description_zh if zh else d.description}")
    default = draft.get(path) or (builtins[0].name if builtins else "")

    def check(text: str) -> bool | str:
        return draft.check_text(path, text) or True

    text = _ask(questionary.path(i18n.label(path), default=default, validate=check,
                                 completer=SourceCompleter([d.name for d in builtins])))
    draft.set_text(path, text)
    source = draft.get(path)
    if source:
        model = {"id": draft.get("model.id"), "hub": draft.get("model.hub")}
        result = sources.preview(source, draft.get("dataset.format"), None, draft.get("dataset.max_image_pixels"), model)
        if not result.available:
            say("  " + i18n.t("data.unavailable"))
            return
        say("  " + i18n.t("data.preview", format=result.format, rows=result.rows))
        for row, images in zip(result.first, result.images or [[] for _ in result.first], strict=False):
            say("    " + (row if len(row) <= 100 else row[:99] + "…"))
            if images:  # no thumbnails here (screen readers, pipes): the files, to open in a viewer
                say("      " + i18n.t("data.images") + " " + ", ".join(images))
        for problem in result.problems[:10]:
            say("  ! " + problem)


def ask_step(draft: Draft, step: steps.Step, position: tuple[int, int], round_: int = 0) -> None:
    say()
    say(f"== {i18n.t('step.counter', n=position[0], total=position[1])}: {i18n.t('step.' + step.id)} ==")
    say(i18n.t("intro." + step.id))
    asked: set[str] = set()
    while True:  # fields may appear as answers change (e.g. no LoRA fields for method full)
        pending = [p for p in step.fields(draft) if p not in asked]
        if not pending:
            break
        asked.add(pending[0])
        ask_field(draft, pending[0])
    advanced = step.advanced(draft)
    if advanced and _ask(questionary.confirm(f"{i18n.t('plain.advanced')} ({len(advanced)})", default=False)):
        for path in advanced:
            if steps.applies(path, draft):
                ask_field(draft, path)
    for path, message in steps.step_problems(step, draft):
        say(f"  ! {path}: {message}")
        if path in step.fields(draft) or path in step.advanced(draft):
            ask_field(draft, path)
        elif path.startswith("model."):
            ask_model(draft)
    if steps.step_problems(step, draft) and step.id != "review" and round_ < 3:
        ask_step(draft, step, position, round_ + 1)


def review(draft: Draft) -> str:
    """Show the job file and plan; return save | run | back:<step> | quit."""
    from engine.render import render_job

    problems = draft.problems()
    if problems:
        say(i18n.t("review.invalid"))
        for path, message in problems:
            say(f"  {path}: {message}")
        return "back:" + next((s.id for s in steps.active(draft) if any(s.owns_problem(p) for p, _ in problems)), "task")
    spec = draft.spec()
    text = render_job(spec)
    say(f"--- {jobs.job_file(spec.name)} ---")
    say(text.rstrip())
    say("---")
    if os.environ.get("YCDY_WIZARD_NO_PLAN") != "1":
        say(i18n.t("review.planning"))
        for line in jobs.plan_lines(jobs.Plan(text).run()):
            say(line)
    if jobs.runner_pid(jobs.job_file(spec.name).parent):
        say("! " + i18n.t("review.running", path=jobs.shown(jobs.job_file(spec.name).parent)))
    choices = [questionary.Choice(i18n.t("button.save"), value="save"),
               questionary.Choice(i18n.t("button.save_run"), value="run"),
               questionary.Choice(i18n.t("button.back"), value="back"),
               questionary.Choice(i18n.t("plain.quit"), value="quit")]
    action = _ask(questionary.select(i18n.t("plain.action"), choices, default="save"))
    if action == "back":
        ids = [questionary.Choice(i18n.t("step." + s.id), value=s.id) for s in steps.active(draft)]
        return "back:" + _ask(questionary.select(i18n.t("plain.back_to"), ids))
    if action in ("save", "run"):
        path = jobs.save(text, spec.name)
        say(i18n.t("review.saved", path=path))
    return action


def follow(job: Path, stages: list[str], proc: Any) -> int:
    """Print the job's events until its runner ends; Ctrl+C asks whether to stop it or leave it running."""
    view, shown, last = RunView(list(stages)), 0, 0.0
    events = job.parent / "events.jsonl"
    pid = proc.pid if proc is not None else jobs.runner_pid(job.parent)
    while True:
        try:
            view.read(events)
            for line in view.new_lines(shown):
                say(line)
            shown = view.logged
            stage = view.current
            p = view.progress.get(stage) if stage else None
            if p is not None and p.total and time.monotonic() - last > 5:
                last = time.monotonic()
                losses = view.losses.get(stage) or []
                loss = f"  loss {losses[-1]:.4g}" if losses else ""
                say(f"[{stage}] {p.step:g}/{p.total:g} {p.unit}  {i18n.t('run.eta', eta=fmt_duration(p.eta()))}{loss}")
            alive = proc.poll() is None if proc is not None else jobs.runner_pid(job.parent) is not None
            if not alive:
                view.read(events)
                for line in view.new_lines(shown):
                    say(line)
                ok = (proc.returncode == 0) if proc is not None else view.finished()
                if not ok and not view.errors:
                    for line in jobs.log_tail(job.parent):
                        say(line)
                say(i18n.t("run.finished", path=job.parent) if ok else i18n.t("run.failed", job=job))
                table = jobs.eval_table(job.parent)
                if table:
                    say(i18n.t("run.eval"))
                    for line in table:
                        say(line)
                info = jobs.read_serve(job.parent)
                if info and info.get("status", "running") == "running":
                    say(i18n.t("run.serving", url=jobs.serve_url(info)))
                    say(i18n.t("run.curl") + " " + jobs.curl_example(info, job.parent.name))
                return 0 if ok else 1
            time.sleep(0.5)
        except KeyboardInterrupt:
            say()
            try:
                stop = questionary.confirm(i18n.t("plain.interrupt"), default=False).ask(kbi_msg="")
            except KeyboardInterrupt:
                stop = True
            if not stop:
                say(i18n.t("run.detached", job=job))
                return 0
            if pid:
                jobs.stop_run(pid)
                say(i18n.t("run.stopping"))


def run_plain(draft: Draft | None = None, attach: Path | None = None) -> int:
    draft = draft or Draft()
    if attach is not None:
        return follow(attach, draft.stage_names(), None)
    step_id: str | None = "task"
    try:
        while step_id is not None:
            active = [s.id for s in steps.active(draft)]
            if step_id == "review":
                if not draft.data["name"]:
                    draft.set_text("name", draft.default_name())
                ask_step(draft, steps.by_id("review"), (len(active), len(active)))
                action = review(draft)
                if action.startswith("back:"):
                    step_id = action.split(":", 1)[1]
                    continue
                if action == "quit":
                    return 0
                if action == "save":
                    return 0
                path = jobs.job_file(draft.spec().name)
                return follow(path, draft.stage_names(), jobs.start_run(path))
            ask_step(draft, steps.by_id(step_id), (active.index(step_id) + 1, len(active)))
            step_id = steps.neighbour(draft, step_id, +1)
    except Quit:
        say(i18n.t("plain.quit"))
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(run_plain())
