"""The run layer: run configuration, the run directory, output hygiene, stop rule and report.

Heavy imports (matplotlib) happen only when a report is written.
"""

from __future__ import annotations

from evokd_agent.run.config import (
    DataConfig,
    GenerationSettings,
    RunConfig,
    SamplesPerRound,
    StopRule,
    StudentSettings,
    load_run_config,
)
from evokd_agent.run.data import RunData, draw_seeds, load_run_data
from evokd_agent.run.hygiene import (
    AlignedSentence,
    EntitySpan,
    Hygiene,
    LeakGuard,
    NearDuplicateIndex,
    Rejection,
    RejectionCounter,
    align_entities,
    check_label,
    check_text,
    normalize_label,
)
from evokd_agent.run.records import RoundMetrics, RunState, SampleRecord
from evokd_agent.run.report import ReportPaths, write_report
from evokd_agent.run.stopping import Point, plateau_reason, stop_reason
from evokd_agent.run.store import RunStore

__all__ = [
    "AlignedSentence",
    "DataConfig",
    "EntitySpan",
    "GenerationSettings",
    "Hygiene",
    "LeakGuard",
    "NearDuplicateIndex",
    "Point",
    "Rejection",
    "RejectionCounter",
    "ReportPaths",
    "RoundMetrics",
    "RunConfig",
    "RunData",
    "RunState",
    "RunStore",
    "SampleRecord",
    "SamplesPerRound",
    "StopRule",
    "StudentSettings",
    "align_entities",
    "check_label",
    "check_text",
    "draw_seeds",
    "load_run_config",
    "load_run_data",
    "normalize_label",
    "plateau_reason",
    "stop_reason",
    "write_report",
]
