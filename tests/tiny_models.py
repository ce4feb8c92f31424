"""A tiny student network for tests and the reliability suite: fast to build, train and save."""

from __future__ import annotations

from pathlib import Path


def build_tiny_bert(directory: Path) -> Path:
    """A randomly initialised 2-layer BERT with the packaged MiniLM tokenizer, saved to disk."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from evokd_agent.student.model import packaged_minilm_dir

    tokenizer = AutoTokenizer.from_pretrained(packaged_minilm_dir())
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
