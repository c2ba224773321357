"""Exports of a corpus to other tools' formats: `llava` (LLaVA / VideoChat-Flash annotations and a
data-mix YAML)."""
