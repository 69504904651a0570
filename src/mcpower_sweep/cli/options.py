"""Options shared by the commands, checked with the API's own rules (``params.PARAMS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..params import PARAMS

F = TypeVar("F", bound=Callable[..., Any])

debug_option = click.option("--debug", is_flag=True, help="Show the full traceback on errors.")


def _text_value(text: str) -> int | float | str:
    """A flag's text as the number it spells (int before float), else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def checked(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback checking a flag with the API's rule for parameter ``name``
    (:data:`mcpower_sweep.params.PARAMS`), so the message is the API's, naming the flag."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        flag = max(param.opts, key=len)
        try:
            return PARAMS[name].check(_text_value(value), label=flag)
        except ValueError as err:
            raise click.UsageError(str(err), ctx=ctx) from None

    return callback


def target_power_options(func: F) -> F:
    """``--target-power``, and ``--target``: its older spelling, hidden, filling the same value."""
    check = checked("target_power")

    def alias(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.params["target_power"] = check(ctx, param, value)

    def primary(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        # not given: keep what the alias set (the alias may be processed first)
        return ctx.params.get("target_power") if value is None else check(ctx, param, value)

    func = click.option("--target", hidden=True, expose_value=False, callback=alias)(func)
    return click.option("--target-power", callback=primary, metavar="FLOAT",
                        help="Target power (default: the store's).")(func)  # type: ignore[return-value]


def ci_option(func: F) -> F:
    """``--ci/--no-ci``: Wilson 95% intervals are shown unless asked not to."""
    return click.option("--ci/--no-ci", default=True, show_default=True,
                        help="Show 95% Wilson intervals of power.")(func)  # type: ignore[return-value]
