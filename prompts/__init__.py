"""Prompt templates (text files, `string.Template` syntax), shipped inside the wheel."""
