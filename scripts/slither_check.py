"""Run Slither over contracts/ with the project's pinned solcjs build, and fail on untriaged High/Medium results.

Native solc cannot be downloaded on these machines, so Slither is fed a Hardhat-style build-info made from the
same compiler, settings and sources as the committed artifacts (plus ASTs), and run with
`--hardhat-ignore-compile`. Every High or Medium result must be listed in contracts/slither-triage.json with a
one-line reason; anything else fails. The generated verifier under contracts/zk is excluded.

    python scripts/slither_check.py [--slither PATH] [--json OUT] [--list]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tessera.chain.compiler import SETTINGS, SOLC_SCRIPT, _sources  # noqa: E402

TRIAGE = ROOT / "contracts" / "slither-triage.json"
FAILING = ("High", "Medium")
EXCLUDED = "contracts/zk/"


def build_info(out_dir: Path) -> None:
    """Compile with solcjs (sources under contracts/, as Hardhat lays them out) and write the build-info."""
    sources = {f"contracts/{name}": {"content": text} for name, text in _sources(ROOT / "contracts").items()}
    settings = {k: v for k, v in SETTINGS.items() if k != "outputSelection"}
    settings["outputSelection"] = {"*": {"*": ["abi", "evm.bytecode", "evm.deployedBytecode", "evm.methodIdentifiers",
                                               "metadata"], "": ["ast"]}}
    standard_input = {"language": "Solidity", "sources": sources, "settings": settings}
    proc = subprocess.run(["node", str(SOLC_SCRIPT)], input=json.dumps(standard_input), capture_output=True,
                          text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        sys.exit(f"error: solc failed to run: {proc.stderr.strip()[:2000]} (run `make setup`)")
    result = json.loads(proc.stdout)
    errors = [e for e in result["output"].get("errors", []) if e.get("severity") == "error"]
    if errors:
        sys.exit("error: contracts do not compile:\n" + "\n".join(e["formattedMessage"] for e in errors))
    long_version = result["version"].removesuffix(".Emscripten.clang")
    for name, src in sources.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(src["content"])
    (out_dir / "hardhat.config.js").write_text('module.exports = { solidity: "%s" };\n' % long_version.split("+")[0])
    info_dir = out_dir / "artifacts" / "build-info"
    info_dir.mkdir(parents=True)
    (info_dir / "tessera.json").write_text(json.dumps({
        "_format": "hh-sol-build-info-1", "id": "tessera", "solcVersion": long_version.split("+")[0],
        "solcLongVersion": long_version, "input": standard_input, "output": result["output"],
    }))


def key_of(result: dict[str, Any]) -> tuple[str, str, str]:
    """(detector, contract, function) of a result: what a triage entry names."""
    contract = function = ""
    for element in result.get("elements", []):
        if element.get("type") == "function":
            function = element.get("name", "")
            parent = element.get("type_specific_fields", {}).get("parent", {})
            contract = parent.get("name", contract)
            break
        if element.get("type") == "contract" and not contract:
            contract = element.get("name", "")
        parent = element.get("type_specific_fields", {}).get("parent", {})
        if parent.get("type") == "function" and not function:
            function = parent.get("name", "")
            contract = parent.get("type_specific_fields", {}).get("parent", {}).get("name", contract)
    return result["check"], contract, function


def in_scope(result: dict[str, Any]) -> bool:
    paths = [e.get("source_mapping", {}).get("filename_relative", "") for e in result.get("elements", [])]
    return not paths or not all(p.startswith(EXCLUDED) for p in paths if p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slither", default=shutil.which("slither") or "slither")
    ap.add_argument("--json", type=Path, help="also write Slither's JSON report here")
    ap.add_argument("--list", action="store_true", help="print every High/Medium result, triaged or not")
    args = ap.parse_args()
    triage = json.loads(TRIAGE.read_text()) if TRIAGE.exists() else []
    triaged = {(t["detector"], t["contract"], t["function"]): t["reason"] for t in triage}
    with tempfile.TemporaryDirectory(prefix="tessera-slither-") as tmp:
        work = Path(tmp)
        build_info(work)
        report = work / "slither.json"
        slither = str(Path(args.slither).resolve()) if "/" in args.slither else args.slither
        try:
            proc = subprocess.run([slither, ".", "--hardhat-ignore-compile", "--exclude-dependencies",
                                   "--filter-paths", "contracts/zk/", "--json", str(report)],
                                  cwd=work, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            sys.exit(f"error: slither not found at {args.slither}: run `make lint-contracts` (it installs it)")
        if not report.exists():
            sys.exit(f"error: slither did not run: {proc.stderr.strip()[-2000:]}")
        data = json.loads(report.read_text())
        if args.json:
            args.json.write_text(json.dumps(data, indent=1))
    if not data.get("success", False):
        sys.exit(f"error: slither failed: {data.get('error')}")
    results = [r for r in data.get("results", {}).get("detectors", []) if in_scope(r)]
    serious = [r for r in results if r.get("impact") in FAILING]
    untriaged = [r for r in serious if key_of(r) not in triaged]
    counts: dict[str, int] = {}
    for r in results:
        counts[r["impact"]] = counts.get(r["impact"], 0) + 1
    print("slither: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" results; {len(serious)} High/"
          f"Medium, {len(serious) - len(untriaged)} of them triaged in {TRIAGE.relative_to(ROOT)}")
    for r in serious if args.list else untriaged:
        detector, contract, function = key_of(r)
        mark = "triaged" if key_of(r) in triaged else "UNTRIAGED"
        first = r["description"].strip().splitlines()[0]
        print(f"  [{mark}] {r['impact']} {detector} {contract}.{function}: {first}")
    stale = set(triaged) - {key_of(r) for r in serious}
    for detector, contract, function in sorted(stale):
        print(f"  note: triage entry {detector} {contract}.{function} matches no result any more: remove it")
    if untriaged:
        print(f"error: {len(untriaged)} High/Medium Slither result(s) are not triaged: fix them, or add an entry "
              f"(detector, contract, function, reason) to {TRIAGE.relative_to(ROOT)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
