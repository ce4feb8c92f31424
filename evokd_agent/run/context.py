"""The distillation context of a run, built from its config: what `evokd run` and its cost
estimate (`run.dry_run`) both give the tools, so the estimate rehearses the run's own steps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from evokd_agent.config.data import RunData
from evokd_agent.config.run_config import RunConfig
from evokd_agent.distill.context import DistillContext, Sample, TaskSpec, sample_text
from evokd_agent.distill.hygiene import Hygiene
from evokd_agent.distill.label_scoring import ScoringSetup
from evokd_agent.distill.llkd import AdaptiveSelector
from evokd_agent.distill.tasks import strategy_of
from evokd_agent.methods.spec import MethodOptions, MethodSpec
from evokd_agent.prompting import PromptSet
from evokd_agent.student.student import NerStudent, TextStudent
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.generator import ChatGenerator
from evokd_agent.teacher.prices import Prices, prices_for


def run_seeds(config: RunConfig, data: RunData) -> list[Sample]:
    """What round 0 trains on: the seeds, or (full_shot) the whole gold train file."""
    if config.method_spec.trains_on == "train":
        return [*(data.train or [])]
    return [*data.seeds]


def build_hygiene(config: RunConfig, data: RunData, seeds: Sequence[Sample]) -> Hygiene:
    """The checks new samples pass: dev and test texts are never learnt, seeds never repeated."""
    eval_texts = [sample_text(s) for s in [*data.dev, *(data.test or [])]]
    hygiene = Hygiene(
        config.labels, eval_texts, max_text_tokens=config.generation.input_token_limit()
    )
    hygiene.add_training(sample_text(s) for s in seeds)
    return hygiene


def build_context(
    config: RunConfig,
    data: RunData,
    seeds: Sequence[Sample],
    *,
    student: TextStudent | NerStudent,
    generator: ChatGenerator,
    hygiene: Hygiene,
    teacher: TeacherConfig,
    record_sample: Callable[[dict[str, Any]], None],
    end_round: Callable[[dict[str, Any]], str | None],
    save_final: Callable[[], str],
    kind: type[DistillContext] = DistillContext,
) -> DistillContext:
    """The context the run's tools work on (`teacher`: the endpoint as started; `kind`: a
    subclass, for the cost estimate's stand-in student)."""
    spec = config.method_spec
    options = config.options
    return kind(
        spec=TaskSpec(
            config.task,
            config.task_description,
            tuple(config.labels),
            dict(config.label_descriptions),
        ),
        student=student,
        train_config=config.student.train,
        seeds=seeds,
        dev=list(data.dev),
        test=list(data.test or []),
        pool=list(data.pool),
        temperature=config.generation.temperature,
        max_tokens=config.generation.max_tokens,
        inputs_per_request=config.generation.inputs_per_request(config.teacher.is_embedded),
        max_history_chars=config.generation.history_chars,
        texts_per_request=config.labelling.texts_per_request(),
        label_scoring=_label_scoring(config),
        generator=generator,
        prompts=PromptSet.load(config.task, config.prompts_dir),
        hygiene=hygiene,
        record_sample=record_sample,
        end_round=end_round,
        save_final=save_final,
        json_mode=_json_mode(teacher, options),
        pool_gold=dict(data.pool_gold),
        selector=_selector(config, spec, options),
        seed=config.seed,
    )


def run_prices(config: RunConfig) -> Prices | None:
    """The teacher's prices: its own, else its model's entry in the price tables."""
    teacher = config.teacher
    model = "simulated-teacher" if teacher.is_simulated else teacher.model
    return prices_for(model, override=teacher.prices, table=config.price_table)


def _selector(
    config: RunConfig, spec: MethodSpec[Any], options: MethodOptions
) -> AdaptiveSelector | None:
    if spec.pool_selection is None:
        return None
    momentum = spec.pool_selection(options)
    per_label = strategy_of(config.task).per_label_selection
    return AdaptiveSelector(len(config.labels) if per_label else 1, momentum)


def _label_scoring(config: RunConfig) -> ScoringSetup | None:
    settings = config.labelling
    if not settings.uses_scoring(config.task, config.teacher.is_embedded):
        return None
    return ScoringSetup(
        calibration=settings.calibration,
        top_logprobs=settings.top_logprobs,
        shots=settings.shots,
        input_name=settings.input_name,
        label_name=settings.label_name,
        orders=settings.orders,
    )


def _json_mode(teacher: TeacherConfig, options: MethodOptions) -> Any:
    if options.json_mode != "auto":
        return options.json_mode
    # OpenAI rejects unknown response_format fields; llama.cpp and vLLM-style servers use them.
    return "object" if "api.openai.com" in teacher.base_url else "schema"
