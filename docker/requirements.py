"""Print the requirements of msm's base dependencies plus the named extras, one per line.

    python docker/requirements.py synth kfp matplotlib

Arguments that are extras of pyproject.toml expand to their requirements; any other argument is a
package name passed through. Versions come from constraints.txt at install time (`pip -c`), so
pyproject.toml stays the one list of what each image needs and constraints.txt the one lock.
The Dockerfiles install from this list; `make wheelhouse` downloads the union for offline builds.
"""

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements(names: list[str], pyproject: Path = PYPROJECT) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    out = list(project["dependencies"])
    for name in names:
        out.extend(extras.get(name, [name]))
    return list(dict.fromkeys(out))


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
