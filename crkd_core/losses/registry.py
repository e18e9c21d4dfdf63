"""KD terms in a registry: a run's KD is a mapping of term names to weights and options.

    feature=10,logit=5:T=8     ->  {"feature": {"weight": 10.0}, "logit": {"weight": 5.0, "T": 8.0}}

A term is declared once, in its own `kd_*.py` file of this package (found and imported by
`crkd_core.losses`), with `@kd_term`: its name, its key in the logs, its default weight and its
options with their defaults. Its builder gets LRINet's variant (scale | recover) and the options,
and returns a module called as `fn(student: SLROutput, teacher: SLROutput) -> Tensor`:

    @kd_term("logit", key="kd_logit", weight=25.0, T=8.0)
    def logit_term(variant: str, T: float) -> LogitKD:
        return LogitKD(T)

The old spellings (`--kd none|feature|logit|both`, `--alpha`, `--beta`, `--temperature`) are
names for such mappings: `LEGACY_MODES` and `LEGACY_OPTIONS` below are the only place they are
read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..registry import Registry

Terms = dict[str, dict[str, float]]  # term name -> {"weight": w, option: value, ...}


@dataclass(frozen=True)
class KDTerm:
    """A KD term's declaration (see the module docstring)."""

    name: str  # as written in `--kd` and in config.json's kd_terms
    key: str  # its loss's name in logs and metrics ("kd_feat")
    weight: float  # default weight, where neither the run nor its preset names one
    options: dict[str, float]  # option -> default
    build: Callable[..., Callable]


KD_TERMS: Registry[KDTerm] = Registry("KD term")


def kd_term(name: str, *, key: str, weight: float, **options: float):
    """Register the decorated builder as the KD term `name` (see the module docstring).

    `options` are the term's settings and their defaults, numbers > 0 (as T); its weight is
    set apart from them, a number >= 0."""

    def deco(build: Callable) -> Callable:
        KD_TERMS.register(name)(KDTerm(name, key, float(weight), dict(options), build))
        return build

    return deco


# The old spellings: each --kd mode names a set of terms; --alpha, --beta and --temperature
# each name one option of one term.
LEGACY_MODES: dict[str, tuple[str, ...]] = {
    "none": (),
    "feature": ("feature",),
    "logit": ("logit",),
    "both": ("feature", "logit"),
}
LEGACY_OPTIONS: dict[str, tuple[str, str]] = {
    "alpha": ("feature", "weight"),
    "beta": ("logit", "weight"),
    "temperature": ("logit", "T"),
}


def parse_kd(spec: str | Mapping) -> Terms:
    """The terms a `--kd` value names, with only what it sets: a mode name (none, feature,
    logit, both), or `name[=weight][:option=value...]` joined by commas, or a mapping of
    names to a weight or to a dict of weight and options."""
    if isinstance(spec, Mapping):
        return {name: _term_values(name, value) for name, value in spec.items()}
    if not isinstance(spec, str):
        raise ConfigError(f"--kd must be a mode or terms such as feature=10,logit=5, not {spec!r}")
    if spec in LEGACY_MODES:
        return {name: {} for name in LEGACY_MODES[spec]}
    terms: Terms = {}
    for part in spec.split(","):
        head, *options = part.strip().split(":")
        name, _, weight = head.partition("=")
        values = {"weight": weight} if weight else {}
        for option in options:
            key, eq, value = option.partition("=")
            if not eq:
                raise ConfigError(f"--kd {spec}: option {option!r} of {name} needs a value")
            values[key.strip()] = value
        if name.strip() in terms:
            raise ConfigError(f"--kd {spec}: term {name.strip()!r} is named twice")
        terms[name.strip()] = _term_values(name.strip(), values)
    return terms


def _term_values(name: str, value: Any) -> dict[str, float]:
    term = KD_TERMS.get(name)
    values = value if isinstance(value, Mapping) else {"weight": value}
    out = {}
    for key, v in values.items():
        if key != "weight" and key not in term.options:
            known = ", ".join(["weight", *term.options])
            raise ConfigError(f"KD term {name} has no option {key!r}; it has {known}")
        out[key] = _number(f"{name}'s {key}", v, positive=key != "weight")
    return out


def _number(what: str, value: Any, positive: bool) -> float:
    try:
        x = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        x = float("nan")
    if not (x > 0 if positive else x >= 0) or x == float("inf"):
        raise ConfigError(f"KD {what} must be a finite number {'> 0' if positive else '>= 0'}")
    return x


def resolve_kd(
    spec: str | Mapping, legacy: Mapping[str, float | None], weights: Mapping[str, float]
) -> Terms:
    """Every term's weight and options in effect, in a stable order (by name).

    What `spec` sets comes first, then the old spellings in `legacy` ({"alpha": 10, ...}; None
    is unset; they count only for the terms in use), then the preset's `weights`, then each
    term's own defaults."""
    if unknown := set(legacy) - set(LEGACY_OPTIONS):
        raise ConfigError(f"unknown KD setting(s) {sorted(unknown)}; use --kd's term options")
    terms = parse_kd(spec)
    out: Terms = {}
    for name in sorted(terms):
        term = KD_TERMS.get(name)
        values = {"weight": weights.get(name, term.weight), **term.options}
        for old, (target, key) in LEGACY_OPTIONS.items():
            if target == name and legacy.get(old) is not None:
                if key in terms[name]:
                    raise ConfigError(f"the {name} term's {key} is set twice (--kd and --{old})")
                values[key] = float(legacy[old])
        out[name] = values | terms[name]
    return out


def kd_label(terms: Mapping) -> str:
    """The run's `kd` in metrics.json: the mode name where one names these terms, else the
    names joined by '+'."""
    names = tuple(sorted(terms))
    return next((m for m, t in LEGACY_MODES.items() if t == names), "+".join(names))


def recorded_terms(config: Mapping[str, Any]) -> Terms:
    """The terms of a config.json or metrics.json written before KD terms had names (its kd,
    alpha, beta and temperature), or of a newer one (its kd_terms)."""
    if "kd_terms" in config:
        return {name: dict(values) for name, values in config["kd_terms"].items()}
    names = LEGACY_MODES.get(config.get("kd", "none"), ())
    out: Terms = {name: {} for name in names}
    for old, (name, key) in LEGACY_OPTIONS.items():
        if name in out and config.get(old) is not None:
            out[name][key] = config[old]
    return out


def kd_settings(terms: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The terms flat, as `stale_settings` compares them: an option with an old name under
    that name ("beta"), the others as "kd_terms.<term>.<option>"."""
    old = {target: name for name, target in LEGACY_OPTIONS.items()}
    return {
        old.get((name, key), f"kd_terms.{name}.{key}"): value
        for name, values in terms.items()
        for key, value in values.items()
    }
