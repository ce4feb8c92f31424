"""Sentence pooling as the encoder was trained: read from sentence-transformers' files, else mean.

A sentence-transformers model folder names its modules in `modules.json`; the pooling module's
`config.json` says which pooling it was trained with (`pooling_mode_mean_tokens`, `_cls_token`,
`_max_tokens`), and a `Normalize` module means embeddings were unit-normalised. Without those
files (a plain transformers encoder) mean pooling is the default: BERT's CLS pooler is a leftover
of next-sentence prediction and is a poor sentence embedding without fine-tuning.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from evokd_agent.errors import EvokdError

PoolingMode = Literal["mean", "cls", "max"]
POOLING_FILE = "evokd_pooling.json"


@dataclass(frozen=True)
class Pooling:
    """How token states become one sentence embedding."""

    mode: PoolingMode = "mean"
    """mean over non-padding tokens, the first ([CLS]) token's state, or the max over tokens."""
    normalize: bool = False
    """Unit-normalise the embedding (the encoder was trained on normalised embeddings)."""
    source: str = "default"
    """Where the setting came from: "sentence-transformers", "default" or a saved student."""

    def __call__(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """(batch, tokens, dim) states and (batch, tokens) mask -> (batch, dim) embeddings."""
        m = mask.unsqueeze(-1).to(hidden.dtype)
        if self.mode == "cls":
            out = hidden[:, 0]
        elif self.mode == "max":
            out = hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
        else:
            out = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(out, dim=-1) if self.normalize else out

    def save(self, folder: Path) -> None:
        """Write the setting beside a saved student."""
        (folder / POOLING_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", "utf-8")


def read_pooling(model_dir: str | Path) -> Pooling:
    """The pooling a model folder was trained with (see module docstring); mean if it says none."""
    root = Path(model_dir)
    saved = root / POOLING_FILE
    if saved.is_file():
        raw = _json(saved)
        if not isinstance(raw, dict):
            raise EvokdError(f"{saved} is not a JSON object", "re-save the student")
        saved_mode = raw.get("mode", "mean")
        if saved_mode not in ("mean", "cls", "max"):
            raise EvokdError(
                f"{saved}: unknown pooling mode {saved_mode!r}", "use mean, cls or max"
            )
        return Pooling(saved_mode, bool(raw.get("normalize", False)), "saved student")
    modules_file = root / "modules.json"
    if not modules_file.is_file():
        return Pooling()
    modules = _json(modules_file)
    if not isinstance(modules, list):
        return Pooling()
    mode: PoolingMode = "mean"
    normalize = False
    for module in modules:
        if not isinstance(module, dict):
            continue
        kind = str(module.get("type", ""))
        if kind.endswith("Normalize"):
            normalize = True
        elif kind.endswith("Pooling"):
            config = _json(root / str(module.get("path", "")) / "config.json")
            if not isinstance(config, dict):
                continue
            if config.get("pooling_mode_cls_token"):
                mode = "cls"
            elif config.get("pooling_mode_max_tokens"):
                mode = "max"
    return Pooling(mode, normalize, "sentence-transformers")


def _json(path: Path) -> object:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise EvokdError(f"could not read {path}: {e}", "repair or remove that file") from e
    return data
