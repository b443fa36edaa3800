"""A stand-in for RunPod's GraphQL API, for tests and the bench (RunPod's cloud cannot be reached).

It answers the queries and mutations the official ``runpod`` SDK 1.12 sends to
``$RUNPOD_API_BASE_URL/graphql`` (runpod/api/queries/pods.py, gpus.py, user.py and
mutations/pods.py) with the fields the SDK reads back, ``Authorization: Bearer <key>`` checked
as RunPod does (401 for a wrong key). Its pods are real (tests/standin_pods.py): a user, an sshd
on a loopback port, real processes. What it adds for tests, outside GraphQL: ``GET /standin/state``
(every pod ever made, peak running count) and ``POST /standin/kill/<id>`` (a pod dies).

    sudo RUNPOD_API_KEY=... python tests/runpod_standin.py --gpu "NVIDIA A40=0.40:9" [--boot 0.3]

prints ``URL http://127.0.0.1:<port>`` and serves until SIGTERM (then every pod is removed).
``--gpu NAME=PRICE:COUNT``: a GPU type, its $/hr and how many pods of it may run at once (0: none
free). The user's key comes from ``RUNPOD_API_KEY`` in its environment, never a file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standin_pods import Machine  # noqa: E402

NO_INSTANCES = ("There are no longer any instances available with the requested specifications. "
                "Please refresh and try again.")
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<p>[{}\[\]:,]))')


def parse_value(text: str, pos: int = 0) -> tuple[Any, int]:
    """One GraphQL input value (object, list, string, number, true/false/null, enum) at pos."""
    m = _TOKEN.match(text, pos)
    if not m:
        raise ValueError(f"bad GraphQL at {pos}: {text[pos:pos + 30]!r}")
    end = m.end()
    if m.group("str") is not None:
        return json.loads(m.group("str")), end
    if m.group("num") is not None:
        n = m.group("num")
        return (float(n) if "." in n else int(n)), end
    if m.group("name") is not None:
        return {"true": True, "false": False, "null": None}.get(m.group("name"), m.group("name")), end
    p = m.group("p")
    if p == "{":
        obj: dict[str, Any] = {}
        while True:
            m = _TOKEN.match(text, end)
            if m and m.group("p") == "}":
                return obj, m.end()
            if m and m.group("p") == ",":
                end = m.end()
                continue
            if not m or m.group("name") is None:
                raise ValueError(f"bad GraphQL object at {end}")
            key = m.group("name")
            colon = _TOKEN.match(text, m.end())
            if not colon or colon.group("p") != ":":
                raise ValueError(f"expected ':' after {key}")
            obj[key], end = parse_value(text, colon.end())
    if p == "[":
        items: list[Any] = []
        while True:
            m = _TOKEN.match(text, end)
            if m and m.group("p") == "]":
                return items, m.end()
            if m and m.group("p") == ",":
                end = m.end()
                continue
            item, end = parse_value(text, end)
            items.append(item)
    raise ValueError(f"unexpected {p!r} at {pos}")


def field_input(query: str, name: str) -> dict[str, Any] | None:
    """The ``input:`` object of the first ``name(input: {...})`` in the query, or None."""
    m = re.search(rf"\b{name}\s*\(\s*input\s*:\s*", query)
    if not m:
        return None
    value, _ = parse_value(query, m.end())
    return value if isinstance(value, dict) else None


class GraphQLError(Exception):
    """Answered as ``{"errors": [{"message": ...}]}`` with HTTP 200, as RunPod does."""


class Cloud:
    """The stand-in's state: GPU types, pods, keys."""

    def __init__(self, api_key: str, gpus: dict[str, tuple[float, int]], boot: float, base_url: str) -> None:
        self.api_key, self.gpus, self.boot, self.base_url = api_key, gpus, boot, base_url
        self.pods: dict[str, dict[str, Any]] = {}
        self.machines: dict[str, Machine] = {}
        self.pod_keys: dict[str, str] = {}  # pod-scoped key -> pod id
        self.peak_running = 0
        self.create_attempts: list[str] = []
        self.lock = threading.RLock()
        self.conf_root = Path(tempfile.mkdtemp(prefix="rp-standin-"))
        self.conf_root.chmod(0o711)

    # -- the GraphQL operations -----------------------------------------------------------

    def handle(self, query: str, key: str) -> dict[str, Any]:
        scoped = self.pod_keys.get(key)
        if key != self.api_key and scoped is None:
            raise PermissionError
        for op in ("podFindAndDeployOnDemand", "podStop", "podResume", "podTerminate", "gpuTypes", "pod"):
            args = field_input(query, op)
            if args is None and not (op == "gpuTypes" and re.search(r"\bgpuTypes\b", query)):
                continue
            args = args or {}
            if scoped is not None and (op not in ("podStop", "pod", "podTerminate") or args.get("podId") != scoped):
                raise GraphQLError("a pod's key acts on its own pod only")
            return {op: getattr(self, f"op_{op}")(args)}
        if re.search(r"\bmyself\b", query):
            if scoped is not None:
                raise GraphQLError("a pod's key cannot list the account")
            with self.lock:
                pods = [self.view(p) for p in self.pods.values() if p["desiredStatus"] != "TERMINATED"]
            return {"myself": {"pods": pods, "networkVolumes": [], "id": "user-standin", "pubKey": ""}}
        raise GraphQLError("the stand-in does not know this operation")

    def op_gpuTypes(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        names = [args["id"]] if "id" in args else list(self.gpus)
        return [{"id": n, "displayName": n, "memoryInGb": 48, "maxGpuCount": 8, "securePrice": self.gpus[n][0],
                 "communityPrice": self.gpus[n][0], "secureCloud": True, "communityCloud": True,
                 "lowestPrice": {"minimumBidPrice": None, "uninterruptablePrice": self.gpus[n][0]}}
                for n in names if n in self.gpus]

    def op_podFindAndDeployOnDemand(self, args: dict[str, Any]) -> dict[str, Any]:
        gpu = str(args.get("gpuTypeId"))
        with self.lock:
            self.create_attempts.append(gpu)
            price, count = self.gpus.get(gpu, (0.0, 0))
            used = sum(1 for p in self.pods.values() if p["gpu"] == gpu and p["desiredStatus"] == "RUNNING")
            if used >= count:
                raise GraphQLError(NO_INSTANCES)
            pod_id = secrets.token_hex(7)
            pod_key = f"rpk-{secrets.token_hex(12)}"
            env = {e["key"]: e["value"] for e in args.get("env") or []}
            env.update({"RUNPOD_POD_ID": pod_id, "RUNPOD_API_KEY": pod_key, "RUNPOD_API_BASE_URL": self.base_url})
            self.pod_keys[pod_key] = pod_id
            pod = {"id": pod_id, "name": args.get("name"), "imageName": args.get("imageName"), "gpu": gpu,
                   "costPerHr": price * int(args.get("gpuCount") or 1), "gpuCount": int(args.get("gpuCount") or 1),
                   "desiredStatus": "RUNNING", "containerDiskInGb": args.get("containerDiskInGb"),
                   "volumeInGb": args.get("volumeInGb"), "env": env, "created": time.time(), "started": time.time(),
                   "runtime": None, "machineId": f"m-{pod_id}", "history": ["created"]}
            self.pods[pod_id] = pod
            self.machines[pod_id] = Machine.create(pod_id, env, self.conf_root)
            self._count_running()
        threading.Thread(target=self._boot, args=(pod_id,), daemon=True).start()
        return {"id": pod_id, "imageName": pod["imageName"], "env": self._env_list(pod), "machineId": pod["machineId"],
                "machine": {"podHostId": f"{pod_id}-host"}}

    def op_pod(self, args: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            pod = self.pods.get(str(args.get("podId")))
            return self.view(pod) if pod and pod["desiredStatus"] != "TERMINATED" else None

    def op_podStop(self, args: dict[str, Any]) -> dict[str, Any]:
        pod = self._get(args)
        with self.lock:
            pod["desiredStatus"], pod["runtime"] = "EXITED", None
            pod["history"].append("stopped")
        self.machines[pod["id"]].halt()
        return {"id": pod["id"], "desiredStatus": "EXITED"}

    def op_podResume(self, args: dict[str, Any]) -> dict[str, Any]:
        pod = self._get(args)
        with self.lock:
            pod["desiredStatus"], pod["started"] = "RUNNING", time.time()
            pod["history"].append("resumed")
            self._count_running()
        threading.Thread(target=self._boot, args=(pod["id"],), daemon=True).start()
        return {"id": pod["id"], "desiredStatus": "RUNNING", "imageName": pod["imageName"],
                "env": self._env_list(pod), "machineId": pod["machineId"], "machine": {"podHostId": "h"}}

    def op_podTerminate(self, args: dict[str, Any]) -> None:
        pod = self._get(args)
        with self.lock:
            pod["desiredStatus"], pod["runtime"] = "TERMINATED", None
            pod["history"].append("terminated")
        self.machines[pod["id"]].destroy()
        return None

    # -- pods -------------------------------------------------------------------------------

    def _get(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            pod = self.pods.get(str(args.get("podId")))
            if pod is None or pod["desiredStatus"] == "TERMINATED":
                raise GraphQLError(f"pod {args.get('podId')} not found")
            return pod

    def _boot(self, pod_id: str) -> None:
        time.sleep(self.boot)
        machine = self.machines[pod_id]
        with self.lock:
            if self.pods[pod_id]["desiredStatus"] != "RUNNING":
                return
        machine.boot()
        with self.lock:
            pod = self.pods[pod_id]
            if pod["desiredStatus"] == "RUNNING":
                pod["runtime"] = {"uptimeInSeconds": 0, "ports": [
                    {"ip": "127.0.0.1", "isIpPublic": True, "privatePort": 22, "publicPort": machine.port,
                     "type": "tcp"}]}

    def kill(self, pod_id: str) -> None:
        """The pod's machine fails: every process dies; the API shows it EXITED."""
        with self.lock:
            pod = self.pods[pod_id]
            pod["desiredStatus"], pod["runtime"] = "EXITED", None
            pod["history"].append("killed")
        self.machines[pod_id].halt()

    def _count_running(self) -> None:
        running = sum(1 for p in self.pods.values() if p["desiredStatus"] == "RUNNING")
        self.peak_running = max(self.peak_running, running)

    @staticmethod
    def _env_list(pod: dict[str, Any]) -> list[str]:
        return [f"{k}={v}" for k, v in pod["env"].items() if k != "RUNPOD_API_KEY"]

    def view(self, pod: dict[str, Any]) -> dict[str, Any]:
        """A pod with the fields the SDK's pod queries select."""
        running = pod["desiredStatus"] == "RUNNING"
        return {"id": pod["id"], "name": pod["name"], "imageName": pod["imageName"], "costPerHr": pod["costPerHr"],
                "desiredStatus": pod["desiredStatus"], "gpuCount": pod["gpuCount"], "env": self._env_list(pod),
                "containerDiskInGb": pod["containerDiskInGb"], "volumeInGb": pod["volumeInGb"],
                "uptimeSeconds": int(time.time() - pod["started"]) if running else 0, "machineId": pod["machineId"],
                "podType": "RESERVED", "lastStatusChange": pod["history"][-1], "runtime": pod["runtime"],
                "machine": {"gpuDisplayName": pod["gpu"]}, "memoryInGb": 31, "vcpuCount": 8, "ports": "22/tcp",
                "volumeMountPath": "/workspace", "dockerArgs": "", "dockerId": None, "port": None}

    def state(self) -> dict[str, Any]:
        """Every pod ever made (with its history and user), for the tests' checks."""
        with self.lock:
            return {"peak_running": self.peak_running, "create_attempts": list(self.create_attempts),
                    "pods": {i: {"gpu": p["gpu"], "status": p["desiredStatus"], "history": list(p["history"]),
                                 "user": self.machines[i].user, "home": str(self.machines[i].home),
                                 "port": self.machines[i].port, "name": p["name"]} for i, p in self.pods.items()}}

    def shutdown(self) -> None:
        """Remove every pod that is left (users, sshd, homes)."""
        for pod_id, machine in list(self.machines.items()):
            if self.pods[pod_id]["desiredStatus"] != "TERMINATED":
                machine.destroy()
        shutil.rmtree(self.conf_root, ignore_errors=True)


def make_handler(cloud: Cloud) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass  # quiet: a request log would only repeat the tests' own checks

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/standin/state":
                self._send(200, cloud.state())
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/standin/kill/"):
                cloud.kill(self.path.rsplit("/", 1)[1])
                self._send(200, {"killed": True})
                return
            if self.path != "/graphql":
                self._send(404, {"error": "not found"})
                return
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            try:
                self._send(200, {"data": cloud.handle(json.loads(body)["query"], key)})
            except PermissionError:
                self._send(401, {"error": "Unauthorized"})
            except (GraphQLError, ValueError, KeyError) as e:
                self._send(200, {"errors": [{"message": str(e).strip("'")}]})

    return Handler


def _exit_with_parent(server: ThreadingHTTPServer) -> None:
    """Shut down (removing every pod) when the process that started us is gone (a killed pytest)."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    server.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="append", default=[], help="NAME=PRICE:COUNT")
    parser.add_argument("--boot", type=float, default=0.3, help="seconds before a new pod shows SSH")
    args = parser.parse_args(argv)
    gpus = {}
    for spec in args.gpu or ["NVIDIA A40=0.40:8"]:
        name, _, rest = spec.rpartition("=")
        price, _, count = rest.partition(":")
        gpus[name] = (float(price), int(count or 8))
    api_key = os.environ.get("RUNPOD_API_KEY") or sys.exit("set RUNPOD_API_KEY")
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    cloud = Cloud(api_key, gpus, args.boot, url)
    server.RequestHandlerClass = make_handler(cloud)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    threading.Thread(target=_exit_with_parent, args=(server,), daemon=True).start()
    print(f"URL {url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        cloud.shutdown()


if __name__ == "__main__":
    main()
