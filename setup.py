"""Package list: every package under evokd_agent/ by discovery, plus the two that live at the
top of the checkout (so users find them) and install inside the package (pyproject.toml's
package-dir maps them), so a wheel carries them too. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["evokd_agent", "evokd_agent.*"]),
        "evokd_agent.builtin_tools",
        "evokd_agent.prompts",
    ]
)
