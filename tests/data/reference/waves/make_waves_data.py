"""Write waves.csv, the input of waves_reference.R: two small waves of the synthetic survey.

Run from the repository root: ``python tests/data/reference/waves/make_waves_data.py``. Wave 1
is ``generate(400, seed=SEED, qa=False)``; wave 2 has 150 of its parents again (the panel
overlap) and the known change (see ``social_licence.synthetic.waves``).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from social_licence.synthetic.waves import generate_waves

HERE = Path(__file__).parent
ITEM = "acc_health__risk_scoring"
N, OVERLAP, SEED, WAVE2_SEED = 400, 150, 11, 12


def stacked() -> pd.DataFrame:
    wave1, wave2 = generate_waves(N, OVERLAP, SEED, WAVE2_SEED, qa=False)
    pieces = []
    for name, raw in (("wave1", wave1), ("wave2", wave2)):
        code = raw[ITEM].to_numpy()
        substantive = (code >= 1) & (code <= 5)
        pieces.append(
            pd.DataFrame(
                {
                    "wave": name,
                    "id": raw["respondent_id"],
                    "stratum": raw["stratum"],
                    "psu": raw["psu"],
                    "weight": raw["design_weight"],
                    "lone": np.where(raw["lone_parent"] == 1, "Yes", "No"),
                    "y": np.where(substantive, (code >= 4).astype(float), np.nan),
                    "item": np.where(substantive, code.astype(str), None),
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)


if __name__ == "__main__":
    stacked().to_csv(HERE / "waves.csv", index=False, float_format="%.10g")
