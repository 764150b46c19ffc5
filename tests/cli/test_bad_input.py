"""Every bad input a new user met (and its neighbours), through the real `tessera` entry point in a
subprocess: exit code 1, one line naming the field and the fix, no traceback, and nothing lost (no
transaction sent, no file in the data dir changed)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.demo.models import write_classifier

GOOD_SPEC = {"name": "clf", "resources": {"cpu": 1, "memory": "1Gi", "storage": "1Gi"}, "max_price_per_hour": "1.00",
             "deposit": 2, "bid_window": 60, "workload": {"kind": "onnx", "model": "model.onnx"}}
GOOD_PROVIDER = {"endpoint": "http://127.0.0.1:8701", "region": "eu", "capacity": {"cpu": 4, "memory": "8Gi"},
                 "prices": {"cpu": 0.4}, "bond": 10}


def _spec(**patch: object) -> dict[str, object]:
    return {**GOOD_SPEC, **patch}


def _provider(**patch: object) -> dict[str, object]:
    return {**GOOD_PROVIDER, **patch}


# (case id, argv after the global options, files to write {name: yaml/json object or text}, words the line names)
CASES: list[tuple[str, list[str], dict[str, object], list[str]]] = [
    ("spec-price-text", ["market", "deploy", "{d}/spec.yaml"], {"spec.yaml": _spec(max_price_per_hour="cheap")},
     ["max_price_per_hour", "not a number"]),
    ("spec-price-negative", ["market", "deploy", "{d}/spec.yaml"], {"spec.yaml": _spec(max_price_per_hour=-1)},
     ["max_price_per_hour", "more than 0"]),
    ("spec-bid-window-negative", ["market", "deploy", "{d}/spec.yaml"], {"spec.yaml": _spec(bid_window=-5)},
     ["bid_window", "at least 1"]),
    ("spec-bid-window-too-long", ["market", "deploy", "{d}/spec.yaml"], {"spec.yaml": _spec(bid_window=10**9)},
     ["bid_window", "at most"]),
    ("spec-typo-key", ["market", "deploy", "{d}/spec.yaml"], {"spec.yaml": {**_spec(), "bid_widow": 60}},
     ["bid_widow", "unknown key", "bid_window"]),
    ("spec-cpu-negative", ["market", "deploy", "{d}/spec.yaml"],
     {"spec.yaml": _spec(resources={"cpu": -8, "memory": "1Gi"})}, ["resources.cpu", "at least 0"]),
    ("spec-deposit-huge", ["market", "deploy", "{d}/spec.yaml"], {"spec.yaml": _spec(deposit="1e40")},
     ["deposit", "at most"]),
    ("spec-model-not-onnx", ["market", "deploy", "{d}/bad-model.yaml"],
     {"bad-model.yaml": _spec(workload={"kind": "onnx", "model": "notes.txt"}), "notes.txt": "hello"},
     ["notes.txt", "not an ONNX model"]),
    ("spec-not-yaml", ["market", "deploy", "{d}/broken.yaml"], {"broken.yaml": "resources: [unclosed"},
     ["not valid YAML"]),
    ("spec-missing-file", ["market", "deploy", "{d}/absent.yaml"], {}, ["not found"]),
    ("provider-port-text", ["provider", "run", "--config", "{d}/p.yaml"], {"p.yaml": _provider(listen={"port": "eighty"})},
     ["listen.port", "whole number"]),
    ("provider-port-range", ["provider", "run", "--config", "{d}/p.yaml"], {"p.yaml": _provider(listen={"port": 99999})},
     ["listen.port", "at most 65535"]),
    ("provider-cpu-negative", ["provider", "run", "--config", "{d}/p.yaml"],
     {"p.yaml": _provider(capacity={"cpu": -8})}, ["capacity.cpu", "at least 0"]),
    ("provider-bond-huge", ["provider", "run", "--config", "{d}/p.yaml"], {"p.yaml": _provider(bond="1e40")},
     ["bond", "at most 21000000"]),
    ("provider-typo-key", ["provider", "run", "--config", "{d}/p.yaml"], {"p.yaml": {**_provider(), "bondd": 3}},
     ["bondd", "unknown key"]),
    ("provider-endpoint", ["provider", "run", "--config", "{d}/p.yaml"], {"p.yaml": _provider(endpoint="my laptop")},
     ["endpoint"]),
    ("status-id-above-uint64", ["market", "status", "99999999999999999999999999999"], {}, ["ORDER_ID", "range"]),
    ("status-id-zero", ["market", "status", "0"], {}, ["ORDER_ID", "range"]),
    ("status-id-text", ["market", "status", "one"], {}, ["ORDER_ID", "not a valid integer"]),
    ("topup-amount-text", ["market", "topup", "1", "lots"], {}, ["AMOUNT", "not an amount"]),
    ("topup-amount-negative", ["market", "topup", "1", "--", "-5"], {}, ["AMOUNT", "non-negative"]),
    ("request-ttl-negative", ["coprocessor", "request", "m.onnx", "--input", "i.json", "--ttl", "-5"], {},
     ["--ttl", "range"]),
    ("request-gas-price-negative", ["coprocessor", "request", "m.onnx", "--input", "i.json",
                                    "--max-gas-price-gwei", "-3"], {}, ["--max-gas-price-gwei", "non-negative"]),
    ("request-period-negative", ["coprocessor", "request", "m.onnx", "--input", "i.json", "--period", "-1"], {},
     ["--period", "range"]),
    ("request-redundancy", ["coprocessor", "request", "m.onnx", "--input", "i.json", "--redundancy", "9"], {},
     ["--redundancy", "range"]),
    ("register-stake-negative", ["subnet", "register", "1", "--stake", "-5"], {}, ["--stake", "non-negative"]),
    ("register-stake-text", ["subnet", "register", "1", "--stake", "five"], {}, ["--stake", "not an amount"]),
    ("create-reveal-window", ["subnet", "create", "--tempo", "20", "--reveal-window", "100"], {},
     ["--reveal-window", "between"]),
    ("demo-unknown-stage", ["demo", "--stage", "nope"], {}, ["--stage", "nope"]),
    ("fund-bad-address", ["devnet", "fund", "0x1234"], {}, ["0x1234", "not an address"]),
    ("fund-negative", ["devnet", "fund", "0x000000000000000000000000000000000000dEaD", "--eth", "-1"], {},
     ["--eth", "non-negative"]),
    ("devnet-port", ["devnet", "up", "--port", "99999"], {}, ["--port", "range"]),
    ("unknown-command", ["nope"], {}, ["No such command", "nope"]),
]


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".lock"}  # a lock holds a pid


def _tessera(home: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESSERA_HOME": str(home), "TESSERA_ZK_CACHE": str(home / "zk")}
    env.pop("TESSERA_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "tessera", "--data-dir", str(home), *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def deployed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("bad-input") / "home"
    out = _tessera(home, ["deploy", "--json"], home.parent)
    assert out.returncode == 0, out.stderr
    write_classifier(home.parent / "model.onnx")
    return home


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_loses_nothing(case: tuple[str, list[str], dict[str, object], list[str]],
                                                 deployed_home: Path) -> None:
    import yaml

    _id, argv, files, words = case
    d = deployed_home.parent / _id
    d.mkdir(exist_ok=True)
    (d / "model.onnx").write_bytes((deployed_home.parent / "model.onnx").read_bytes())
    for name, content in files.items():
        (d / name).write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    before = _tree(deployed_home)
    out = _tessera(deployed_home, [a.format(d=d) for a in argv], d)
    assert out.returncode == 1, (out.stdout, out.stderr)
    lines = [line for line in (out.stderr + out.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "Traceback" not in lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert _tree(deployed_home) == before  # no transaction, no state file touched


def test_bad_input_under_json_is_one_json_object(deployed_home: Path) -> None:
    import yaml

    d = deployed_home.parent / "json-case"
    d.mkdir(exist_ok=True)
    (d / "spec.yaml").write_text(yaml.safe_dump(_spec(max_price_per_hour="cheap")))
    (d / "model.onnx").write_bytes((deployed_home.parent / "model.onnx").read_bytes())
    for argv in (["market", "deploy", str(d / "spec.yaml"), "--json"], ["market", "status", "0", "--json"]):
        out = _tessera(deployed_home, argv, d)
        assert out.returncode == 1
        body = json.loads(out.stdout)
        assert body["ok"] is False and body["error"] and "Traceback" not in out.stderr
