"""What linearisation needs to know about raking: the margins coded on the respondents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError


@dataclass(frozen=True)
class Calibration:
    """The margins a design's weights were calibrated (raked) to, coded on the respondents.

    ``codes`` is ``(n, M)``: each respondent's category on each of the ``M`` margins, numbered
    ``0..sizes[m]-1`` (``-1``: in no category of that margin); ``base`` the weights the raking
    started from (the design weights); ``index`` the respondents, in the order of the rows.
    Built by :func:`social_licence.weighting.calibration`; a :class:`SurveyDesign` given one
    linearises its estimators with the calibration residuals (see the module docstring).
    """

    codes: np.ndarray
    sizes: tuple[int, ...]
    base: np.ndarray
    index: pd.Index

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.sizes):
            raise EstimationError(
                f"calibration codes must be (rows, {len(self.sizes)} margins), not {codes.shape}"
            )
        if len(self.base) != codes.shape[0] or len(self.index) != codes.shape[0]:
            raise EstimationError("calibration codes, base weights and index differ in length")
        if codes.size and ((codes >= np.asarray(self.sizes)[None, :]) | (codes < -1)).any():
            raise EstimationError("calibration codes outside their margins' categories")
