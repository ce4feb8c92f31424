"""`python -m evokd_agent.cli`: the same as `evokd`."""

from evokd_agent.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
