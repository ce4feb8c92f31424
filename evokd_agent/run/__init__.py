"""One distillation run: start the teacher, build the tools, drive the agent, resume."""
