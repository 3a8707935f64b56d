"""Datasets: read local files or built-in sets, detect the format, validate every row before any model loads.

load_sft (engine.data.sft) and load_preference (engine.data.preference) serve the training stages;
preview and builtin.list_builtin serve the wizard and import nothing heavy.
"""

from .peek import Preview, preview
from .source import Identity

__all__ = ["Identity", "Preview", "preview"]
