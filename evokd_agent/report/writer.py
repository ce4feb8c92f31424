"""`evokd report`: a PNG of F1 against teacher tokens, and Markdown + HTML summaries of a run.

The report is built from the run directory alone, read-only, so it works on a copied run
directory and while the run is still going. The content is laid out once as blocks (headings,
paragraphs, tables, the image) and rendered twice, so Markdown and HTML never disagree.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evokd_agent.distill.rejections import REASONS
from evokd_agent.report.model_card import CARD_NAME, model_card
from evokd_agent.report.plot import plot_f1_vs_tokens
from evokd_agent.report.summary import RunSummary, summarize
from evokd_agent.rundir.durable import write_text_atomic
from evokd_agent.rundir.store import ESTIMATE_FILE, LEDGER_FILE, SAMPLES_FILE, RunStore

PLOT_FILE = "f1_vs_tokens.png"
MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"


@dataclass(frozen=True)
class ReportPaths:
    """Files `write_report` wrote."""

    plot: Path
    markdown: Path
    html: Path


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Image:
    alt: str
    file: str


Block = Heading | Paragraph | Bullets | Table | Image


def write_report(
    run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> ReportPaths:
    """Write f1_vs_tokens.png, report.md and report.html into `out_dir` (default: the run dir)."""
    store = RunStore.open(run_dir, resume=False)
    out = Path(out_dir) if out_dir is not None else store.path
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(
        store.config_record,
        store.read_metrics(),
        store.read_samples(),
        store.read_state(),
        ledger=store.read_json(LEDGER_FILE),
        created=store.read_marker().get("created"),
        estimate=store.read_json(ESTIMATE_FILE),
    )
    title = f"{summary.name}: student F1 against teacher tokens"
    plot = plot_f1_vs_tokens(summary.rounds, out / PLOT_FILE, title=title, budget=summary.budget)
    blocks = report_blocks(summary)
    markdown = out / MARKDOWN_FILE
    write_text_atomic(markdown, render_markdown(blocks))
    page = out / HTML_FILE
    write_text_atomic(page, render_html(blocks, f"evokd report: {summary.name}", {PLOT_FILE: plot}))
    _write_card(store, summary)
    return ReportPaths(plot=plot, markdown=markdown, html=page)


def _write_card(store: RunStore, summary: RunSummary) -> None:
    """The student's model card, `final/README.md`, once the run has a final student."""
    final_dir = store.path / "final"
    final = store.read_json("final.json")
    if not final_dir.is_dir() or not isinstance(final, dict):
        return
    rows = []
    samples = store.path / SAMPLES_FILE
    if samples.exists():
        for line in samples.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
    card = model_card(
        summary.config,
        final,
        rows,
        tokens_spent=summary.tokens_spent,
        n_train=summary.final.n_train if summary.final is not None else None,
        stop_reason=summary.state.stop_reason or str(final.get("reason", "")),
        cost_usd=summary.cost_usd,
    )
    write_text_atomic(final_dir / CARD_NAME, card)


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _test(value: float | None, label: str) -> str:
    return "" if value is None else f"; {label}: {_f(value)}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _cached_note(s: RunSummary) -> str:
    cached = s.cached_prompt_tokens
    if not cached:
        return ""
    return f" ({_n(cached)} prompt tokens from the provider's prefix cache, counted in full)"


def _overrun_note(s: RunSummary) -> str:
    note = ""
    if s.overruns:
        note += (
            f"; {s.overruns} replies used more than their reservation "
            f"(+{_n(s.overrun_tokens)} tokens)"
        )
    if s.sending_stopped:
        note += f"; sending stopped early: {s.sending_stopped}"
    return note


def report_blocks(s: RunSummary) -> list[Block]:
    """The report's content, independent of the output format."""
    c = s.config
    teacher, student = _mapping(c.get("teacher")), _mapping(c.get("student"))
    blocks: list[Block] = [
        Heading(1, f"evokd run report: {s.name}"),
        Table(
            ["setting", "value"],
            [
                ["task", f"{c.get('task', '?')}: {c.get('task_description', '')}"],
                ["labels", ", ".join(str(x) for x in c.get("labels", []))],
                ["method / policy", f"{c.get('method', '?')} / {c.get('policy', '?')}"],
                ["teacher", f"{teacher.get('model', '?')} at {teacher.get('base_url', '?')}"],
                ["student", str(student.get("model", "?"))],
                ["budget", f"{_n(s.budget)} tokens, at most {c.get('max_rounds', '?')} rounds"],
                ["created", s.created or "–"],
            ],
        ),
        Heading(2, "Results"),
    ]
    if s.best is None or s.final is None:
        blocks.append(Paragraph("No rounds completed yet: there are no metrics to report."))
    else:
        stop = s.state.stop_reason or ("finished" if s.state.finished else "still running")
        budget = f" of {_n(s.budget)}" if s.budget else ""
        blocks.append(
            Bullets(
                [
                    f"Rounds evaluated: {len(s.rounds)} (last round {s.final.round}; {stop})",
                    f"Best dev F1: {_f(s.best.dev_f1)} at round {s.best.round} "
                    f"({_n(s.best.tokens_spent)} tokens){_test(s.best.test_f1, 'test F1 there')}",
                    f"Final dev F1: {_f(s.final.dev_f1)}{_test(s.final.test_f1, 'final test F1')}",
                    f"Teacher tokens spent: {_n(s.tokens_spent)}{budget}{_cached_note(s)}"
                    + _overrun_note(s),
                    "Teacher cost: "
                    + (
                        f"${s.cost_usd:.4f}"
                        if s.cost_usd is not None
                        else "not priced (no price for this teacher model; set teacher.prices)"
                    ),
                ]
            )
        )
    blocks.append(Image("F1 against teacher tokens", PLOT_FILE))
    if s.rounds:
        blocks += [
            Heading(2, "Rounds"),
            Table(
                ["round", "tokens", "train samples", "dev F1", "test F1", "wall s"],
                [
                    [
                        str(m.round),
                        _n(m.tokens_spent),
                        _n(m.n_train),
                        _f(m.dev_f1),
                        _f(m.test_f1),
                        f"{m.wall_seconds:.1f}",
                    ]
                    for m in s.rounds
                ],
            ),
        ]
    if s.tokens_by_phase:
        total = sum(s.tokens_by_phase.values()) or 1
        blocks += [
            Heading(2, "Tokens by phase"),
            Table(
                ["phase", "tokens", "share", "cached prompt tokens"],
                [
                    [p, _n(t), f"{100 * t / total:.1f}%", _n(s.cached_by_phase.get(p, 0))]
                    for p, t in s.tokens_by_phase.items()
                ],
            ),
            Paragraph(
                "Cached prompt tokens: the prompt tokens the provider served from its prefix "
                "cache (usage.prompt_tokens_details.cached_tokens); they are part of the tokens "
                "and count in the budget in full."
            ),
        ]
    blocks += _estimate_blocks(s)
    blocks += _sample_blocks(s)
    blocks += _class_blocks(s)
    return blocks


def _estimate_blocks(s: RunSummary) -> list[Block]:
    """The estimate made before the run (`evokd run --dry-run`) beside what it spent."""
    if s.estimate is None:
        return []
    priced = s.estimate.priced

    def money(value: float) -> str:
        return f"${value:.4f}" if priced else "–"

    rows = [
        [
            c.phase,
            _n(c.estimated.requests),
            _n(c.spent_requests),
            _n(c.estimated.tokens),
            _n(c.spent_tokens),
            f"{c.ratio:.2f}" if c.ratio is not None else "–",
            money(c.estimated.cost_usd),
            money(c.spent_usd),
        ]
        for c in s.against_estimate
    ]
    return [
        Heading(2, "Cost: estimated before the run, and spent"),
        Table(
            [
                "phase",
                "requests est.",
                "requests sent",
                "tokens est.",
                "tokens spent",
                "spent / est.",
                "cost est.",
                "cost spent",
            ],
            rows,
        ),
        Paragraph(
            f"The estimate rehearsed the plan for {s.estimate.rounds} round(s), then "
            f"{s.estimate.stop}. It assumed: " + "; ".join(s.estimate.notes) + "."
        ),
    ]


def _sample_blocks(s: RunSummary) -> list[Block]:
    if not s.samples:
        return [Heading(2, "Samples"), Paragraph("No samples recorded.")]
    blocks: list[Block] = [
        Heading(2, "Samples"),
        Table(
            ["phase", "accepted", "rejected"],
            [[p.phase, _n(p.accepted), _n(p.rejected)] for p in s.samples]
            + [
                [
                    "all",
                    _n(sum(p.accepted for p in s.samples)),
                    _n(sum(p.rejected for p in s.samples)),
                ]
            ],
        ),
    ]
    if s.rejections:
        blocks += [
            Heading(3, "Rejections by reason"),
            Table(
                ["reason", "count", "meaning"],
                [[r, _n(n), REASONS.get(r, "")] for r, n in s.rejections.items()],
            ),
        ]
    return blocks


def _class_blocks(s: RunSummary) -> list[Block]:
    if s.best is None or not s.per_class:
        return []
    ner = any(c.precision is not None for c in s.per_class)
    headers = (
        ["type", "precision", "recall", "F1", "support"] if ner else ["label", "F1", "support"]
    )
    rows = [
        [c.name, _f(c.precision), _f(c.recall), _f(c.f1), _n(c.support)]
        if ner
        else [c.name, _f(c.f1), _n(c.support)]
        for c in sorted(s.per_class, key=lambda c: c.f1)
    ]
    blocks: list[Block] = [
        Heading(2, f"Per-class dev scores at the best round ({s.best.round})"),
        Table(headers, rows),
    ]
    if s.errors:
        blocks += [
            Heading(3, "Most frequent dev errors"),
            Table(["gold", "predicted as", "count"], [[g, p, _n(n)] for g, p, n in s.errors]),
        ]
    return blocks


def render_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown."""
    parts: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Paragraph):
            parts.append(b.text)
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            lines = [_md_row(b.headers), _md_row(["---"] * len(b.headers))]
            lines += [_md_row(row) for row in b.rows]
            parts.append("\n".join(lines))
        else:
            parts.append(f"![{b.alt}]({b.file})")
    return "\n\n".join(parts) + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;
padding:.25rem .6rem;text-align:left}th{background:#f3f3f3}img{max-width:100%}"""


def render_html(blocks: Sequence[Block], title: str, images: Mapping[str, Path]) -> str:
    """The blocks as one self-contained HTML page (images embedded as data URIs)."""
    e = html.escape
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            body.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
            rows = "".join(
                "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            body.append(f'<p><img alt="{e(b.alt)}" src="{_image_src(b.file, images)}"></p>')
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _image_src(name: str, images: Mapping[str, Path]) -> str:
    path = images.get(name)
    if path is None or not path.is_file():
        return html.escape(name)
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
