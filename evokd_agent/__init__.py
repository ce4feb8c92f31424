"""evokd-agent: distil a large language model into a small, fast student model."""

__version__ = "0.1.0"
