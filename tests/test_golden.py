"""Results pinned to the model version: a seed-pinned small forecast against stored numbers.

Any change to results fails this test. Then bump ``MODEL_VERSION`` (forecaster/outcomes.py), add
a line to CHANGELOG.md saying what moved and why, and store the new numbers with
``.venv/bin/python tests/test_golden.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from forecaster import MODEL_VERSION, PRESETS, ForecastRequest, forecast

GOLDEN = Path(__file__).with_name("golden") / "summary.json"
REQUEST = ForecastRequest(
    policy=PRESETS["high-level-opening"], horizon_years=6, n_draws=300, seed=20261202, block_size=100
)
#: Summary variables pinned, at every year and economy.
PINNED = (
    "tfp_mean", "tfp_growth_mean", "tfp_growth_quantile", "diff_tfp_mean", "diff_static_gain_mean",
    "diff_real_income_mean", "nqpf_growth_mean", "channel_growth_mean", "prob_beats_baseline",
)
#: Results are bit-identical on one machine; across CPUs and numpy builds the float32 exp and log
#: may round differently in the last bit, far below any change of the model.
RTOL = 1e-7


def current() -> dict[str, object]:
    summary = forecast(REQUEST).summary
    return {
        "model_version": MODEL_VERSION,
        "request": REQUEST.to_dict(),
        "values": {name: summary[name].values.tolist() for name in PINNED},
    }


def test_results_match_the_model_version() -> None:
    stored = json.loads(GOLDEN.read_text())
    now = current()
    changed = [
        name for name in PINNED
        if not np.allclose(now["values"][name], stored["values"][name],  # type: ignore[index]
                           rtol=RTOL, atol=1e-12)
    ]
    if changed:
        assert stored["model_version"] != MODEL_VERSION, (
            f"results changed ({changed}) but MODEL_VERSION is still {MODEL_VERSION}: bump it, add a "
            "CHANGELOG.md line, and store the new numbers (python tests/test_golden.py)"
        )
        raise AssertionError(f"store the numbers of {MODEL_VERSION} (python tests/test_golden.py)")
    assert stored["model_version"] == MODEL_VERSION, "the stored numbers are another version's"


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(current(), indent=1) + "\n")
    print(f"stored {GOLDEN} for model version {MODEL_VERSION}")
