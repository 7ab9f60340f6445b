"""Replicated block writes: three local backends against one, on the sync block upload path."""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import fmt_range, terminate_on_sigterm

from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.local_writer import LocalObjectWriter
from sesamedisk.adapters.objects.replicated import NamedBackend, ReplicatedObjectStore
from sesamedisk.adapters.objects.replicated_writer import Live, ReplicatedObjectWriter
from sesamedisk.errors import SesameError
from sesamedisk.ports.objects import ObjectKind, ObjectWriter

MIB = 1024 * 1024
GIB = 1024 * MIB
PIECE = MIB
"""The server hands a block body to the store in 1 MiB pieces (web/requests.py)."""
SCOPE = "b10c0000-0000-4000-8000-000000000001"
COPIES = 3
GOAL = 1.3
"""Issue goal: a replicated write costs at most this many times a single-backend write."""
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class BenchError(RuntimeError):
    """A block was not stored as expected."""


@dataclass(frozen=True)
class Workload:
    """Random blocks made once (in one buffer) and reused by every turn, with their ids."""

    blocks: tuple[memoryview, ...]
    ids: tuple[str, ...]

    @classmethod
    def random(cls, total: int, block_size: int) -> Workload:
        """`total` random bytes cut into blocks of `block_size` (the last one may be shorter)."""
        view = memoryview(bytearray(total))
        blocks = tuple(view[offset:offset + block_size]
                       for offset in range(0, total, block_size))
        for block in blocks:
            block[:] = os.urandom(len(block))
        return cls(blocks, tuple(hashlib.sha1(block).hexdigest() for block in blocks))

    @property
    def total(self) -> int:
        """Bytes in all blocks."""
        return sum(len(block) for block in self.blocks)


@dataclass(frozen=True)
class Target:
    """What one turn drives: store a block under its id, then make everything durable."""

    put: Callable[[memoryview, str], None]
    flush: Callable[[], None]
    stored: Callable[[], list[int]]
    """How many blocks each copy holds (checked after the clock stops)."""
    close: Callable[[], None]


def upload_block(store: LocalObjectStore | ReplicatedObjectStore, block: memoryview,
                 block_id: str) -> None:
    """One sync block upload as the server does it: stream pieces, check the id, commit."""
    writer = store.open_writer(ObjectKind.BLOCK, SCOPE)
    try:
        for offset in range(0, len(block), PIECE):
            writer.write(block[offset:offset + PIECE])
        if writer.digest != block_id:
            raise BenchError(f"block {block_id} hashed to {writer.digest}")
        writer.commit(writer.digest)
    except BaseException:
        writer.abort()
        raise


def _store_target(store: LocalObjectStore | ReplicatedObjectStore,
                  disks: Sequence[LocalObjectStore], close: Callable[[], None]) -> Target:
    return Target(functools.partial(upload_block, store), store.flush,
                  lambda: [sum(1 for _ in d.iter_ids(ObjectKind.BLOCK, SCOPE)) for d in disks],
                  close)


def single_target(root: Path) -> Target:
    """One LocalObjectStore."""
    store = LocalObjectStore(root / "disk0")
    return _store_target(store, [store], lambda: None)


def replicated_target(root: Path, quorum: int,
                      local: type[LocalObjectStore] = LocalObjectStore,
                      replicated: type[ReplicatedObjectStore] = ReplicatedObjectStore) -> Target:
    """A ReplicatedObjectStore over three LocalObjectStores, in folders of one file system."""
    disks = [local(root / f"disk{n}") for n in range(COPIES)]
    store = replicated([NamedBackend(f"disk{n}", "local", disk) for n, disk in enumerate(disks)],
                       write_quorum=quorum)
    return _store_target(store, disks, store.close)


def _write_file(path: Path, block: memoryview) -> None:
    fd = os.open(path, _FILE_FLAGS, 0o640)
    try:
        for offset in range(0, len(block), PIECE):
            piece = block[offset:offset + PIECE]
            written = 0
            while written < len(piece):
                written += os.write(fd, piece[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


def plain_target(root: Path, copies: int) -> Target:
    """The floor: each copy a plain file (write + fsync, no hash, no rename), copies in parallel."""
    folders = [root / f"disk{n}" for n in range(copies)]
    for folder in folders:
        folder.mkdir(parents=True)
    pool = ThreadPoolExecutor(copies, thread_name_prefix="plain-copy")

    def put(block: memoryview, block_id: str) -> None:
        for future in [pool.submit(_write_file, f / block_id, block) for f in folders]:
            future.result()

    return Target(put, os.sync, lambda: [len(os.listdir(f)) for f in folders], pool.shutdown)


class _UnhashedLocalWriter(LocalObjectWriter):
    """Prototype: a backend writer that only counts; the replicated writer hashes for all."""

    def _take(self, data: bytes | bytearray | memoryview) -> memoryview:
        view = memoryview(data).cast("B")
        self._size += view.nbytes
        return view


class UnhashedLocalStore(LocalObjectStore):
    """Prototype: a local store whose writers skip their own SHA-1."""

    def open_writer(self, kind: ObjectKind, scope: str) -> LocalObjectWriter:
        """The stock writer, minus the hashing."""
        writer = super().open_writer(kind, scope)
        writer.__class__ = _UnhashedLocalWriter
        return writer


_HASHERS = ThreadPoolExecutor(8, thread_name_prefix="overlap-sha1")


class _OverlappedWriter(ReplicatedObjectWriter):
    """Prototype: hashes each piece on a helper thread while the backends write it."""

    _unhashed: memoryview | None = None

    def _take(self, data: bytes | bytearray | memoryview) -> memoryview:
        view = memoryview(data).cast("B")
        self._size += view.nbytes
        self._unhashed = view
        return view

    def _run(self, live: Live, call: Callable[[ObjectWriter], None]) -> list[str]:
        view, self._unhashed = self._unhashed, None
        if view is None:
            return super()._run(live, call)
        hashing = _HASHERS.submit(self._hash.update, view)
        try:
            return super()._run(live, call)
        finally:
            hashing.result()


class OverlappedReplicatedStore(ReplicatedObjectStore):
    """Prototype: a replicated store whose writers hash alongside the backend writes."""

    def open_writer(self, kind: ObjectKind, scope: str) -> ReplicatedObjectWriter:
        """The stock writer, hashing on a helper thread."""
        writer = super().open_writer(kind, scope)
        writer.__class__ = _OverlappedWriter
        return writer


@dataclass(frozen=True)
class Variant:
    """One way of storing the workload; `build` makes a fresh target in an empty folder."""

    name: str
    build: Callable[[Path], Target]


SINGLE, PLAIN_ONE, PLAIN_COPIES = "single", "plain 1 copy", f"plain {COPIES} copies"
REPLICATED = ("replicated q2", "replicated q3")
PROTOTYPES = ("q3, backends unhashed", "q3, unhashed + overlapped")


def variants(prototypes: bool) -> list[Variant]:
    """The stock stores, the plain-file floor and, if asked, the prototypes."""
    chosen = [Variant(SINGLE, single_target),
              Variant(REPLICATED[0], lambda root: replicated_target(root, 2)),
              Variant(REPLICATED[1], lambda root: replicated_target(root, 3)),
              Variant(PLAIN_ONE, lambda root: plain_target(root, 1)),
              Variant(PLAIN_COPIES, lambda root: plain_target(root, COPIES))]
    if prototypes:
        chosen += [Variant(PROTOTYPES[0], lambda root: replicated_target(
                       root, 3, local=UnhashedLocalStore)),
                   Variant(PROTOTYPES[1], lambda root: replicated_target(
                       root, 3, local=UnhashedLocalStore, replicated=OverlappedReplicatedStore))]
    return chosen


@dataclass(frozen=True)
class Sample:
    """One timed turn: wall-clock seconds and the process's user and system CPU seconds."""

    wall: float
    user: float
    system: float


def _put_all(target: Target, workload: Workload, streams: int) -> None:
    """Upload every block, `streams` at a time (one worker thread per stream, as the server)."""
    with ThreadPoolExecutor(streams, thread_name_prefix="upload-stream") as uploads:
        list(uploads.map(target.put, workload.blocks, workload.ids))


def run_turn(variant: Variant, streams: int, workload: Workload, root: Path) -> Sample:
    """Store the workload once (timed up to the end of flush), check it, delete it."""
    target = variant.build(root)
    try:
        os.sync()  # writeback of earlier turns and deletes stays out of this clock
        before, start = os.times(), time.perf_counter()
        _put_all(target, workload, streams)
        target.flush()
        wall, after = time.perf_counter() - start, os.times()
        stored = target.stored()
        if stored != [len(workload.blocks)] * len(stored):
            raise BenchError(f"{variant.name}: copies hold {stored} blocks, "
                             f"expected {len(workload.blocks)} each")
    finally:
        target.close()
        shutil.rmtree(root, ignore_errors=True)
    return Sample(wall, after.user - before.user, after.system - before.system)


@dataclass
class Results:
    """Samples per (variant, streams), in repetition order."""

    samples: dict[tuple[str, int], list[Sample]] = field(default_factory=dict)

    def ratios(self, name: str, base: str, streams: int) -> list[float]:
        """Per-repetition time ratios name / base."""
        return [a.wall / b.wall for a, b in zip(self.samples[name, streams],
                                                 self.samples[base, streams], strict=True)]


def run_reps(chosen: Sequence[Variant], modes: Sequence[int], workload: Workload, reps: int,
             work: Path) -> Results:
    """Every variant in every stream mode once per repetition, the order changing each time."""
    turns = [(variant, streams) for variant in chosen for streams in modes]
    results = Results()
    for rep in range(reps):
        shift = rep % len(turns)
        order = turns[shift:] + turns[:shift]
        for variant, streams in reversed(order) if rep % 2 else order:
            sample = run_turn(variant, streams, workload, work / "turn")
            results.samples.setdefault((variant.name, streams), []).append(sample)
        print(f"rep {rep + 1}/{reps} done", file=sys.stderr, flush=True)
    return results


def filesystem_of(path: Path) -> str:
    """'<type> on <device>' of the mount that holds `path` (from /proc/mounts)."""
    real = os.path.realpath(path)
    best = ("", "unknown", "an unknown device")
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                device, mount, fstype = line.split()[:3]
                inside = real == mount or real.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best[0]):
                    best = (mount, fstype, device)
    except OSError:
        pass
    return f"{best[1]} on {best[2]}"


def _ratio_line(results: Results, name: str, base: str, streams: int,
                goal: float | None) -> str:
    ratios = results.ratios(name, base, streams)
    verdict = "" if goal is None else \
        f"  goal ≤ {goal}: {'PASS' if statistics.median(ratios) <= goal else 'FAIL'}"
    return f"  {name + ' / ' + base:40s} {fmt_range(ratios)}{verdict}"


def print_report(results: Results, workload: Workload, modes: Sequence[int], work: Path,
                 load_before: float) -> None:
    """Speeds and CPU per variant, then the time ratios against the goal."""
    gib, reps = workload.total / GIB, len(next(iter(results.samples.values())))
    print(f"\n{workload.total // MIB} MiB as {len(workload.blocks)} blocks of "
          f"{len(workload.blocks[0]) // MIB} MiB, written in {PIECE // MIB} MiB pieces, "
          f"{reps} interleaved reps, median [min–max]; load average {load_before:.1f} "
          f"before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")
    print(f"the {COPIES} replicas are folders on ONE file system ({filesystem_of(work)}, "
          f"{work}): they share one disk's bandwidth and page cache, the worst case")
    print(f"\n{'variant':28s} streams  GB/s              CPU s/GiB: user  system")
    for (name, streams), samples in results.samples.items():
        rates = [workload.total / s.wall / 1e9 for s in samples]
        user = statistics.median(s.user for s in samples) / gib
        system = statistics.median(s.system for s in samples) / gib
        print(f"{name:28s} {streams:7d}  {fmt_range(rates):17s} {user:15.2f} {system:7.2f}")
    names = {name for name, _ in results.samples}
    for streams in modes:
        print(f"\ntime ratios, {streams} stream{'s' if streams > 1 else ''} "
              "(median of per-rep ratios [min–max]):")
        for name in (*REPLICATED, *PROTOTYPES):
            if name in names:
                print(_ratio_line(results, name, SINGLE, streams, GOAL))
        print(_ratio_line(results, PLAIN_COPIES, PLAIN_ONE, streams, None)
              + "  (the disk's own floor)")
        print(_ratio_line(results, SINGLE, PLAIN_ONE, streams, None))
        print(_ratio_line(results, REPLICATED[1], PLAIN_COPIES, streams, None))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total-mib", type=int, default=1024, help="bytes per turn (1024)")
    parser.add_argument("--block-mib", type=int, default=8, help="block size (8 MiB)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (5)")
    parser.add_argument("--streams", type=int, default=3,
                        help="parallel uploads in the multi-stream mode, as the server (3)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 128 MiB, 2 reps")
    parser.add_argument("--prototypes", action="store_true",
                        help="also run prototype variants of possible changes to src/")
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="where the replicas live (default: the system temp dir)")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the per-repetition numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.total_mib, args.reps = 128, 2
    if args.block_mib < 1 or args.total_mib < args.block_mib or args.reps < 1 \
            or args.streams < 2:
        parser.error("need block-mib ≥ 1, total-mib ≥ block-mib, reps ≥ 1, streams ≥ 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 after the report, 1 when a write fails, 2 when setup fails."""
    args = parse_args(argv)
    restore_sigterm = terminate_on_sigterm()
    try:
        work = Path(tempfile.mkdtemp(prefix="sesame-replicated-", dir=args.tmp_dir))
    except OSError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    try:
        workload = Workload.random(args.total_mib * MIB, args.block_mib * MIB)
        modes, load_before = (1, args.streams), os.getloadavg()[0]
        try:
            results = run_reps(variants(args.prototypes), modes, workload, args.reps, work)
        except (BenchError, SesameError, OSError) as exc:
            print(f"write failed: {exc!r}", file=sys.stderr)
            return 1
        print_report(results, workload, modes, work, load_before)
        if args.json is not None:
            args.json.write_text(json.dumps({
                "total_bytes": workload.total, "blocks": len(workload.blocks),
                "samples": {f"{name}@{streams}": [vars(s) for s in samples]
                            for (name, streams), samples in results.samples.items()}}, indent=2))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        restore_sigterm()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; temp dir removed", file=sys.stderr)
        sys.exit(130)
