"""Campaigns on Dask distributed (projcomp/campaigns.py): the ``--scheduler`` option.

One 2-worker LocalCluster (one thread each) serves the module: results in task order and
equal to the serial map, a task that kills its worker once is rerun and counted once,
progress reaches the total, and ``verify``'s claims give the same outcomes and instance
counts as in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from numerics.campaigns import serial_map
from projcomp import campaigns
from projcomp.campaigns import SchedulerError, mapper_for, parse_scheduler
from projcomp.cli import main

distributed = pytest.importorskip("distributed")

# Cheap claims with exact evidence only (no sympy proofs on the workers), each finding a
# counterexample by a seeded search: about 0.5 s together on a quiet machine.
CLAIMS = ["C11", "C12"]
# The task that kills its worker the first time it runs.
DOOMED = 3


def seeded_draw(seed: int) -> list[float]:
    """A task whose result depends on its seed alone."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(4, generator=g, dtype=torch.float64).tolist()


def dies_once(task: tuple[str, int]) -> int:
    """Logs each run of task ``i`` in ``folder``; task ``DOOMED`` kills its worker process
    on its first run (a marker file remembers it), as a crash or an OOM kill would."""
    folder, i = Path(task[0]), task[1]
    with open(folder / f"runs-{i}", "a") as log:
        log.write("x")
    marker = folder / "killed"
    if i == DOOMED and not marker.exists():
        marker.touch()
        os._exit(1)
    return i * i


@pytest.fixture(scope="module")
def local2():
    """``--scheduler local:2``, with this module's task functions pickled by value (the
    workers cannot import tests/)."""
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    seen: list[tuple[int, int]] = []
    with mapper_for("local:2", progress=lambda done, total, _: seen.append((done, total))
                    ) as mapper:
        yield mapper, seen
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.parametrize("text, parsed", [
    (None, None), ("local:1", ("local", 1)), ("local:16", ("local", 16)),
    ("tcp://10.0.0.5:8786", ("address", "tcp://10.0.0.5:8786")),
    ("scheduler-host:8786", ("address", "scheduler-host:8786")),
])
def test_parse_scheduler(text, parsed):
    assert parse_scheduler(text) == parsed


@pytest.mark.parametrize("text", ["local:0", "local:", "local:two", "local", "", "cluster",
                                  "tcp://host", "http//x:1"])
def test_bad_scheduler_is_one_line_exit_2(text, capsys):
    with pytest.raises(SchedulerError, match="--scheduler"):
        parse_scheduler(text)
    assert main(["verify", "--scheduler", text]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--scheduler" in err[0] and "Traceback" not in err[0]


def test_absent_scheduler_is_serial():
    with mapper_for(None) as mapper:
        assert mapper is serial_map


def test_unreachable_address_exits_2(monkeypatch, capsys, tmp_path):
    """Nobody listens on port 1: one line naming --scheduler, no report written."""
    monkeypatch.setattr(campaigns, "CONNECT_TIMEOUT_S", 1)
    assert main(["verify", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("projcomp: error: --scheduler tcp://127.0.0.1:1")
    assert not list(tmp_path.iterdir())


def test_results_in_task_order_and_equal_to_serial(local2):
    mapper, seen = local2
    seeds = [7, 0, 3, 11, 5, 2, 9, 1]
    assert mapper(seeded_draw, seeds) == serial_map(seeded_draw, seeds)
    assert seen[-1] == (len(seeds), len(seeds))
    assert mapper(seeded_draw, []) == []


def test_dead_worker_task_rerun_and_counted_once(local2, tmp_path):
    mapper, _ = local2
    tasks = [(str(tmp_path), i) for i in range(8)]
    assert mapper(dies_once, tasks) == [i * i for i in range(8)]
    assert (tmp_path / "killed").exists()
    runs = {i: len((tmp_path / f"runs-{i}").read_text()) for i in range(8)}
    # the doomed task ran twice (killed, then completed); every other at least once (a
    # result still on the dead worker may be recomputed, but it is returned once)
    assert runs[DOOMED] == 2 and all(n >= 1 for n in runs.values())


# The serial run in a fresh process, as `projcomp verify` starts one: a claim's search in
# this pytest process, after hundreds of other tests, was seen to find a different first
# counterexample (C11: gap 0.525 against 0.537 in every fresh process; same outcome), an
# in-process history dependence still to be traced.
SERIAL = ("import json; from numerics.campaigns import serial_map; "
          "from projcomp.verify import claim_task; "
          f"print(json.dumps([[r.outcome, r.as_predicted, r.instances, r.methods, e.details] "
          f"for r, e in serial_map(claim_task, {CLAIMS!r})]))")


def test_verify_claims_as_tasks_match_serial(local2):
    from projcomp.verify import claim_task

    mapper, _ = local2
    remote = mapper(claim_task, CLAIMS)
    done = subprocess.run([sys.executable, "-c", SERIAL], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parents[1])
    local = json.loads(done.stdout)
    assert [r.id for r, _ in remote] == CLAIMS
    for (a, ea), b in zip(remote, local, strict=True):
        assert [a.outcome, a.as_predicted, a.instances, list(a.methods), ea.details] == b


def test_report_records_the_run_and_its_speedup():
    from projcomp.reports import run_lines
    from projcomp.verify import RunTiming, results_document

    timing = RunTiming("local:2", wall_seconds=40.0, claim_seconds=70.0)
    assert results_document([], timing)["run"] == {
        "scheduler": "local:2", "wall_seconds": 40.0, "claim_seconds": 70.0, "speedup": 1.75}
    assert "speed-up 1.75×" in " ".join(run_lines(timing))
    assert "run" not in results_document([]) and run_lines(None) == []
