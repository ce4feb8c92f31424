"""Run configuration: one YAML or TOML file describing a whole distillation run.

Relative data, prompt and tool paths are resolved against the config file's folder, so an example
runs from any working directory; `run_root` stays relative to where `evokd run` is started.
Unknown fields are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_validator,
)

from evokd_agent.config.yaml_file import parse_config_file, validation_error
from evokd_agent.errors import EvokdError
from evokd_agent.methods.registry import BUILTIN_REGISTRY, MethodRegistry, method_registry
from evokd_agent.methods.spec import MethodOptions, MethodSpec, PlanInput
from evokd_agent.student.config import TrainConfig
from evokd_agent.teacher.config import TeacherConfig

Task = Literal["classification", "ner"]
PolicyName = Literal["scripted", "llm", "json"]
CheckpointPolicy = Literal["best_and_last", "last", "all", "none"]
TestSchedule = Literal["every_round", "end", "never"]

DATA_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".parquet")
"""Extensions the data loaders read."""
BASE_DIR_KEY = "base_dir"
"""Validation-context key holding the folder relative paths are resolved against."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MODULE_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_BUILTIN_METHODS: list[JsonValue] = list(BUILTIN_REGISTRY)
"""The built-in method names, listed in the config's JSON schema."""
_STRICT = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """`value` made absolute against the config file's folder (or the working directory)."""
    context = info.context if isinstance(info.context, dict) else {}
    base = Path(context.get(BASE_DIR_KEY) or Path.cwd())
    path = Path(os.path.expanduser(value))
    return (path if path.is_absolute() else base / path).resolve()


def _existing_data_file(value: Path | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    path = _resolve(value, info)
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise ValueError(
            f"{path} has extension {path.suffix!r}; data files must be {', '.join(DATA_SUFFIXES)}"
        )
    if not path.is_file():
        raise ValueError(f"data file {path} does not exist")
    return path


def _train_config(value: Any, handler: Any) -> Any:
    # TrainConfig checks its ranges in __post_init__ with EvokdError; pydantic reports ValueError.
    try:
        return handler(value)
    except EvokdError as err:
        raise ValueError(err.cause) from None


class DataConfig(BaseModel):
    """Where the labelled seeds, the evaluation sets and the unlabeled pool come from."""

    model_config = _STRICT

    seeds: Path | None = None
    """File of labelled seed samples; all are used unless `seeds_per_class` draws from it."""
    train: Path | None = None
    """Labelled training file: seeds are drawn from it; `full_shot` trains on all of it."""
    train_limit: int | None = Field(default=None, ge=1)
    """`full_shot` trains on at most this many samples of `train` (a fixed random subset drawn
    with the run's `seed`); seeds are still drawn from the whole file. None: all of it."""
    seeds_per_class: int | None = Field(default=None, ge=1, le=100_000)
    """Seeds drawn per label (per entity type for NER) from `seeds`, else from `train`."""
    seeds_seed: int | None = None
    """Random seed of the seed draw; None uses the run's `seed`."""
    dev: Path
    """Labelled dev file: the stop rule and checkpoint choice use its F1."""
    dev_limit: int | None = Field(default=None, ge=1)
    """Score on at most this many dev samples (a fixed random subset) to keep rounds fast."""
    test: Path | None = None
    """Labelled test file, reported but never used for decisions."""
    test_limit: int | None = Field(default=None, ge=1)
    """Score on at most this many test samples (a fixed random subset)."""
    pool: Path | None = None
    """Unlabeled texts for LLKD (a `text` field; labels, if present, are ignored): a data file,
    or a folder written by `datasets.Dataset.save_to_disk`."""
    pool_limit: int | None = Field(default=None, ge=1)
    """Use at most this many pool texts (a fixed random subset)."""

    _paths = field_validator("seeds", "train", "dev", "test")(_existing_data_file)

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and _resolve(value, info).is_dir():
            path = _resolve(value, info)
            if not (path / "dataset_info.json").is_file():
                raise ValueError(f"{path} is a folder but not one saved by datasets' save_to_disk")
            return path
        return _existing_data_file(value, info)

    @model_validator(mode="after")
    def _seed_source(self) -> DataConfig:
        if self.seeds_per_class is not None and self.seeds is None and self.train is None:
            raise ValueError("seeds_per_class needs a file to draw from: set data.train or seeds")
        return self

    @property
    def seed_source(self) -> Path | None:
        """The file seeds are read or drawn from."""
        if self.seeds is not None:
            return self.seeds
        return self.train if self.seeds_per_class is not None else None


class StudentSettings(BaseModel):
    """The student model and how it is trained each round."""

    model_config = _STRICT

    model: NonEmpty = "all-MiniLM-L6-v2"
    """transformers encoder name or local path; "all-MiniLM-L6-v2" is the packaged offline copy."""
    max_length: int = Field(default=128, ge=8, le=8192)
    """Longest input in subword tokens; longer inputs are truncated."""
    train: Annotated[TrainConfig, WrapValidator(_train_config)] = TrainConfig()
    """Training settings (epochs, learning rate, batch size, ...; see student TrainConfig)."""


class SamplesPerRound(BaseModel):
    """How many new samples the teacher writes each round."""

    model_config = _STRICT

    hard: int = Field(default=4, ge=0, le=100_000)
    """Samples the student will likely get wrong (EvoKD); for other methods, the per-round count."""
    easy: int = Field(default=4, ge=0, le=100_000)
    """Samples the student will likely get right (EvoKD), so it does not forget."""

    @property
    def total(self) -> int:
        """Samples requested per round."""
        return self.hard + self.easy

    @model_validator(mode="after")
    def _positive(self) -> SamplesPerRound:
        if self.total < 1:
            raise ValueError("hard + easy must be at least 1")
        return self


class StopRule(BaseModel):
    """Stop when dev F1 stops improving for the tokens spent (see `evokd_agent.config.stopping`).

    After round r, with best(k) the best dev F1 of rounds 0..k (round 0 = the seeds-only student)
    and w = `patience_rounds`: stop when best(r) - best(r-w) < `min_delta`, or, when
    `min_gain_per_1k_tokens` is set, when that gain per 1,000 teacher tokens spent in those w
    rounds is below it.
    """

    model_config = _STRICT

    patience_rounds: int = Field(default=2, ge=1)
    """Window, in rounds, over which the best dev F1 must improve."""
    min_delta: float = Field(default=0.005, ge=0, le=1)
    """Least gain of the best dev F1 (absolute, F1 in 0..1) over the window; 0 never stops."""
    min_gain_per_1k_tokens: float | None = Field(default=None, ge=0)
    """Also stop when the window's gain per 1,000 tokens spent falls below this; None: off."""


# Defaults of k and m (see README "Teacher calls" for the measurements behind them).
GENERATION_PER_REQUEST = 16
EMBEDDED_GENERATION_PER_REQUEST = 4
LABELLING_PER_REQUEST = 16


class GenerationSettings(BaseModel):
    """Sampling settings of the teacher's generation calls."""

    model_config = _STRICT

    temperature: float = Field(default=0.8, ge=0, le=2)
    """Sampling temperature for writing new samples (labelling calls use 0)."""
    max_tokens: int = Field(default=128, ge=16, le=1_000_000)
    """Completion limit per input written (a request writing k inputs may use k times this);
    the budget must cover at least one."""
    history_chars: int = Field(default=3000, ge=500, le=1_000_000)
    """Characters of the EvoKD analysis conversation sent with each analysis and generation
    request, besides the system prompt (older turns are dropped first, and each turn is cut to
    this length)."""
    max_input_tokens: int | None = Field(default=None, ge=8, le=1_000_000)
    """Longest generated input accepted, in cl100k tokens; a longer one is rejected
    (`too_long`), so no reply inflates the prompts it would later appear in. None: twice
    `max_tokens` (an input can't be longer than max_tokens while the server honours it; the
    factor 2 allows for tokenizers that count fewer tokens than cl100k)."""

    def input_token_limit(self) -> int:
        """The `max_input_tokens` in force."""
        return self.max_input_tokens or 2 * self.max_tokens

    per_request: int | None = Field(default=None, ge=1, le=64)
    """Inputs written per request (k), as one JSON list; None: 16 for a remote endpoint, 4 for
    the embedded teacher (chosen from the bench, see README "Teacher calls")."""

    def inputs_per_request(self, embedded: bool) -> int:
        """k for this endpoint: `per_request`, else the measured default."""
        if self.per_request is not None:
            return self.per_request
        return EMBEDDED_GENERATION_PER_REQUEST if embedded else GENERATION_PER_REQUEST


class LabellingSettings(BaseModel):
    """How the teacher labels: chat calls (m texts each) or completion scoring."""

    model_config = _STRICT

    per_request: int | None = Field(default=None, ge=1, le=64)
    """Texts labelled per request (m), one label per numbered item; 1: one text per request
    (the one-text prompt). None: 16 (measured: the same label accuracy as one per request,
    at a third of the tokens)."""

    method: Literal["auto", "chat", "scoring"] = "auto"
    """Classification labels: "chat" asks for a JSON label; "scoring" continues a few-shot
    text on `/completions` and reads the label words' logprobs (distill.label_scoring; needs an
    endpoint serving completions with logprobs); "auto": scoring on the embedded teacher, chat
    elsewhere. NER is always labelled through chat."""
    calibration: Literal["mixture", "batch", "content_free", "off"] = "mixture"
    """Scoring: divide label probabilities by their mean over the run's scored inputs
    ("batch"), then refit their scale with a Gaussian mixture over those inputs ("mixture",
    measured best: same accuracy, calibrated confidences); divide by the probabilities of
    content-free inputs ("content_free": "N/A", "", "[MASK]"); or not at all ("off"); see
    distill.label_scoring."""
    top_logprobs: int = Field(default=10, ge=1, le=20)
    """Scoring: alternatives read per token (label forms outside them count as 0)."""
    orders: int = Field(default=1, ge=1, le=2)
    """Scoring: example orders each text is scored under; 2 adds the examples reversed and
    reads the label from both, at twice the requests (measured on the embedded teacher: SST-2
    dev accuracy 0.831 against 0.790, README "The offline teacher")."""
    shots: int = Field(default=8, ge=0, le=64)
    """Scoring: most labelled seeds in the few-shot prompt."""
    input_name: NonEmpty = "Text"
    """Scoring: the field name before each input in the prompt (e.g. "Review")."""
    label_name: NonEmpty = "Label"
    """Scoring: the field name before each label in the prompt (e.g. "Sentiment")."""

    def texts_per_request(self) -> int:
        """m: `per_request`, else the measured default."""
        return self.per_request if self.per_request is not None else LABELLING_PER_REQUEST

    def uses_scoring(self, task: str, embedded: bool) -> bool:
        """Whether classification labels come from completion scoring (see `method`)."""
        if task != "classification":
            return False
        return self.method == "scoring" or (self.method == "auto" and embedded)


class RunConfig(BaseModel):
    """Everything one `evokd run` needs: task, data, teacher, student, method and budget."""

    model_config = _STRICT

    name: str
    """Run name, used in the run directory's name (letters, digits, . _ -)."""
    task: Task
    """"classification" or "ner"."""
    task_description: NonEmpty
    """What the task is, in a sentence the teacher reads (e.g. "sentiment of movie reviews")."""
    labels: list[NonEmpty] = Field(min_length=1)
    """Label names in index order (integer labels in data files map through it); NER: types."""
    label_descriptions: dict[str, NonEmpty] = Field(default_factory=dict)
    """Optional description per label or entity type, shown to the teacher."""
    data: DataConfig
    """Seed, dev, test and pool files."""
    teacher: TeacherConfig = TeacherConfig()
    """Teacher endpoint; the default "embedded" starts the offline llama.cpp teacher."""
    student: StudentSettings = StudentSettings()
    """Student model and training settings."""
    extra_methods: list[NonEmpty] = Field(default_factory=list)
    """Extra methods: Python files (path) or importable module names defining `@method`s."""
    method: str = Field(default="evokd", json_schema_extra={"examples": _BUILTIN_METHODS})
    """Distillation method or baseline: a built-in one (README "Methods") or one that a module
    in `extra_methods` defines."""
    policy: PolicyName = "scripted"
    """Who drives the loop: the fixed paper loop, the teacher via tool calls, or via JSON."""
    budget_tokens: int = Field(gt=0)
    """Hard teacher-token budget (prompt + completion); no request may pass it."""
    budget_usd: float | None = Field(default=None, gt=0)
    """Hard limit on the teacher's cost in dollars, kept like `budget_tokens` (nothing is sent
    that could pass it); needs the teacher's prices (README "Cost in dollars")."""
    max_rounds: int = Field(default=5, ge=1, le=100_000)
    """Most generate-label-train rounds."""
    samples_per_round: SamplesPerRound = SamplesPerRound()
    """New samples requested each round."""
    stop: StopRule = StopRule()
    """Early stop when dev F1 stops improving for the tokens spent."""
    generation: GenerationSettings = GenerationSettings()
    """Teacher sampling settings for generation."""
    labelling: LabellingSettings = LabellingSettings()
    """How many texts one labelling request carries."""
    method_options: dict[str, Any] = Field(default_factory=dict)
    """Method-specific settings, validated by the method's options model (README "Method
    options"); an option of another method is ignored, so one config serves a bench."""
    seed: int = 42
    """Seed for sampling, training and subsets: same seed, same run (teacher permitting)."""
    prompts_dir: Path | None = None
    """Folder of prompt templates overriding the shipped ones; None uses the shipped prompts."""
    price_table: Path | None = None
    """A YAML file of teacher prices per model (the layout of the shipped
    evokd_agent/teacher/prices.yaml), adding to or overriding it; `teacher.prices` wins."""
    extra_tools: list[NonEmpty] = Field(default_factory=list)
    """Extra agent tools: Python files (path) or importable module names."""
    run_root: Path = Path("runs")
    """Folder the run directory is created in (relative to the working directory)."""
    checkpoints: CheckpointPolicy = "best_and_last"
    """Which per-round student checkpoints to keep."""
    evaluate_test: TestSchedule = "every_round"
    """When to score the test set (if any): each round, only at the end, or never."""
    log_content: bool = False
    """Log prompts and completions in events.jsonl (off: counts, timings and statuses only)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"{value!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                "or digit"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for label in value:
            if label in seen:
                raise ValueError(f"label {label!r} is listed twice")
            seen.add(label)
        return value

    @field_validator("prompts_dir")
    @classmethod
    def _prompts_dir(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _resolve(value, info)
        if not path.is_dir():
            raise ValueError(f"prompts folder {path} does not exist")
        return path

    @field_validator("price_table")
    @classmethod
    def _price_table(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _resolve(value, info)
        if not path.is_file():
            raise ValueError(f"price table {path} does not exist")
        return path

    @field_validator("extra_tools")
    @classmethod
    def _extra_tools(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return _module_entries(value, info, "tool")

    @field_validator("extra_methods")
    @classmethod
    def _extra_methods(cls, value: list[str], info: ValidationInfo) -> list[str]:
        entries = _module_entries(value, info, "method")
        try:
            method_registry(entries)  # import them now: a broken module is a config error
        except EvokdError as err:
            raise ValueError(err.cause) from None
        return entries

    @field_validator("method")
    @classmethod
    def _method(cls, value: str, info: ValidationInfo) -> str:
        if "extra_methods" in info.data:  # else that field's error is reported already
            method_registry(info.data["extra_methods"]).check_name(value)
        return value

    @field_validator("method_options")
    @classmethod
    def _method_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "extra_methods" in info.data and "method" in info.data:
            method_registry(info.data["extra_methods"]).parse_options(info.data["method"], value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.task == "classification" and len(self.labels) < 2:
            raise ValueError("classification needs at least two labels")
        if self.task == "ner":
            for label in self.labels:
                if label == "O" or label[:2] in ("B-", "I-"):
                    raise ValueError(
                        f"NER labels are entity types (e.g. 'person'), not BIO tags; got {label!r}"
                    )
        unknown = sorted(set(self.label_descriptions) - set(self.labels))
        if unknown:
            raise ValueError(f"label_descriptions names unknown labels: {', '.join(unknown)}")
        spec = self.method_spec
        if spec.trains_on == "train" and self.data.train is None:
            raise ValueError(f"method {self.method} trains on data.train: set it")
        if spec.needs_pool is not None and self.data.pool is None:
            raise ValueError(f"method {self.method} {spec.needs_pool}: set data.pool")
        if spec.trains_on == "seeds" and self.data.seed_source is None:
            raise ValueError(
                "no labelled seeds: set data.seeds, or data.train with data.seeds_per_class"
            )
        if self.labelling.method == "scoring" and self.task != "classification":
            raise ValueError("labelling.method scoring labels classification only; use chat")
        if self.labelling.method == "scoring" and self.teacher.is_simulated:
            raise ValueError(
                "labelling.method scoring needs /completions with logprobs, which the simulated "
                "teacher does not serve: use auto or chat"
            )
        if self.budget_tokens < self.generation.max_tokens:
            raise ValueError(
                f"budget_tokens {self.budget_tokens} is below one generation request "
                f"(generation.max_tokens {self.generation.max_tokens}): too small for one round"
            )
        return self

    @property
    def methods(self) -> MethodRegistry:
        """The methods this config can name: the built-in ones and its `extra_methods`."""
        return method_registry(self.extra_methods)

    @property
    def method_spec(self) -> MethodSpec[Any]:
        """The registry entry of `method`."""
        return self.methods[self.method]

    @property
    def options(self) -> MethodOptions:
        """`method_options` as the method's typed options model (its defaults filled in)."""
        options: MethodOptions = self.method_spec.parse_options(self.method_options)
        return options

    def plan_input(self, n_seeds: int) -> PlanInput:
        """What the method's plan reads of this config (`n_seeds`: samples round 0 trains on)."""
        spr = self.samples_per_round
        return PlanInput(self.task, tuple(self.labels), spr.hard, spr.easy, n_seeds)

    @property
    def effective_teacher(self) -> TeacherConfig:
        """The teacher settings with the run-level `log_content` switch applied."""
        if self.log_content and not self.teacher.log_content:
            return self.teacher.model_copy(update={"log_content": True})
        return self.teacher

    def to_record(self) -> dict[str, Any]:
        """The resolved config as plain data for config.yaml; the API key is never included."""
        return self.model_dump(mode="json", exclude={"teacher": {"api_key"}})


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and validate a run config (.yaml/.yml/.toml); any problem is one-line `EvokdError`."""
    file = Path(path)
    raw = parse_config_file(file)
    raw.setdefault("name", _name_from(file))
    try:
        return RunConfig.model_validate(raw, context={BASE_DIR_KEY: file.resolve().parent})
    except ValidationError as err:
        raise validation_error(file, err, RunConfig) from None


def _module_entries(value: list[str], info: ValidationInfo, what: str) -> list[str]:
    """`extra_tools` / `extra_methods` entries: .py paths made absolute, module names kept."""
    out: list[str] = []
    for entry in value:
        if entry.endswith(".py") or "/" in entry or os.sep in entry:
            path = _resolve(Path(entry), info)
            if not path.exists():
                raise ValueError(f"{what} file {path} does not exist")
            out.append(str(path))
        elif _MODULE_RE.match(entry):
            out.append(entry)
        else:
            raise ValueError(f"{entry!r} is neither a .py file nor a module name")
    return out


def _name_from(file: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", file.stem).strip("-._")[:64]
    return name or "run"
