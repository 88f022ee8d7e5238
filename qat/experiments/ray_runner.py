"""Ray, the one place that knows it: connect (this machine or a cluster), one task per run, wait.

Local by default: `ray.init(num_cpus=jobs)` starts a private Ray on this machine. An address
(--address or $RAY_ADDRESS: host:port of a head node's GCS, ray://host:port of a Ray client
server, or `auto` for a cluster started on this machine with `ray start --head`) connects to an
existing cluster instead; its nodes need this checkout and the data at the same paths.
A task runs qat.cv.train_one (the training subprocess of `make cv`); a run that starts from a
float run gets that run's task as an argument, so Ray starts it as soon as its own float run is
done.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from qat.cv import train_one
from qat.experiments.sweep import SweepError, schedule

PROBE_SECONDS = 3.0


def probe(address: str) -> None:
    """Refuse, within seconds, an address where nothing answers (ray.init would wait for minutes)."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"Ray address {address!r}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise SweepError(f"no Ray cluster answers at {address} ({exc.strerror or exc}): start one there "
                         "(`ray start --head` on that machine) or leave --address/RAY_ADDRESS unset to run on "
                         "this machine") from None


def connect(address: str | None, jobs: int) -> None:
    import ray

    quiet = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    if address:
        try:
            ray.init(address=address, **quiet)
        except ConnectionError as exc:
            raise SweepError(f"Ray address {address}: {exc}") from None
    else:
        os.environ.pop("RAY_ADDRESS", None)  # local means local, whatever the environment says
        ray.init(num_cpus=jobs, include_dashboard=False, **quiet)


def train_task(build_dir: str, run: dict, threads: int, *parents) -> str:
    """One (config, seed, fold) run on a Ray worker; `parents` (the float runs it starts from or
    distils from) are only awaited."""
    train_one(Path(build_dir), run, threads)
    return run["name"]


def run_on_ray(stages: list[list[dict]], build_dir: Path, address: str | None, jobs: int, cpus_per_run: int,
               report=print) -> list[str]:
    """Every unfinished run as a Ray task (finished ones start nothing, and with nothing to do Ray is
    not started at all). Returns the names of the runs started; failures are collected, then raised
    as one SweepError once every other run has ended."""
    todo = schedule(stages, build_dir, lambda run, parents: (run, parents))
    if not todo:
        return []
    import ray

    build_dir.mkdir(parents=True, exist_ok=True)
    connect(address, jobs)
    try:
        task = ray.remote(train_task).options(num_cpus=cpus_per_run, max_retries=0)
        refs = {}
        for name, (run, parents) in todo.items():  # insertion order: a float run before its dependants
            refs[name] = task.remote(str(build_dir.resolve()), run, cpus_per_run, *[refs[p[0]["name"]] for p in parents])
        names = {ref: name for name, ref in refs.items()}
        pending, failed = list(refs.values()), []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(done[0])
                report(names[done[0]])
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                failed.append(f"{names[done[0]]}: {str(cause).strip().splitlines()[-1]}")
        if failed:
            raise SweepError(f"{len(failed)} of {len(refs)} runs failed; first: {failed[0]}")
    finally:
        ray.shutdown()
    return list(todo)
