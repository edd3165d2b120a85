"""DeepSpeed's JIT-compiled C++ ops in training: the one nobody asks for, and build locks left behind.

DeepSpeed 0.19 on the CPU accelerator compiles its shared-memory allreduce (`deepspeed_shm_comm`,
through torch.utils.cpp_extension) in every `TorchBackend.__init__`, i.e. in every
`deepspeed.initialize()` that finds no communication backend yet, at any world size, one process
included. Its only caller is `inference_all_reduce` (the AutoTP tensor-parallel layers of
deepspeed.module_inject); ZeRO data parallelism, all that msm trains with, reduces through
torch.distributed (gloo on CPU). So training turns the op off instead of compiling it (45-90 s on
2 cores, minutes of every task when a cache is cold) and of taking its build lock. Even with the op
built, every new process took that lock and reran its build: torch's extension versioner lives in
the process, so a fresh one always regenerates build.ninja and runs ninja, which recompiles all
whenever the generated file differs from the last build's (other flags, another DeepSpeed path).

torch's build lock (`<extensions root>/<op>/lock`, torch.utils.file_baton.FileBaton) is a file
created with O_EXCL and removed when the build ends; a process killed while building leaves it, and
every later build of that op then sleeps forever waiting for it to go. Training builds no op now,
but other users of the cache (a DeepSpeed program, an older msm) would still hang, so a run clears
stale locks before it starts.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

SHM_COMM_OP = "deepspeed_shm_comm"
LOCK_NAME = "lock"  # torch.utils.cpp_extension._jit_compile: FileBaton(os.path.join(build_directory, "lock"))
# A baton's holder closes its descriptor and then removes the file; the second look, this much later,
# keeps that instant from passing for a stale lock.
SECOND_LOOK_S = 1.0


def skip_shm_comm_op() -> None:
    """Make DeepSpeed's CPU communication backend start without `deepspeed_shm_comm` (see the module doc).

    DeepSpeed's `build_shm_op` builds the op only if `deepspeed.ops.__compatible_ops__` marks it
    compatible; that dict is probed once per process and kept, so an entry set here holds for the
    backend that `deepspeed.initialize` creates next (inference_all_reduce then falls back to
    torch.distributed too). Other accelerators have no such op (and the probe costs compiler runs).
    """
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator

    if get_accelerator().device_name() == "cpu":
        deepspeed.ops.__compatible_ops__[SHM_COMM_OP] = False


def extension_roots() -> list[Path]:
    """Where torch JIT-builds ops: $TORCH_EXTENSIONS_DIR/<op>, else <user cache>/torch_extensions/<py_accel>/<op>."""
    env = os.environ.get("TORCH_EXTENSIONS_DIR")
    if env:
        return [Path(env)]
    from torch.utils.cpp_extension import get_default_build_root

    return sorted(p for p in Path(get_default_build_root()).glob("py*") if p.is_dir())


def _users_of(lock: Path) -> list[int] | None:
    """PIDs of the processes on this host that hold `lock` open or run inside its build directory;
    None when the lock is gone or belongs to another user, whose processes this one may not inspect."""
    target, build_dir = str(lock.resolve()), str(lock.parent.resolve())
    try:
        owner = lock.stat().st_uid  # a baton's file belongs to the user whose process made it
    except FileNotFoundError:  # its build just ended
        return None
    if owner != os.geteuid() and os.geteuid() != 0:
        return None
    users = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == str(os.getpid()):
            continue
        try:
            if proc.stat().st_uid != owner:
                continue
            cwd = os.readlink(proc / "cwd")
            fds = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except FileNotFoundError:  # the process (or one of its descriptors) went away meanwhile
            continue
        except PermissionError:
            # Same user yet not inspectable: a non-dumpable process (setuid, or one that asked to
            # be) or a sandbox's init. A Python process building a torch op is neither.
            continue
        if target in fds or cwd == build_dir or cwd.startswith(build_dir + os.sep):
            users.append(int(proc.name))
    return users


def _identity(lock: Path) -> tuple[int, int, int] | None:
    try:
        st = lock.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


def clear_stale_build_locks() -> list[Path]:
    """Remove torch extension build locks that no live process holds; returns the ones removed.

    Stale means: no process of the lock's owner on this host holds the lock file open or runs in
    its build directory, seen twice, SECOND_LOOK_S apart, on the same file (a lock of another user
    is left alone, unless this is root). The baton holds no PID, but FileBaton keeps
    the descriptor of the file it created open until the build ends (and ninja and the compilers
    run with the build directory as their working directory), so a live build is visible in /proc
    for its whole length, whatever program started it: no cooperation from the builder is needed,
    unlike an flock of our own, which a DeepSpeed or torch build would not take. An age threshold
    would either keep a freshly killed build's lock (the case seen: killed 25 s in) or remove a slow
    live build's. The limit: /proc shows this host only. The extension cache is per user (and
    pod-local in k8s/), so its builders share the host; a TORCH_EXTENSIONS_DIR on a volume that
    several hosts build into at once is not supported by this check.
    """
    if not Path("/proc/self/fd").is_dir():  # not Linux: nothing to inspect, and DeepSpeed builds no CPU op there
        return []
    cleared = []
    for root in extension_roots():
        for lock in sorted(root.glob(f"*/{LOCK_NAME}")):
            first = _identity(lock)
            if first is None or _users_of(lock) != []:
                continue
            time.sleep(SECOND_LOOK_S)
            if _identity(lock) != first or _users_of(lock) != []:
                continue
            try:
                lock.unlink()
            except FileNotFoundError:  # another rank of this run cleared it first
                continue
            age = time.time() - first[2] / 1e9
            log.warning(
                "cleared stale build lock %s (made %.0f s ago by a process that died while building %s; "
                "no process holds it), so builds of that op no longer wait forever",
                lock,
                age,
                lock.parent.name,
            )
            cleared.append(lock)
    return cleared
