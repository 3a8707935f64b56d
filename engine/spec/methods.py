"""The export methods and preference algorithms a job can name: one row each, read by the spec's
validation, the stages that run them and the model card. Adding GPTQ or ORPO is one row here and
one module (an engine.export module with `export(run)`; a TRL trainer for a preference algorithm).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportMethod:
    name: str
    title: str  # the model card's heading
    description: str  # for help texts
    implementation: str  # what does the work, for the model card
    package: str  # the import name the method needs
    pin: str  # what to pip install when it is missing
    bits: int  # what it writes
    module: str  # engine module whose export(run) quantises and saves
    calibrated: bool = False  # reads calibration rows


EXPORT_METHODS: dict[str, ExportMethod] = {
    "awq": ExportMethod(
        "awq", "AWQ 4-bit", "4-bit AWQ groups with llm-compressor; vLLM loads it as it is",
        "llm-compressor (AWQModifier + W4A16 group QuantizationModifier)", "llmcompressor", "llmcompressor==0.14.0.1",
        bits=4, module="engine.export.awq_flow", calibrated=True,
    ),
    "w8a16": ExportMethod(
        "w8a16", "W8A16 8-bit", "8-bit weights by plain rounding, no calibration; keeps what small models learned",
        "llm-compressor (W8A16 group QuantizationModifier, round-to-nearest)", "llmcompressor",
        "llmcompressor==0.14.0.1", bits=8, module="engine.export.awq_flow",
    ),
    "bnb-4bit": ExportMethod(
        "bnb-4bit", "bitsandbytes 4-bit (nf4)", "bitsandbytes nf4, no calibration",
        "bitsandbytes (weights stored 4-bit; transformers and vLLM load them as they are)", "bitsandbytes",
        "bitsandbytes==0.50.2", bits=4, module="engine.export.bnb",
    ),
}
EXPORT_CHOICES: tuple[str, ...] = (*EXPORT_METHODS, "none")


@dataclass(frozen=True)
class PreferenceAlgorithm:
    name: str
    description: str
    trainer: str  # TRL class names, looked up in trl_module
    config: str
    paired: bool  # rows are chosen/rejected pairs (else single answers with a liked/disliked label)
    min_batch: int = 1  # KTO compares each answer with the others in its batch
    takes_loss: bool = False  # reads dpo.loss
    trl_module: str = "trl"


PREFERENCE_ALGORITHMS: dict[str, PreferenceAlgorithm] = {
    "dpo": PreferenceAlgorithm("dpo", "chosen vs rejected pairs", "DPOTrainer", "DPOConfig", paired=True,
                               takes_loss=True),
    "kto": PreferenceAlgorithm("kto", "single answers marked liked / disliked", "KTOTrainer", "KTOConfig",
                               paired=False, min_batch=2),
}
