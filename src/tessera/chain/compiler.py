"""Compile `contracts/` with the pinned npm solc and write the committed artifacts.

Only needed by developers changing contracts (`make contracts`); running Tessera uses the
committed artifacts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import CompilerError
from .artifacts import ARTIFACT_DIR, SOURCE_DIR, hash_sources

REPO_ROOT = SOURCE_DIR.parent
SOLC_SCRIPT = REPO_ROOT / "scripts" / "solc.cjs"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]}},
}


def _sources(source_dir: Path) -> dict[str, str]:
    files = sorted(source_dir.rglob("*.sol"))
    if not files:
        raise CompilerError(f"no Solidity files under {source_dir}: add contracts/<Name>.sol")
    return {p.relative_to(source_dir).as_posix(): p.read_text() for p in files}


def _where(error: dict[str, Any], sources: dict[str, str]) -> str:
    """One line for a solc error: `contracts/X.sol:12: TypeError: message`."""
    loc = error.get("sourceLocation") or {}
    name = loc.get("file", "")
    line = sources.get(name, "")[: max(int(loc.get("start", 0)), 0)].count("\n") + 1 if name in sources else 0
    place = f"contracts/{name}:{line}: " if name else ""
    return f"{place}{error.get('type', 'Error')}: {error.get('message', '').strip()}"


def compile_contracts(source_dir: Path = SOURCE_DIR) -> tuple[str, dict[str, dict[str, Any]]]:
    """Returns (compiler version, {contract name: artifact dict}) for every deployable contract."""
    node = shutil.which("node")
    if node is None:
        raise CompilerError("node is not installed: install Node.js, then run `make contracts`")
    if not (REPO_ROOT / "node_modules" / "solc").is_dir():
        raise CompilerError("the pinned solc is not installed: run `npm ci` (or `make contracts`)")
    sources = _sources(source_dir)
    standard_input = {"language": "Solidity", "sources": {k: {"content": v} for k, v in sources.items()},
                      "settings": SETTINGS}
    proc = subprocess.run([node, str(SOLC_SCRIPT)], input=json.dumps(standard_input), capture_output=True,
                          text=True, cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise CompilerError(f"solc failed to run: {proc.stderr.strip()[:2000]}")
    result = json.loads(proc.stdout)
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more error(s) below)" if len(errors) > 1 else ""
        raise CompilerError(f"contracts do not compile: {_where(errors[0], sources)}{more}; fix the source, then "
                            "run `make contracts`\n" + "\n".join(e["formattedMessage"] for e in errors))
    version = result["version"]
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name, contracts in output["contracts"].items():
        if source_name.startswith("lib/"):
            continue
        for name, data in contracts.items():
            bytecode = data["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # abstract contracts and interfaces
            used = sorted(json.loads(data["metadata"])["sources"])
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "compiler": f"solc {version}",
                "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
                "sources": used,
                "sourceHash": hash_sources(source_dir, used),
                "abi": data["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
            }
    return version, artifacts


def write_artifacts(artifacts: dict[str, dict[str, Any]], out_dir: Path = ARTIFACT_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stale in out_dir.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    for name, artifact in sorted(artifacts.items()):
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written
