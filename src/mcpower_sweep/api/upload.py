"""Empirical predictors from data: ``MCPower.upload_data(df, mode=...)`` (MCPower 1.4.1's).

The uploaded columns that name predictors of the formula replace those predictors'
simulated distributions (:mod:`mcpower_sweep.design.empirical` says how each mode draws
them); the outcome is still simulated from the effects set, and columns that are not
predictors (an id, the grouping, the outcome) are left out.  A column's type comes from its
data: a different ``set_variable_type`` for it is an error, and a factor's levels are the
data's (effects such as ``cyl[6]``).  ``"partial"``'s measured correlations are defaults:
``set_correlations`` overrides any pair.

Examples
--------
>>> import numpy as np
>>> from mcpower_sweep import MCPower
>>> rng = np.random.default_rng(1)
>>> pilot = {"age": rng.gamma(2.0, size=50), "smoker": rng.integers(0, 2, size=50)}
>>> model = (MCPower("y ~ age + smoker + (1|clinic)")
...          .set_cluster("clinic", ICC=0.1, n_clusters=20)
...          .upload_data(pilot, mode="partial", verbose=False)
...          .set_effects("age=0.2, smoker=0.3"))
>>> model.to_spec(400).predictors[1].type_text()
'binary(0.44)'
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..design.empirical import Upload, empirical_predictors, read_table
from ..design.predictors import Predictor

if TYPE_CHECKING:
    from typing_extensions import Self

# MCPower 1.4.1 warns when a strict bootstrap draws more than this many times the rows
# uploaded: each simulated data set then repeats many rows.
STRICT_REUSE_RATIO = 2.0


def _kind(p: Predictor) -> str:
    return {"binary": "binary", "factor": "factor"}.get(p.kind, "continuous")


def simulated_types(types: Mapping[str, Predictor], upload: Upload | None,
                    cluster_level_vars: Sequence[str] = ()) -> dict[str, Predictor]:
    """The predictors as simulated: the declared ``types`` with the uploaded ones in place.

    Raises ``ValueError`` when a declared type's kind differs from the data's, or when an
    uploaded predictor is constant within clusters (``cluster_level_vars``).

    Examples
    --------
    >>> import numpy as np
    >>> from mcpower_sweep.design.empirical import empirical_predictors
    >>> up = empirical_predictors({"x": np.arange(30.0)}, ["x"], "none")
    >>> simulated_types({"x": Predictor("x", "binary")}, up)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: set_variable_type: x=binary(0.5) but the uploaded column x is continuous: ...
    """
    if upload is None:
        return dict(types)
    out = dict(types)
    for name, p in upload.predictors.items():
        declared = types[name]
        if declared != Predictor(name) and _kind(declared) != upload.kinds[name]:
            raise ValueError(f"set_variable_type: {name}={declared.type_text()} but the "
                             f"uploaded column {name} is {upload.kinds[name]}: an uploaded "
                             "column takes its type from the data")
        if name in cluster_level_vars:
            raise ValueError(f"set_cluster: cluster_level_vars={list(cluster_level_vars)!r} "
                             f"holds {name!r}, an uploaded predictor: uploaded data are drawn "
                             "per observation (as in MCPower 1.4.1); simulate it instead")
        out[name] = p
    return out


def simulated_correlations(correlations: Mapping[tuple[str, str], float],
                           upload: Upload | None) -> dict[tuple[str, str], float]:
    """The measured correlations (``"partial"``) with the ones set overriding them."""
    return dict(correlations) if upload is None else {**upload.correlations, **correlations}


class UploadData:
    """``upload_data``, mixed into :class:`~mcpower_sweep.MCPower`."""

    _upload: Upload | None

    def upload_data(self, data: Any, columns: Sequence[str] | None = None,
                    mode: str = "partial", verbose: bool = True) -> Self:
        """Draw the formula's predictors found in ``data`` from their empirical distribution.

        Parameters
        ----------
        data
            A DataFrame, a mapping of columns, rows of values (with ``columns``) or a
            .csv / .tsv path; 20 to 1,000,000 rows without NaN or Inf.
        columns
            Names of the columns (for rows of values, or to rename a file's).
        mode
            ``"partial"`` (default): each predictor's distribution, and the continuous
            ones' rank correlations; ``"none"``: the distributions only; ``"strict"``:
            whole rows drawn with replacement (every dependence kept).
        verbose
            Print each column's type and whether it is a predictor.

        Examples
        --------
        >>> model = MCPower("y ~ x + (1|g)").upload_data(  # doctest: +SKIP
        ...     "pilot.csv", mode="strict")
        """
        table = read_table(data, columns)
        upload = empirical_predictors(table, self._parsed.predictors, mode)  # type: ignore[attr-defined]
        if verbose:
            print(f"upload_data: {upload.rows} rows, mode={mode!r}")
            for name in table:
                kind = upload.kinds.get(name)
                print(f"  {name}: {kind} predictor" if kind else
                      f"  {name}: not a predictor of the formula (left out)")
        self._upload = upload
        return self

    def _warn_strict_reuse(self, sample_size: int) -> None:
        """Warn when a strict bootstrap repeats many uploaded rows in each data set."""
        up = self._upload
        if up is not None and up.mode == "strict" and sample_size > STRICT_REUSE_RATIO * up.rows:
            warnings.warn(
                f"upload_data(mode='strict'): sample_size={sample_size} draws more than "
                f"{STRICT_REUSE_RATIO:g} times the {up.rows} uploaded rows, so each simulated "
                "data set repeats many of them; mode='partial' draws new rows", UserWarning,
                stacklevel=3)
