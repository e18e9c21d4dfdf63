"""Print the pip requirements listed in environment.yml, one per line.

environment.yml is the single source of truth for the environment: conda users create it
directly, and `make venv` feeds this list to pip so that both get the same packages.
"""

import sys

import yaml


def pip_requirements(path: str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        env = yaml.safe_load(fh)
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict) and "pip" in dep:
            return [str(r) for r in dep["pip"]]
    raise SystemExit(f"{path}: no 'pip:' section under 'dependencies'")


if __name__ == "__main__":
    print("\n".join(pip_requirements(sys.argv[1] if len(sys.argv) > 1 else "environment.yml")))
