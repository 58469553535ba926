"""Pack the data for the accelerator machine and plan the device calls within the 64 MiB transfer limit.

Each device call sends the working tree (tracked files and untracked files git does not ignore) plus the
paths named in ``carry``, 64 MiB in all. FER-2013 packs to ~49 MiB and Fashion-MNIST to ~29 MiB, so they
travel in different calls; once trained models are committed the tree itself grows by ~31 MiB, and FER-2013
is then packed per class folder and spread over several data-only calls. Data unpacked on the machine stays
there between calls (``data/`` is git-ignored) as long as each call follows the last within 30 s.

Writes the archives under ``.device/`` and ``.device/plan.json``; prints the calls. Run by prepare.sh::

    python tools/accelerator/plan.py --data DATA_ROOT [--limit BYTES]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
from pathlib import Path

LIMIT = 64 * 1024 * 1024
MARGIN = 1024 * 1024  # what the tree may grow by between planning and the call
DEVICE = Path(".device")
RUN_CARRY = [".whl", ".device/git-skeleton.pack", ".device/git-head"]
QUEUE = "bash tools/accelerator/session.sh all"
RESUME = "bash tools/accelerator/session.sh resume"
SETUP = "bash tools/accelerator/session.sh setup"


def tree_bytes() -> int:
    """Bytes of what every call sends besides ``carry``: tracked and untracked-not-ignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True, check=True
    ).stdout.split(b"\0")
    return sum(Path(name.decode()).stat().st_size for name in listed if name and Path(name.decode()).is_file())


def path_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def pack(archive: Path, root: Path, members: list[str], gzip: bool = True) -> Path:
    """``tar`` ``members`` (paths relative to ``root``) into ``archive`` unless it exists; returns it."""
    if not archive.exists():
        tmp = archive.with_name(archive.name + ".tmp")
        with tarfile.open(tmp, "w:gz" if gzip else "w") as tar:
            for member in members:
                tar.add(root / member, arcname=member)
        tmp.replace(archive)
    return archive


def fer_archives(root: Path, budget: int) -> list[Path]:
    """FER-2013 as one archive when it fits ``budget``, else one archive per split/class folder."""
    whole = pack(DEVICE / "fer2013.tar.gz", root, ["fer2013"])
    if whole.stat().st_size <= budget:
        return [whole]
    parts = []
    for folder in sorted(p for p in (root / "fer2013").glob("*/*") if p.is_dir()):
        relative = folder.relative_to(root).as_posix()
        parts.append(pack(DEVICE / f"{relative.replace('/', '--')}.tar.gz", root, [relative]))
    extra = [p.relative_to(root).as_posix() for p in (root / "fer2013").iterdir() if p.is_file()]
    if extra:
        parts.append(pack(DEVICE / "fer2013--files.tar.gz", root, extra))
    return parts


def group(archives: list[Path], budget: int, max_paths: int) -> list[list[Path]]:
    """Archives grouped into calls of at most ``budget`` bytes and ``max_paths`` paths each (first fit)."""
    calls: list[list[Path]] = []
    for archive in sorted(archives, key=lambda a: -a.stat().st_size):
        size = archive.stat().st_size
        if size > budget:
            raise SystemExit(f"error: {archive} ({size:,} bytes) alone exceeds a call's {budget:,} spare bytes")
        for call in calls:
            if len(call) < max_paths and sum(a.stat().st_size for a in call) + size <= budget:
                call.append(archive)
                break
        else:
            calls.append([archive])
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="data root holding fer2013/ and fashion-mnist/")
    parser.add_argument("--limit", type=int, default=LIMIT)
    args = parser.parse_args()
    root = Path(args.data)
    DEVICE.mkdir(exist_ok=True)
    tree = tree_bytes()
    run_extra = sum(path_bytes(Path(p)) for p in RUN_CARRY)
    spare_run = args.limit - MARGIN - tree - run_extra  # a call that also carries the wheels and the git skeleton
    spare_data = args.limit - MARGIN - tree  # a data-only call
    fashion = pack(DEVICE / "fashion-mnist.tar", root, ["fashion-mnist"], gzip=False)
    fer = fer_archives(root, spare_run)
    calls = []
    # First the environment (wheels, git) with Fashion-MNIST: a fresh machine is checked before FER-2013 travels.
    if fashion.stat().st_size <= spare_run:
        calls.append({"command": SETUP, "carry": [*RUN_CARRY, str(fashion)]})
        data_calls = [] if len(fer) == 1 else group(fer, spare_data, 8)
    else:
        calls.append({"command": SETUP, "carry": RUN_CARRY})
        data_calls = group([fashion, *(fer if len(fer) > 1 else [])], spare_data, 8)
    calls += [{"command": SETUP, "carry": [str(a) for a in call]} for call in data_calls]
    # The queue call carries the wheels and git skeleton again where they fit, so a fresh machine can still run it.
    calls.append({"command": QUEUE, "carry": [*RUN_CARRY, str(fer[0])] if len(fer) == 1 else RUN_CARRY})
    for call in calls:
        carried = sum(path_bytes(Path(p)) for p in call["carry"])
        call["transfer_mib"] = round((tree + carried) / 2**20, 1)
        call["timeout_s"] = 600
    plan = {"tree_mib": round(tree / 2**20, 1), "calls": calls, "then": {"command": RESUME, "carry": []}}
    (DEVICE / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    print(f"working tree {plan['tree_mib']} MiB; device calls, each right after the last (the machine goes back 30 s")
    print("after a call): the run tool's command, carry and timeout_s")
    for number, call in enumerate(calls, start=1):
        print(f"  {number}. command: {call['command']}\n     carry: {json.dumps(call['carry'])}")
        print(f"     timeout_s: 600    (transfer {call['transfer_mib']} MiB of 64)")
    print(f"  then, while a call ends with exit status 100 (hand-over): command: {RESUME}, carry: []")
    print(f"plan written to {DEVICE / 'plan.json'}")


if __name__ == "__main__":
    main()
