"""OpenAI-compatible servers the framework starts: the embedded llama.cpp teacher, the
SIMULATED teacher and the loopback fake used by tests."""
