"""Import a user's Python module (`extra_tools`, `extra_methods`) by name or from a file, with
one-line errors: the shared loader of the tool and the method registries."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from evokd_agent.errors import EvokdError


def import_user_module(name: str, kind: str) -> ModuleType:
    """`importlib.import_module(name)`; an `EvokdError` naming the `kind` ("tool") otherwise."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise EvokdError(
            f"cannot import {kind} module `{name}`: {exc}",
            "check the module name and that its package is installed or on PYTHONPATH",
        ) from exc


def import_user_file(file: Path, kind: str, *, reuse: bool = False, fix: str = "") -> ModuleType:
    """Execute the .py `file` as a module named after its path. `reuse`: a file imported before
    in this process is not executed again. `fix`: the fix told when the file fails to import."""
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:10]
    name = f"evokd_user_{kind}s_{file.stem}_{digest}"
    if reuse and name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise EvokdError(f"cannot load {kind} file {file}", "give a path to a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise EvokdError(
            f"{kind} file {file} failed to import: {type(exc).__name__}: {exc}",
            fix or "fix the error in that file",
        ) from exc
    return module
