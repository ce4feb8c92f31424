"""The classification student's network: encoder, pooling as trained, and a linear head.

Saved as a plain transformers encoder folder plus `evokd_head.safetensors` (the head's `weight`
and `bias`), `evokd_pooling.json` and sentence-transformers' `modules.json`, so a saved student
loads with transformers and torch alone (see `load_plain` and the README), and its body with
`sentence_transformers.SentenceTransformer(folder)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from transformers.modeling_outputs import SequenceClassifierOutput

from evokd_agent.student.pooling import Pooling
from evokd_agent.student.train import MODEL_KEYS

HEAD_FILE = "evokd_head.safetensors"


class SentenceClassifier(torch.nn.Module):
    """Encoder -> pooled sentence embedding -> linear head; `forward(...).logits` as in HF."""

    def __init__(self, encoder: Any, pooling: Pooling, n_labels: int) -> None:
        super().__init__()
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # BERT's CLS pooler: unused here, so kept out of training
        self.encoder = encoder
        self.pooling = pooling
        self.head = torch.nn.Linear(int(encoder.config.hidden_size), n_labels)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def embed(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        """Pooled sentence embeddings, (batch, hidden)."""
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, **extra
        ).last_hidden_state
        return self.pooling(hidden, attention_mask)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
    ) -> SequenceClassifierOutput:
        """Logits over the labels, (batch, labels)."""
        return SequenceClassifierOutput(
            logits=self.head(self.embed(input_ids, attention_mask, token_type_ids))
        )

    def save_pretrained(self, folder: str | Path) -> None:
        """Encoder via save_pretrained, the head as safetensors, the pooling as JSON."""
        from safetensors.torch import save_file

        out = Path(folder)
        self.encoder.save_pretrained(out)
        head = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        save_file(head, str(out / HEAD_FILE))
        self.pooling.save(out)
        _write_sentence_transformers_files(out, self.pooling, self.head.in_features)

    @classmethod
    def from_pretrained(cls, folder: str | Path, pooling: Pooling) -> SentenceClassifier:
        """Load what `save_pretrained` wrote."""
        from safetensors.torch import load_file
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(str(folder))
        head = load_file(str(Path(folder) / HEAD_FILE))
        model = cls(encoder, pooling, int(head["weight"].shape[0]))
        model.head.load_state_dict(head)
        return model


def encoder_inputs(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The keys of a collated batch that the encoder takes."""
    return {k: v for k, v in batch.items() if k in MODEL_KEYS}


def _write_sentence_transformers_files(out: Path, pooling: Pooling, dimension: int) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if pooling.normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
        (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", "utf-8")
    (out / "1_Pooling").mkdir(exist_ok=True)
    config = {
        "word_embedding_dimension": dimension,
        "pooling_mode_cls_token": pooling.mode == "cls",
        "pooling_mode_mean_tokens": pooling.mode == "mean",
        "pooling_mode_max_tokens": pooling.mode == "max",
    }
    (out / "1_Pooling" / "config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")
