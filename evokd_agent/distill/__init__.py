"""The distillation steps the tools call: generate, label, score, select (LLKD), with
output hygiene and dedup."""
