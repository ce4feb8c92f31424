"""What every distillation tool works on: the student, the data, the teacher and the run state."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from evokd_agent.distill.hygiene import Hygiene
from evokd_agent.distill.llkd import AdaptiveSelector, selection_summary, step_weights
from evokd_agent.prompting import PromptSet
from evokd_agent.student.config import TrainConfig, TrainResult
from evokd_agent.student.data import NerSample, TextSample
from evokd_agent.student.metrics import ClassificationMetrics, NerMetrics
from evokd_agent.student.student import NerStudent, Prediction, TextStudent
from evokd_agent.teacher.generator import ChatGenerator

if TYPE_CHECKING:  # label_scoring reads the context; the context only names its settings
    from evokd_agent.distill.label_scoring import ScoringSetup

Sample = TextSample | NerSample
Pred = Prediction[Any, Any]
Kind = Literal["hard", "easy", "rewrite", "zerogen", "pool", "eda"]


@dataclass(frozen=True)
class TaskSpec:
    """What is being learnt, as the prompts describe it."""

    task: Literal["classification", "ner"]
    """Classification of sentences or NER over words."""
    description: str
    """One or two sentences on the task, for the teacher."""
    labels: tuple[str, ...]
    """Class names (classification) or entity types (NER)."""
    label_descriptions: Mapping[str, str] = field(default_factory=dict)
    """Optional explanation of each label for the teacher."""

    def label_list(self) -> str:
        return "\n".join(
            f"- {label}: {self.label_descriptions[label]}"
            if label in self.label_descriptions
            else f"- {label}"
            for label in self.labels
        )


@dataclass(frozen=True)
class Candidate:
    """A generated input waiting for its label, with where it came from."""

    text: str
    """The input text (a sentence; NER splits it into words when labelled)."""
    kind: Kind
    """Why it was written: hard/easy (EvoKD), rewrite (AugGPT/+Init), zerogen, pool."""
    round: int
    """Round that produced it."""
    prompt_id: str
    """Template and version of the prompt that produced it."""
    label_hint: str | None = None
    """Label the prompt asked for (rewrites, ZeroGen); the labelling call still decides."""


@dataclass(frozen=True)
class PseudoLabel:
    """A pool text the teacher labelled, with its confidence (LLKD)."""

    confidence: float
    """Teacher confidence in the label (sentence confidence for NER)."""
    label: str
    """The teacher's label (NER: the entities, as text) for the record."""
    gold: Any = None
    """Gold label or tags when the pool file has them: analysis only, never for selection."""


@dataclass
class ToolState:
    """The mutable part of a run, changed only by tools."""

    round: int = 0
    """Rounds completed by `train_student` (0 before the first)."""
    batch: list[Sample] = field(default_factory=list)
    """Newest labelled batch: what `evaluate_student` tests (the seeds before round 1)."""
    predictions: list[Prediction[Any, Any]] = field(default_factory=list)
    """The student's predictions on `batch` from the last evaluation."""
    wrong: list[Prediction[Any, Any]] = field(default_factory=list)
    """Wrong predictions picked by `sample_errors`."""
    correct: list[Prediction[Any, Any]] = field(default_factory=list)
    """Correct predictions picked by `sample_errors`."""
    conversation: list[dict[str, str]] = field(default_factory=list)
    """Analysis/generation chat with the teacher, kept across rounds (trimmed to fit)."""
    candidates: list[Candidate] = field(default_factory=list)
    """Generated inputs not labelled yet."""
    synthetic: list[Sample] = field(default_factory=list)
    """Every accepted teacher-labelled sample so far."""
    pool_used: int = 0
    """Pool texts already offered to the teacher."""
    generation_steps: int = 0
    """Generation steps run so far: part of every generation request's sample index, so that
    a step repeated within a round (ZeroGen, AugGPT) draws new texts instead of cached ones."""
    trained_on: int | None = None
    """Fingerprint of the training set of the last training (None before round 0)."""
    last_dev: Any = None
    """The dev metrics of the last training (reused when a round adds nothing to train on)."""
    label_prior: dict[str, float] | None = None
    """Label scoring: the content-free label distribution (measured once per run)."""
    scored: list[tuple[dict[str, float], ...]] = field(default_factory=list)
    """Label scoring: the uncalibrated label distributions (one per example order) of every
    text scored so far (the batch and mixture calibrations' data)."""
    pseudo: dict[str, PseudoLabel] = field(default_factory=dict)
    """Pool samples in the training set, by text: their teacher confidence (LLKD weighting)."""
    selection: dict[str, Any] | None = None
    """LLKD's account of the last training call (selected share, thresholds, label accuracy)."""
    dev_history: list[float] = field(default_factory=list)
    """Dev score after each training round."""
    finished: bool = False
    """Set by `finish`; the test split is open only after it."""
    final: dict[str, Any] = field(default_factory=dict)
    """What `finish` reported."""


@dataclass(kw_only=True)
class ToolContext:
    """What a tool works on (the registry passes it as `ctx`): the task and its data, the
    student, the teacher's budget, the run state, and the checks new samples must pass.

    A tool that does not build teacher requests itself annotates `ctx: ToolContext`; the
    teacher's steps (analysis, generation, labelling, scoring) take the wider `DistillContext`.
    """

    spec: TaskSpec
    """The task and its labels."""
    student: TextStudent | NerStudent
    """The model being distilled into (use `evaluate`, `split_errors`, `train_and_score`)."""
    train_config: TrainConfig
    """How the student is trained each round."""
    seeds: Sequence[Sample]
    """The user's labelled examples."""
    dev: Sequence[Sample]
    """Development split: model selection and stopping."""
    test: Sequence[Sample]
    """Held-out split, read only by `finish`."""
    generator: ChatGenerator
    """Rate-limited, budgeted, cached teacher access (`generator.ledger`: the token budget)."""
    hygiene: Hygiene
    """Filters on new samples: leak guard, near-duplicates, label checks (distill.intake)."""
    record_sample: Callable[[dict[str, Any]], None]
    """Appends one generated/labelled sample with provenance to the run directory."""
    end_round: Callable[[dict[str, Any]], str | None]
    """Records a finished round (metrics, checkpoint, state, progress line); returns why the run
    should stop now (budget, round limit, dev F1 plateau), or None to go on."""
    save_final: Callable[[], str]
    """Saves the student as the run's final model; returns the folder."""
    pool: Sequence[str] = ()
    """Unlabeled texts the teacher may pseudo-label (`score_confidence` with source "pool")."""
    pool_gold: Mapping[str, Any] = field(default_factory=dict)
    """Gold labels of pool texts where the file has them: for the run's analysis of teacher
    label accuracy only; no tool shows them to the teacher or uses them to select."""
    seed: int = 42
    """The run's seed: tools that draw at random (EDA) seed their RNG from it and the round."""
    selector: AdaptiveSelector | None = None
    """LLKD: when set, training selects and weights the pool samples at every step."""
    state: ToolState = field(default_factory=ToolState)
    """What the tools have done so far."""

    @property
    def train_set(self) -> list[Sample]:
        return [*self.seeds, *self.state.synthetic]

    # The student is a TextStudent or an NerStudent; these keep the union out of every tool.
    def evaluate(self, samples: Sequence[Sample]) -> ClassificationMetrics | NerMetrics:
        """Score the student on labelled samples (blocking: call through asyncio.to_thread)."""
        student: Any = self.student
        metrics: ClassificationMetrics | NerMetrics = student.evaluate(list(samples))
        return metrics

    def split_errors(self, samples: Sequence[Sample]) -> tuple[list[Pred], list[Pred]]:
        """(wrong, correct) predictions with confidences (blocking)."""
        student: Any = self.student
        wrong, correct = student.split_errors(list(samples))
        return list(wrong), list(correct)

    def train_and_score(self) -> tuple[ClassificationMetrics | NerMetrics, float | None]:
        """Train on `train_set`, then score dev: (dev metrics, last train loss) (blocking).

        A training set unchanged since the last training (a round whose requests were all
        refused or unusable) is not learnt again: the last scores stand, with no train loss.
        """
        state = self.state
        fingerprint = hash(tuple(self.train_set))
        if fingerprint == state.trained_on and state.last_dev is not None:
            return state.last_dev, None
        result = self.train(self.train_set)
        dev = self.evaluate(self.dev)
        state.trained_on, state.last_dev = fingerprint, dev
        return dev, result.train_loss[-1] if result.train_loss else None

    def train(self, samples: Sequence[Sample]) -> TrainResult:
        """Continue training the student on `samples` (blocking).

        With an LLKD selector, pool samples are selected and weighted at every step from
        their teacher confidence and the student's entropy (distill.llkd); seeds always count.
        """
        student: Any = self.student
        samples = list(samples)
        if self.selector is None:
            result: TrainResult = student.train(samples, None, None, self.train_config)
            return result
        labels = list(self.spec.labels)
        pseudo = [self.state.pseudo.get(sample_text(s)) for s in samples]
        classes = [
            labels.index(s.label) if isinstance(s, TextSample) and p is not None else 0
            for s, p in zip(samples, pseudo, strict=True)
        ]
        hook, log = step_weights(
            self.selector, [p.confidence if p else None for p in pseudo], classes
        )
        result = student.train(samples, None, None, self.train_config, hook)
        self.state.selection = selection_summary(self.selector, pseudo, log)
        return result


@dataclass(kw_only=True)
class DistillContext(ToolContext):
    """A tool context plus how the teacher's requests are built: the context of the teacher's
    steps (distill.steps, labelling, scoring) and of the built-in tools that call them."""

    prompts: PromptSet
    """Prompt templates for this task."""
    temperature: float = 0.8
    """Sampling temperature of generation calls (labelling uses 0)."""
    max_tokens: int = 128
    """Completion limit per input written."""
    inputs_per_request: int = 1
    """Inputs one generation request writes (k, `generation.per_request`)."""
    label_scoring: ScoringSetup | None = None
    """Classification labels by completion scoring (distill.label_scoring); None: chat."""
    texts_per_request: int = 1
    """Texts one labelling request labels (m, `labelling.per_request`); 1: one-text prompt."""
    json_mode: Literal["schema", "object", "off"] = "schema"
    """How JSON replies are requested: json_object with a schema (llama.cpp turns it into a
    grammar), plain json_object (OpenAI), or not at all (prompt only)."""
    max_history_chars: int = 3000
    """Conversation kept for the teacher's analyses (older turns are dropped first)."""


def sample_text(sample: Sample) -> str:
    """The text a sample is known by (NER: its words joined by spaces)."""
    return sample.text if isinstance(sample, TextSample) else " ".join(sample.tokens)
