"""A workload process: run a tenant's batch job. ``python -m tessera.provider.batch_runner DIR FILE.py:FUNC``.

The function is called as ``FUNC(inputs_dir, outputs_dir)``; files it writes to outputs_dir are
what the tenant downloads.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    workdir, entry = Path(argv[0]), argv[1]
    file_name, func_name = entry.split(":")
    spec = importlib.util.spec_from_file_location("tessera_job", workdir / "files" / file_name)
    if spec is None or spec.loader is None:
        sys.stderr.write(f"cannot load {file_name}\n")
        return 2
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = workdir / "outputs"
    out.mkdir(exist_ok=True)
    getattr(module, func_name)(str(workdir / "inputs"), str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
