"""S3 put/get throughput of the S3ObjectStore adapter against raw boto3, in the same run."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from benchlib import ServerProcess, SetupError, fmt_range, free_port, terminate_on_sigterm
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sesamedisk.adapters.objects.s3 import S3ObjectStore
from sesamedisk.errors import SesameError
from sesamedisk.ports.objects import ObjectKind

KIB = 1024
MIB = 1024 * KIB
PIECE = MIB
"""The server hands a block body to the store in 1 MiB pieces (web/requests.py)."""
TAG = 16
"""The last bytes of every payload: (size, index), so every object has its own id."""
SCOPES = {"raw": "b10c0000-0000-4000-8000-000000000001",
          "adapter": "b10c0000-0000-4000-8000-000000000002",
          "stream": "b10c0000-0000-4000-8000-000000000003"}
"""Each way of storing writes its own copy of the objects, under keys of the same length."""
KIND = ObjectKind.BLOCK
GOAL = 0.8
"""Issue goal: adapter throughput is at least this fraction of raw boto3's."""
MOTO_KEYS = ("bench", "benchsecret")
PUTS = ("raw put", "adapter put", "adapter stream")
GETS = ("raw get", "adapter get")
RATIOS = (("adapter put", "raw put"), ("adapter get", "raw get"),
          ("adapter stream", "raw put"))


class BenchError(RuntimeError):
    """An object was not stored or read back as expected."""


@dataclass(frozen=True)
class Objects:
    """The payloads of one object size, each with its SHA-1 id."""

    label: str
    payloads: tuple[bytes, ...]
    ids: tuple[str, ...]

    @classmethod
    def make(cls, label: str, size: int, count: int, base: bytes) -> Objects:
        """`count` objects of `size` bytes: a prefix of `base`, then a unique tag."""
        payloads = tuple(base[:size - TAG] + size.to_bytes(8, "big") + n.to_bytes(8, "big")
                         for n in range(count))
        return cls(label, payloads, tuple(hashlib.sha1(p).hexdigest() for p in payloads))

    @property
    def size(self) -> int:
        """Bytes per object."""
        return len(self.payloads[0])


def key(scope: str, object_id: str) -> str:
    """The key S3ObjectStore uses for a block (raw boto3 uses the same layout)."""
    return f"{scope}/{KIND.value}/{object_id[:2]}/{object_id[2:]}"


class Bench:
    """The raw client, the adapter and the timed one-object operations on one bucket.

    The raw client has boto3's defaults except explicit keys and path-style addressing.
    """

    def __init__(self, url: str, keys: tuple[str, str], region: str, bucket: str) -> None:
        self.bucket = bucket
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=url, aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
            region_name=region, config=Config(s3={"addressing_style": "path"}))
        self.store = S3ObjectStore(bucket, endpoint_url=url, access_key=keys[0],
                                   secret_key=keys[1], region=region)

    def raw_put(self, payload: bytes, object_id: str) -> None:
        """put_object."""
        self.client.put_object(Bucket=self.bucket, Key=key(SCOPES["raw"], object_id),
                               Body=payload)

    def raw_get(self, payload: bytes, object_id: str) -> None:
        """get_object(...)["Body"].read()."""
        body = self.client.get_object(Bucket=self.bucket,
                                      Key=key(SCOPES["raw"], object_id))["Body"]
        _check_read(body.read(), payload, object_id)

    def adapter_put(self, payload: bytes, object_id: str) -> None:
        """S3ObjectStore.put (a conditional PUT)."""
        self.store.put(KIND, SCOPES["adapter"], object_id, payload)

    def adapter_get(self, payload: bytes, object_id: str) -> None:
        """S3ObjectStore.get."""
        _check_read(self.store.get(KIND, SCOPES["adapter"], object_id), payload, object_id)

    def adapter_stream(self, payload: bytes, object_id: str) -> None:
        """The sync block upload path: open_writer, 1 MiB writes, id check, commit(digest)."""
        writer = self.store.open_writer(KIND, SCOPES["stream"])
        try:
            view = memoryview(payload)
            for offset in range(0, len(view), PIECE):
                writer.write(view[offset:offset + PIECE])
            if writer.digest != object_id:
                raise BenchError(f"{object_id} hashed to {writer.digest}")
            writer.commit(writer.digest)
        except BaseException:
            writer.abort()
            raise

    def listing(self) -> dict[str, int]:
        """Every key in the bucket with its size, and each pending multipart upload as -1."""
        found: dict[str, int] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            found.update((o["Key"], o["Size"]) for o in page.get("Contents", []))
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket)
        found.update((u["Key"], -1) for u in uploads.get("Uploads", []))
        return found

    def check_stored(self, objs: Objects) -> None:
        """Fail unless the bucket holds exactly the three copies (no temporary leftovers)."""
        expected = {key(s, i): objs.size for s in SCOPES.values() for i in objs.ids}
        found = self.listing()
        if found != expected:
            odd = sorted(k for k in found.keys() | expected.keys()
                         if found.get(k) != expected.get(k))[:3]
            raise BenchError(f"{objs.label}: bucket holds {len(found)} keys, expected "
                             f"{len(expected)}; differing: {odd}")

    def clear(self) -> None:
        """Delete every key in the bucket and abort every pending upload (untimed)."""
        for name, size in self.listing().items():
            if size >= 0:
                self.client.delete_object(Bucket=self.bucket, Key=name)
        self.store.sweep_incoming(0)


OPERATIONS: dict[str, Callable[[Bench, bytes, str], None]] = {
    "raw put": Bench.raw_put, "raw get": Bench.raw_get, "adapter put": Bench.adapter_put,
    "adapter get": Bench.adapter_get, "adapter stream": Bench.adapter_stream}


def _check_read(data: bytes, payload: bytes, object_id: str) -> None:
    if len(data) != len(payload) or data[-TAG:] != payload[-TAG:]:
        raise BenchError(f"{object_id}: read {len(data)} bytes that are not the stored ones")


class CallClock:
    """With --calls: wall seconds and count per S3 API call, per (objects, operation).

    A call's time is inclusive: a GET issued while a PUT streams its body counts in both.
    """

    def __init__(self, clients: Sequence[Any]) -> None:
        self.context: tuple[str, str] | None = None
        self.totals: dict[tuple[str, str], dict[str, list[float]]] = {}
        self._started: list[float] = []
        for client in clients:
            client.meta.events.register(
                "before-call.s3", lambda **_: self._started.append(time.perf_counter()))
            client.meta.events.register("after-call.s3", self._after)

    def _after(self, model: Any, **_: Any) -> None:
        spent = time.perf_counter() - self._started.pop()
        if self.context is not None:
            total = self.totals.setdefault(self.context, {}).setdefault(model.name, [0.0, 0])
            total[0] += spent
            total[1] += 1


@dataclass
class Results:
    """Per (objects label, operation): wall and client CPU seconds of each repetition."""

    wall: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    cpu: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def ratios(self, label: str, op: str, base: str) -> list[float]:
        """Per-repetition throughput ratios op / base (= base time / op time)."""
        return [b / a for a, b in zip(self.wall[label, op], self.wall[label, base],
                                      strict=True)]


def rotated(items: Sequence[str], turn: int) -> list[str]:
    """`items` rotated by `turn`, and reversed on odd turns."""
    shift = turn % len(items)
    order = [*items[shift:], *items[:shift]]
    return order[::-1] if turn % 2 else order


def run_size(bench: Bench, objs: Objects, rep: int, results: Results,
             clock: CallClock) -> None:
    """Store every object in all three ways, object by object, then read two copies back.

    The order of the ways rotates from one object to the next. Only the operations run
    under the clock; the bucket is checked in between and emptied at the end.
    """
    try:
        for phase in (PUTS, GETS):
            wall, cpu = dict.fromkeys(phase, 0.0), dict.fromkeys(phase, 0.0)
            for n, (payload, object_id) in enumerate(zip(objs.payloads, objs.ids,
                                                         strict=True)):
                for op in rotated(phase, rep + n):
                    clock.context = (objs.label, op)
                    start, start_cpu = time.perf_counter(), time.process_time()
                    OPERATIONS[op](bench, payload, object_id)
                    wall[op] += time.perf_counter() - start
                    cpu[op] += time.process_time() - start_cpu
                    clock.context = None
            for op in phase:
                results.wall.setdefault((objs.label, op), []).append(wall[op])
                results.cpu.setdefault((objs.label, op), []).append(cpu[op])
            if phase is PUTS:
                bench.check_stored(objs)
    finally:
        clock.context = None
        bench.clear()


def run_reps(bench: Bench, sizes: Sequence[Objects], reps: int, clock: CallClock) -> Results:
    """An untimed warm-up with one object of each size, then `reps` repetitions."""
    for objs in sizes:
        first = Objects(objs.label, objs.payloads[:1], objs.ids[:1])
        run_size(bench, first, 0, Results(), CallClock([]))
    results = Results()
    for rep in range(reps):
        for objs in [*sizes[rep % len(sizes):], *sizes[:rep % len(sizes)]]:
            run_size(bench, objs, rep, results, clock)
        print(f"rep {rep + 1}/{reps} done, load average {os.getloadavg()[0]:.1f}",
              file=sys.stderr, flush=True)
    return results


def print_report(results: Results, sizes: Sequence[Objects], server: str, multipart: str,
                 loads: tuple[Sequence[float], Sequence[float]]) -> None:
    """Speeds and client CPU per operation, then the throughput ratios against the goal."""
    reps = len(next(iter(results.wall.values())))
    before, after = (" ".join(f"{x:.1f}" for x in load) for load in loads)
    print(f"\n{server}; {reps} interleaved reps, median [min–max]; load average "
          f"(1/5/15 min) {before} before, {after} after, on {os.cpu_count()} CPUs")
    print(f"64 MiB streamed commit: {multipart}")
    print(f"\n{'objects':18s} {'operation':15s} {'MB/s':20s} client CPU s/GB")
    for objs in sizes:
        total = objs.size * len(objs.payloads)
        for op in (*PUTS, *GETS):
            rates = [total / t / 1e6 for t in results.wall[objs.label, op]]
            cpu = statistics.median(results.cpu[objs.label, op]) / (total / 1e9)
            print(f"{len(objs.payloads):2d} x {objs.label:12s} {op:15s} "
                  f"{fmt_range(rates, 0):20s} {cpu:.2f}")
    print(f"\nthroughput ratios (median of per-rep ratios [min–max]), goal ≥ {GOAL}:")
    for objs in sizes:
        for op, base in RATIOS:
            ratios = results.ratios(objs.label, op, base)
            verdict = "PASS" if statistics.median(ratios) >= GOAL else "FAIL"
            print(f"  {objs.label:12s} {op + ' / ' + base:28s} {fmt_range(ratios)}  {verdict}")


def print_calls(clock: CallClock, reps: int) -> None:
    """Seconds per repetition spent in each S3 API call, per (objects, operation)."""
    print("\nS3 calls, seconds per rep (inclusive) and calls per rep:")
    for (label, op), calls in clock.totals.items():
        spent = "  ".join(f"{name} {t / reps:.3f} s ×{n / reps:g}"
                          for name, (t, n) in calls.items())
        print(f"  {label:12s} {op:15s} {spent}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", help="an S3 endpoint URL (default: start moto_server)")
    parser.add_argument("--access-key", help="with --endpoint")
    parser.add_argument("--secret-key", help="with --endpoint")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--blocks", type=int, default=16,
                        help="8 MiB and 8 MiB - 4 KiB objects per rep (16)")
    parser.add_argument("--large", type=int, default=2, help="64 MiB objects per rep (2)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (5)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 4 + 1 objects, 2 reps")
    parser.add_argument("--json", type=Path, help="also write the per-rep numbers to this file")
    parser.add_argument("--calls", action="store_true",
                        help="also time every S3 API call, to see where the time goes")
    args = parser.parse_args(argv)
    if args.quick:
        args.blocks, args.large, args.reps = 4, 1, 2
    if args.endpoint and not (args.access_key and args.secret_key):
        parser.error("--endpoint needs --access-key and --secret-key")
    if args.blocks < 1 or args.large < 1 or args.reps < 1:
        parser.error("need blocks ≥ 1, large ≥ 1, reps ≥ 1")
    return args


def make_sizes(blocks: int, large: int) -> list[Objects]:
    """The three workloads: exactly one part, just under one part, and multipart."""
    base = os.urandom(64 * MIB)
    return [Objects.make("8 MiB", 8 * MIB, blocks, base),
            Objects.make("8 MiB-4 KiB", 8 * MIB - 4 * KIB, blocks, base),
            Objects.make("64 MiB", 64 * MIB, large, base)]


def start_moto(work: Path) -> tuple[ServerProcess, str]:
    """A moto_server on a free port, owned by this process; returns it and its URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    server = ServerProcess("moto_server", [str(exe), "-H", "127.0.0.1", "-p", str(port)],
                           work / "moto.log")
    try:
        server.wait_http(port)
    except SetupError:
        server.stop()
        raise
    return server, f"http://127.0.0.1:{port}"


def run(args: argparse.Namespace, url: str, keys: tuple[str, str], server: str) -> int:
    """Create a fresh bucket, measure, report, and remove the bucket with what it holds."""
    try:
        bench = Bench(url, keys, args.region, f"sesame-bench-{secrets.token_hex(4)}")
        bench.client.create_bucket(Bucket=bench.bucket)
    except (ClientError, BotoCoreError) as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    try:
        sizes, before = make_sizes(args.blocks, args.large), os.getloadavg()
        try:
            clock = CallClock([bench.client, bench.store.client] if args.calls else [])
            results = run_reps(bench, sizes, args.reps, clock)
            multipart = ("server-side copy (UploadPartCopy), completed with If-None-Match"
                         if bench.store.completes_conditionally() else
                         "the server ignores If-None-Match on a completion, so the temporary "
                         "object is read back and PUT again")
        except (BenchError, SesameError, ClientError, BotoCoreError) as exc:
            print(f"transfer failed: {exc!r}", file=sys.stderr)
            return 1
        print_report(results, sizes, server, multipart, (before, os.getloadavg()))
        if args.calls:
            print_calls(clock, args.reps)
        if args.json is not None:
            args.json.write_text(json.dumps({
                "server": server, "sizes": {o.label: [o.size, len(o.payloads)] for o in sizes},
                "wall": {f"{label}: {op}": t for (label, op), t in results.wall.items()},
                "cpu": {f"{label}: {op}": t for (label, op), t in results.cpu.items()}},
                indent=2))
        return 0
    finally:
        remove_bucket(bench)


def remove_bucket(bench: Bench) -> None:
    """Empty and delete the benchmark's bucket; only warn when that fails."""
    try:
        bench.clear()
        bench.client.delete_bucket(Bucket=bench.bucket)
    except (SesameError, ClientError, BotoCoreError) as exc:
        print(f"warning: could not remove bucket {bench.bucket}: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 after the report, 1 when a transfer fails, 2 when setup fails."""
    args = parse_args(argv)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    restore_sigterm = terminate_on_sigterm()
    try:
        if args.endpoint:
            return run(args, args.endpoint, (args.access_key, args.secret_key),
                       f"S3 endpoint {args.endpoint}")
        with tempfile.TemporaryDirectory(prefix="sesame-s3-adapter-") as work:
            try:
                moto, url = start_moto(Path(work))
            except (SetupError, OSError) as exc:
                print(f"setup failed: {exc}", file=sys.stderr)
                return 2
            try:
                return run(args, url, MOTO_KEYS, f"moto_server (pid {moto.pid}) at {url}")
            finally:
                moto.stop()
    finally:
        restore_sigterm()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
