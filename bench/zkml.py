"""zkML benchmark: a linear regression, an MLP (784-64-10) and a small CNN (28x28), each at batch sizes
1, 4, 16 and 64.

For every case that the estimate says fits this machine, a child process runs Tessera's pipeline
(compile with a cold cache, prove, verify locally, register and verify on the embedded chain) and another
child runs the same steps as direct ezkl calls, in the same run: the ratio is the pipeline's overhead. Peak
memory is each child's max RSS. Cases the estimate refuses are recorded with its prediction.

    python bench/zkml.py [--quick] [--models linreg,mlp,cnn] [--batches 1,4,16,64] [--no-direct]

Writes bench/results/zkml.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "zkml.json"


def export_models(directory: Path) -> dict[str, Path]:
    import torch

    def export(net: torch.nn.Module, shape: tuple[int, ...], name: str) -> Path:
        path = directory / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.zeros(*shape),), str(path), input_names=["x"], output_names=["y"],
                              dynamo=False)
        return path

    torch.manual_seed(0)
    return {
        "linreg": export(torch.nn.Linear(16, 1), (1, 16), "linreg"),
        "mlp": export(torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)),
                      (1, 784), "mlp"),
        "cnn": export(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5, stride=2), torch.nn.ReLU(), torch.nn.Flatten(),
                                          torch.nn.Linear(4 * 12 * 12, 10)), (1, 1, 28, 28), "cnn"),
    }


def _input(model_path: Path, batch: int) -> dict[str, Any]:
    import numpy as np

    from tessera.zkml import batch_model, input_specs, load_model

    specs = input_specs(batch_model(load_model(model_path), batch))
    rng = np.random.default_rng(7)
    return {"input_data": [rng.uniform(-1, 1, s.size).round(4).tolist() for s in specs]}


def child_pipeline(model_path: Path, batch: int, work: Path, srs_dir: Path) -> dict[str, Any]:
    from tessera.accounts.dev import dev_account
    from tessera.chain import EmbeddedChain
    from tessera.protocol.deploy import Deployment, deploy_protocol
    from tessera.zkml import InferenceClient, ZkOptions, compile_model, prove, verify

    cache = work / "cache"
    (cache / "srs").mkdir(parents=True)
    for f in srs_dir.glob("dev-k*"):
        (cache / "srs" / f.name).symlink_to(f)
    data = _input(model_path, batch)
    t0 = time.perf_counter()
    compiled, _ = compile_model(model_path, ZkOptions(batch=batch), cache_dir=cache)
    t1 = time.perf_counter()
    proof = prove(compiled, data)
    t2 = time.perf_counter()
    assert verify(proof, compiled)
    t3 = time.perf_counter()
    chain = EmbeddedChain()
    owner = dev_account(0)
    manifest, _ = deploy_protocol(chain, owner, path=None)
    client = InferenceClient.of(chain, Deployment.from_manifest(chain, manifest))
    register = client.register(owner, compiled)
    record = client.verify(dev_account(1), proof)
    return {"logrows": compiled.logrows, "compile_and_setup_s": t1 - t0, "setup_s": compiled.timings["setup_s"],
            "prove_s": t2 - t1, "verify_s": t3 - t2, "total_s": t3 - t0, "proof_bytes": len(proof.proof_bytes),
            "proof_json_bytes": len(json.dumps(proof.to_json())), "gas_verify": record.gas_used,
            "gas_per_inference": record.gas_per_inference, "gas_register": register.gas_used if register else None,
            "vka_words": len(compiled.vka_words())}


def child_direct(model_path: Path, batch: int, work: Path, srs_dir: Path) -> dict[str, Any]:
    """The same steps as plain ezkl calls, as a user of ezkl alone would write them."""
    import ezkl

    from tessera.zkml import batch_model, load_model

    model = work / "model.onnx"
    model.write_bytes(batch_model(load_model(model_path), batch).SerializeToString())
    (work / "input.json").write_text(json.dumps(_input(model_path, batch)))
    from tessera.zkml.options import calibration_data
    from tessera.zkml import input_specs

    (work / "cal.json").write_text(json.dumps(calibration_data(input_specs(load_model(model)), b"x")))
    s, m, c = str(work / "settings.json"), str(model), str(work / "model.ezkl")
    t0 = time.perf_counter()
    args = ezkl.PyRunArgs()
    args.input_visibility, args.output_visibility, args.param_visibility = "hashed", "hashed", "fixed"
    ezkl.gen_settings(m, s, py_run_args=args)
    ezkl.calibrate_settings(str(work / "cal.json"), m, s, "resources")
    ezkl.compile_circuit(m, c, s)
    k = json.loads(Path(s).read_text())["run_args"]["logrows"]
    srs = str(srs_dir / f"dev-k{k}.srs")
    ezkl.setup(c, str(work / "vk.key"), str(work / "pk.key"), srs)

    async def vka() -> None:
        await ezkl.create_evm_vka(str(work / "vk.key"), s, str(work / "vka.bytes"), srs)

    asyncio.run(vka())
    t1 = time.perf_counter()
    ezkl.gen_witness(str(work / "input.json"), c, str(work / "witness.json"))
    ezkl.prove(str(work / "witness.json"), c, str(work / "pk.key"), str(work / "proof.json"), srs)
    t2 = time.perf_counter()
    assert ezkl.verify(str(work / "proof.json"), s, str(work / "vk.key"), srs)
    t3 = time.perf_counter()
    return {"logrows": k, "compile_and_setup_s": t1 - t0, "prove_s": t2 - t1, "verify_s": t3 - t2,
            "total_s": t3 - t0}


def run_child(mode: str, model: str, model_path: Path, batch: int, srs_dir: Path) -> dict[str, Any]:
    """One case in a fresh process: its max RSS is the case's peak memory."""
    with tempfile.TemporaryDirectory(prefix=f"bench-zkml-{mode}-") as tmp:
        log = Path(tmp) / "stderr.log"
        with log.open("w") as err:
            proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(model_path), str(batch), tmp,
                                     str(srs_dir)], stdout=subprocess.PIPE, stderr=err, text=True)
            assert proc.stdout is not None
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            return {"error": f"child exited with status {status}", "stderr": log.read_text()[-800:]}
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        result["peak_rss_mib"] = usage.ru_maxrss // 1024
        return result


def ensure_srs(srs_dir: Path, logrows: int) -> None:
    from tessera.zkml.srs import dev_srs

    dev_srs(srs_dir.parent, logrows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="linreg,mlp,cnn")
    parser.add_argument("--batches", default="1,4,16,64")
    parser.add_argument("--no-direct", action="store_true", help="skip the direct-ezkl baseline")
    parser.add_argument("--direct-max-logrows", type=int, default=17,
                        help="run the direct baseline only up to this circuit size (it doubles the time)")
    parser.add_argument("--child", nargs=5, default=None)
    a = parser.parse_args()
    if a.child:
        mode, path, batch, work, srs = a.child
        fn = child_pipeline if mode == "pipeline" else child_direct
        print(json.dumps(fn(Path(path), int(batch), Path(work), Path(srs))))
        return

    from tessera.zkml import ZkOptions, estimate

    results: list[dict[str, Any]] = []
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory(prefix="bench-zkml-") as tmp:
        models = export_models(Path(tmp))
        srs_cache = Path(tmp) / "zk"
        srs_dir = srs_cache / "srs"
        for name in a.models.split(","):
            for batch in [int(b) for b in a.batches.split(",")]:
                t = time.perf_counter()
                est = estimate(models[name], ZkOptions(batch=batch))
                case: dict[str, Any] = {"model": name, "batch": batch, "estimate": est.to_json(),
                                        "estimate_s": round(time.perf_counter() - t, 2)}
                if not est.fits:
                    case["refused"] = est.reason
                    print(f"{name:6} batch {batch:3}: refused by the estimate ({est.reason})", flush=True)
                    results.append(case)
                    continue
                ensure_srs(srs_dir, est.logrows)
                case["pipeline"] = run_child("pipeline", name, models[name], batch, srs_dir)
                if not a.no_direct and est.logrows <= a.direct_max_logrows:
                    case["direct"] = run_child("direct", name, models[name], batch, srs_dir)
                    p, d = case["pipeline"], case["direct"]
                    if "total_s" in p and "total_s" in d:
                        case["overhead"] = round(p["total_s"] / d["total_s"] - 1, 4)
                results.append(case)
                p = case["pipeline"]
                print(f"{name:6} batch {batch:3}: k={p.get('logrows')} setup {p.get('setup_s', 0):.1f}s "
                      f"prove {p.get('prove_s', 0):.1f}s verify {p.get('verify_s', 0):.2f}s "
                      f"peak {p.get('peak_rss_mib')} MiB proof {p.get('proof_bytes')} B "
                      f"gas {p.get('gas_verify')} ({p.get('gas_per_inference')}/inference)"
                      + (f" overhead {case['overhead']:+.1%}" if "overhead" in case else ""), flush=True)
    done = {(c["model"], c["batch"]) for c in results}
    kept = [c for c in previous.get("cases", []) if (c["model"], c["batch"]) not in done]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": {"cpus": os.cpu_count()}, "ezkl": "23.0.5",
                                   "cases": sorted(kept + results, key=lambda c: (c["model"], c["batch"]))},
                                  indent=1) + "\n")


if __name__ == "__main__":
    main()
