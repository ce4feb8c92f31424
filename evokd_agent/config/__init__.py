"""The run config (YAML, validated), the data it names, and the stop rule."""
