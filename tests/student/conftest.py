"""Student tests use the tiny-BERT fixture and the one-thread setting of tests/conftest.py."""
