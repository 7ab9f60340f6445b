"""S3 client throughput, boto3 against obstore, on a local moto server (ADR 0007)."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import obstore
from botocore.config import Config
from obstore.store import S3Store

ACCESS_KEY = "bench"
SECRET_KEY = "benchsecret"
BUCKET = "sesame-bench"
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_moto(port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def _boto3_client(endpoint: str) -> object:
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def _obstore(endpoint: str) -> S3Store:
    return S3Store(BUCKET, endpoint=endpoint, access_key_id=ACCESS_KEY,
                   secret_access_key=SECRET_KEY, region="us-east-1",
                   virtual_hosted_style_request=False, client_options={"allow_http": True})


def _timed(action: Callable[[], None]) -> tuple[float, float]:
    """Wall-clock seconds and this (client) process's CPU seconds for `action`."""
    start, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--size-mib", type=int, default=8)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    port = _free_port()
    proc = _start_moto(port)
    try:
        _run(f"http://127.0.0.1:{port}", args.count, args.size_mib * MIB, args.reps)
    finally:
        proc.terminate()
        proc.wait(10)


def _run(endpoint: str, count: int, size: int, reps: int) -> None:
    client = _boto3_client(endpoint)
    client.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    store = _obstore(endpoint)
    payloads = [os.urandom(64) + bytes(size - 64) for _ in range(2)]
    keys = [f"bench/{i:04d}" for i in range(count)]

    def boto_put() -> None:
        for i, key in enumerate(keys):
            client.put_object(Bucket=BUCKET, Key=key, Body=payloads[i % 2])  # type: ignore[attr-defined]

    def boto_get() -> None:
        for key in keys:
            body = client.get_object(Bucket=BUCKET, Key=key)["Body"]  # type: ignore[attr-defined]
            assert len(body.read()) == size

    def obs_put() -> None:
        for i, key in enumerate(keys):
            obstore.put(store, key, payloads[i % 2], use_multipart=False)

    def obs_get() -> None:
        for key in keys:
            assert len(obstore.get(store, key).bytes()) == size

    def clear() -> None:
        for key in keys:
            client.delete_object(Bucket=BUCKET, Key=key)  # type: ignore[attr-defined]

    names = ("boto3 put", "boto3 get", "obstore put", "obstore get")
    results: dict[str, list[float]] = {n: [] for n in names}
    client_cpu: dict[str, list[float]] = {n: [] for n in names}
    boto_put()
    obs_get()
    clear()  # warm both clients and the server
    for rep in range(reps):
        order = [("boto3", boto_put, boto_get), ("obstore", obs_put, obs_get)]
        if rep % 2:
            order.reverse()
        for name, put, get in order:
            for op, action in (("put", put), ("get", get)):
                wall, cpu = _timed(action)
                results[f"{name} {op}"].append(wall)
                client_cpu[f"{name} {op}"].append(cpu)
            clear()
    total = count * size
    print(f"{count} x {size // MIB} MiB objects, {reps} interleaved reps, moto {endpoint}")
    for name, times in results.items():
        rates = [total / t / 1e6 for t in times]
        cpu_per_gb = statistics.median(client_cpu[name]) / (total / 1e9)
        print(f"{name:12s} {statistics.median(rates):7.0f} MB/s "
              f"[{min(rates):.0f}-{max(rates):.0f}]  client CPU {cpu_per_gb:.2f} s/GB")
    for op in ("put", "get"):
        ratios = [b / o for b, o in zip(results[f"boto3 {op}"], results[f"obstore {op}"],
                                        strict=True)]
        print(f"{op}: boto3 time / obstore time, median {statistics.median(ratios):.2f} "
              f"[{min(ratios):.2f}-{max(ratios):.2f}]")


if __name__ == "__main__":
    main()
