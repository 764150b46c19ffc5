"""A workload process: serve one ONNX model over HTTP with onnxruntime.

Run by the provider node inside its sandbox: ``python -m tessera.provider.onnx_server MODEL PORT``.
POST /infer with ``{"inputs": {"name": [[...]]}}`` returns ``{"outputs": {"name": [...]}}``;
GET /health returns the model's inputs and outputs. Standard library HTTP only, to keep the
sandboxed process small.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import onnxruntime as ort

_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
          "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def load(model_path: str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])


def make_handler(session: ort.InferenceSession) -> type[BaseHTTPRequestHandler]:
    inputs = {i.name: i for i in session.get_inputs()}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

        def _send(self, code: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            if self.path != "/health":
                self._send(404, {"error": "unknown path: use GET /health or POST /infer"})
                return
            self._send(200, {"ok": True,
                             "inputs": {n: {"type": i.type, "shape": i.shape} for n, i in inputs.items()},
                             "outputs": [o.name for o in session.get_outputs()]})

        def do_POST(self) -> None:
            if self.path != "/infer":
                self._send(404, {"error": "unknown path: use POST /infer"})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if not isinstance(body, dict) or not isinstance(body.get("inputs"), dict):
                    raise ValueError('send {"inputs": {"<input name>": [[...numbers...]]}}')
                feeds: dict[str, np.ndarray] = {}
                for name, meta in inputs.items():
                    if name not in body.get("inputs", {}):
                        raise ValueError(f"missing input {name!r}; the model takes {sorted(inputs)}")
                    feeds[name] = np.asarray(body["inputs"][name], dtype=_TYPES.get(meta.type, np.float32))
                names = [o.name for o in session.get_outputs()]
                outs = session.run(names, feeds)
            except (ValueError, KeyError, TypeError, ort.capi.onnxruntime_pybind11_state.Fail,
                    ort.capi.onnxruntime_pybind11_state.InvalidArgument) as e:
                self._send(400, {"error": str(e)})
                return
            self._send(200, {"outputs": {n: o.tolist() for n, o in zip(names, outs)}})

    return Handler


def main(argv: list[str]) -> int:
    model, port = argv[0], int(argv[1])
    try:
        session = load(model)
    except Exception as e:  # noqa: BLE001 - any load failure ends the workload with its reason
        sys.stderr.write(f"cannot load the ONNX model: {e}\n")
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(session))
    sys.stderr.write(f"serving {model} on 127.0.0.1:{port}\n")
    sys.stderr.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
