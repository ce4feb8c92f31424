"""Settings of the SIMULATED teacher (`teacher.base_url: simulated`): a corpus, not an LLM.

Kept apart from `simulated.py` so that reading a config never imports numpy or torch. What the
simulation answers, and how its labels and confidences are drawn, is in `simulated.py`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

SIMULATED = "simulated"
"""`base_url` value that asks the framework to start the simulated teacher."""
SIMULATED_MODEL = "simulated-teacher"
"""Model name the simulated endpoint serves (and the only one it accepts)."""

# Same key as `evokd_agent.config.run_config.BASE_DIR_KEY` (not imported: that module imports
# this one).
_BASE_DIR_KEY = "base_dir"
_EVAL_NAME = re.compile(r"(^|[^a-z])(dev|test|valid|validation|eval)([^a-z]|$)")


def _resolve(value: Path, info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, dict) else {}
    base = Path(context.get(_BASE_DIR_KEY) or Path.cwd())
    path = Path(os.path.expanduser(value))
    path = (path if path.is_absolute() else base / path).resolve()
    if not path.is_file():
        raise ValueError(f"file {path} does not exist")
    return path


class SimulatedTeacherConfig(BaseModel):
    """Which labelled corpus the simulated teacher serves, and how noisy its labels are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus: Path
    """Labelled TRAIN file ({"text","label"} or {"tokens","tags"} rows) the replies come from."""
    exclude: list[Path] = Field(default_factory=list)
    """Files whose texts are never served nor used (list the run's dev and test files here)."""
    noise: float = Field(default=0.1, ge=0, le=0.5)
    """Expected share of wrong labels (a flipped class; per NER entity: dropped or retyped)."""
    concentration: float = Field(default=4.0, gt=0)
    """Beta concentration of the confidence draw: higher = confidences bunch at 1 - noise."""
    seed: int = 0
    """Seed of the random picks, the corpus subset and the per-text label noise."""
    max_corpus: int = Field(default=5000, ge=1, le=1_000_000)
    """Sentences embedded and served (a seeded random subset): MiniLM on a CPU does ~100/s."""
    embedding_cache: Path | None = Path("~/.cache/evokd-agent/simulated")
    """Folder keeping the corpus embeddings between runs (keyed by embedder and texts); null
    embeds at every start-up."""
    labels: list[str] | None = None
    """Names of integer labels in the corpus, in index order (default: a sibling meta.json)."""

    @field_validator("corpus")
    @classmethod
    def _corpus(cls, value: Path, info: ValidationInfo) -> Path:
        path = _resolve(value, info)
        if _EVAL_NAME.search(path.stem.lower()):
            raise ValueError(
                f"{path.name} looks like an evaluation split; the simulated teacher must serve "
                "training text only (point corpus at the train file)"
            )
        return path

    @field_validator("exclude")
    @classmethod
    def _exclude(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return [_resolve(path, info) for path in value]
