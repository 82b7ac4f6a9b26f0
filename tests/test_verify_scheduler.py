"""``projcomp verify --scheduler``: the claims are tasks of the mapper, and C15's sweep
(the one claim whose exact runner maps a campaign of its own) runs its families on the
same mapper (issue 15, item 3). Checked with recording serial mappers: which tasks go
where, in which order; the results of Dask mappers equal serial ones (test_campaigns)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from projcomp import verify as verify_module
from projcomp.claims import REGISTRY
from projcomp.evidence import Evidence


def test_only_c15_maps_a_campaign_of_its_own() -> None:
    assert [s.claim.id for s in REGISTRY if verify_module.maps_tasks(s.claim.id)] == ["C15"]


def test_c15_sweep_gets_the_mapper_and_the_other_claims_are_tasks(monkeypatch) -> None:
    from projcomp.claims import c15_heuristic_power as c15

    calls: list[tuple[str, list]] = []

    def mapper(fn, tasks):
        calls.append((getattr(fn, "func", fn).__name__, list(tasks)))
        return [fn(t) for t in tasks]

    def claim_task(claim_id, profile="default"):
        return SimpleNamespace(id=claim_id, outcome="holds", seconds=0.0), Evidence("holds")

    swept = []

    def sweep(per_class, sampled, mapper_given):
        swept.append(mapper_given)
        return []

    monkeypatch.setattr(verify_module, "claim_task", claim_task)
    monkeypatch.setattr(c15.power, "sweep", sweep)
    def measure(*args, **kwargs):  # C15 stops here: its sweep has run
        raise RuntimeError("measured")

    monkeypatch.setattr(c15.power, "measure", measure)
    ids = [s.claim.id for s in REGISTRY]
    with pytest.raises(RuntimeError, match="measured"):
        verify_module.verify(progress=lambda line: None, mapper=mapper)
    assert calls[0] == ("claim_task", [i for i in ids if i != "C15"])
    assert swept == [mapper]
