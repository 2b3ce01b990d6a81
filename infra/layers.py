"""The typed settings layer of infra, the producer and the processor, built on pydantic-settings.

In: layers of raw values (variables from a `load_env()` mapping, a config file, flags), each a
pydantic-settings source that remembers the name every value was given by. Out: the validated
pydantic model, or one ConfigError line naming the setting as it was given (flag, variable or
config key), its other names, what a valid value looks like and an example.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BeforeValidator, ConfigDict, ValidationError, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from infra.env import ConfigError, parse_duration

Path = tuple[str, ...]  # where a value sits: ("traffic", "rate"), or ("KAFKA_TOPIC",)
Model = TypeVar("Model", bound=BaseSettings)

# The config of every frozen settings dataclass: unknown keys refused, fields filled by their
# Python name or their user-facing alias, no inf or nan anywhere.
FROZEN = ConfigDict(
    extra="forbid", validate_by_name=True, validate_by_alias=True, allow_inf_nan=False
)
DURATION_PATTERN = r"^\s*[0-9]*\.?[0-9]+\s*(ms|s|m|h|d)?\s*$"


def _duration(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: write it like 30s, 20m, 2h or 1d")
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool):  # True is an int to Python, never a count or a rate to us
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str):
        return value.strip().replace("_", "")
    return value


# Seconds, given as `30s`, `20m`, `2h`, `1d`, `500ms` or a plain number of seconds, everywhere.
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ]
        }
    ),
]
Number = Annotated[float, BeforeValidator(_number)]
Count = Annotated[int, BeforeValidator(_number)]


class Named(Protocol):
    """How a user sets one setting: its names and what a valid value looks like."""

    @property
    def key(self) -> str:
        """The config key, `section.name` ("" when it is only a variable)."""
        ...

    @property
    def flag(self) -> str:
        """The command-line flag, or ""."""
        ...

    @property
    def env(self) -> str:
        """The environment variable, or ""."""
        ...

    @property
    def example(self) -> str:
        """A valid value as written after the flag or the `=` of the variable."""
        ...

    def rule(self) -> str:
        """What a valid value is, in words."""
        ...


@dataclass(frozen=True)
class Spec:
    """A setting without a numeric range: its names, the rule in words and an example."""

    key: str = ""
    flag: str = ""
    env: str = ""
    example: str = ""
    text: str = ""
    secret: bool = False

    def rule(self) -> str:
        """What a valid value is, in words."""
        return self.text


def names(spec: Named) -> list[str]:
    """Every name a setting goes by: flag, variable, `config section.key`."""
    return [n for n in (spec.flag, spec.env, f"config {spec.key}" if spec.key else "") if n]


def label(spec: Named, given: str = "") -> str:
    """`--rate (PRODUCER_RATE, config traffic.rate)`, the name it was given by first."""
    every = names(spec)
    first = given if given in every else (every[0] if every else given)
    rest = [n for n in every if n != first]
    return f"{first} ({', '.join(rest)})" if rest else first


def for_example(spec: Named, given: str = "") -> str:
    """A valid setting written the way it was given: `--rate 50`, `PRODUCER_RATE=50`, or
    `rate = 50 under [traffic]`."""
    every = names(spec)
    first = given if given in every else (every[0] if every else "")
    if first == spec.flag and spec.flag:
        return f"{spec.flag} {spec.example}"
    if first == spec.env and spec.env:
        return f"{spec.env}={spec.example}"
    section, _, name = spec.key.rpartition(".")
    return f"{name} = {spec.example} under [{section}]" if section else f"{name} = {spec.example}"


class Layer(PydanticBaseSettingsSource):
    """One layer of raw values (nested like the model, keyed by alias), as a pydantic-settings
    source, with the name each value was given by (`--rate`, `PRODUCER_RATE`, `config ...`)."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        values: dict[str, Any],
        given: dict[Path, str],
        where: str = "",
    ) -> None:
        super().__init__(settings_cls)
        self.values = values
        self.given = given
        self.where = where  # "in shop.toml", for an unknown key

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: the layer hands over all its values at once in __call__."""
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        """The layer's values, nested like the model."""
        return self.values

    def name_of(self, path: Path) -> str | None:
        """How the value at `path` (or the nearest enclosing one) was given, if this layer has
        it."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.given:
                return self.given[path[:end]]
        return None

    def raw(self, path: Path) -> Any:
        """The value at `path` as this layer holds it (text, for flags and variables)."""
        value: Any = self.values
        for part in path:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value


def put(values: dict[str, Any], path: Path, value: Any) -> None:
    """Set `value` at `path` in nested dicts."""
    for part in path[:-1]:
        values = values.setdefault(part, {})
    values[path[-1]] = value


def env_layer(
    settings_cls: type[BaseSettings], env: Mapping[str, str], where: Mapping[str, Path]
) -> Layer:
    """The variables named in `where` (variable -> path) that `env` sets to a non-empty value."""
    values: dict[str, Any] = {}
    given: dict[Path, str] = {}
    for variable, path in where.items():
        raw = env.get(variable)
        if raw is not None and raw.strip():
            put(values, path, raw.strip())
            given[path] = variable
    return Layer(settings_cls, values, given)


def load(
    model: type[Model],
    layers: Sequence[Layer],
    specs: Mapping[Path, Named],
    known: Callable[[Path], list[str]] | None = None,
) -> Model:
    """Validate the layers (the first wins) into `model`; a bad value is one ConfigError line.

    Each layer is validated on its own too, so a bad variable is reported even where a flag
    overrides it. `known(path)` lists the keys allowed where an unknown one was found.
    """
    merged = _validate(model, layers, specs, known)
    for layer in layers[1:]:
        _validate(model, [layer], specs, known)
    return merged


def _validate(
    model: type[Model],
    layers: Sequence[Layer],
    specs: Mapping[Path, Named],
    known: Callable[[Path], list[str]] | None,
) -> Model:
    try:
        return model(_build_sources=(tuple(layers), {}))
    except ValidationError as exc:
        raise one_line(exc, layers, specs, known) from None


def one_line(
    exc: ValidationError,
    layers: Sequence[Layer],
    specs: Mapping[Path, Named],
    known: Callable[[Path], list[str]] | None = None,
) -> ConfigError:
    """The first error of a pydantic ValidationError as one line naming the setting."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(str(part) for part in error["loc"])
    path = next((loc[:end] for end in range(len(loc), 0, -1) if loc[:end] in specs), loc)
    layer = next((layer for layer in layers if layer.name_of(path) is not None), None)
    given = layer.name_of(path) or "" if layer else ""
    spec = specs.get(path)
    if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        where = f" {layer.where}" if layer and layer.where else ""
        allowed = known(loc[:-1]) if known else []
        listed = f"; known: {', '.join(allowed)}" if allowed else ""
        return ConfigError(f"unknown setting {'.'.join(loc)}{where}{listed}")
    if spec is None:  # a setting without a spec is a bug of ours, still one line
        return ConfigError(f"{'.'.join(loc)}: {error['msg']}")
    if error["type"] == "missing":
        return ConfigError(
            f"{spec.env} is not set (looked in the environment, .env and .env.example); "
            f"set it, for example {spec.env}={spec.example}"
        )
    raw = layer.raw(loc) if layer else None
    shown = (
        "****"
        if getattr(spec, "secret", False)
        else _show(raw if raw is not None else error.get("input"))
    )
    name, example = label(spec, given), for_example(spec, given)
    if given and given == spec.env:  # a variable reads best as it is written: NAME='value'
        rest = name[len(given) :]
        name, shown = f"{given}={shown}{rest}", ""
    if error["type"] == "value_error":  # our own validator's words
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
        value = f", not {shown}" if shown and shown not in reason else ""
        return ConfigError(f"{name}: {reason}{value}; for example {example}")
    value = f", not {shown}" if shown else ""
    return ConfigError(f"{name} must be {spec.rule()}{value}; for example {example}")


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value)


class Layered(BaseSettings):
    """A pydantic-settings model that reads only the layers it is given (`load`), never
    os.environ or a .env file by itself: the entry point read those once, into a mapping."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what the caller layers: never os.environ by itself."""
        return (init_settings,)


VariablesModel = TypeVar("VariablesModel", bound=Layered)


def from_variables(
    model: type[VariablesModel],
    specs: Mapping[str, Spec],
    env: Mapping[str, str],
    flags: Mapping[str, object] | None = None,
) -> VariablesModel:
    """Validate `model` from `env` (a `load_env()` mapping) and the flags that were given
    (keyed by the variable they stand for: `{"KAFKA_TOPIC": "x"}`), flags first."""
    by_env = {spec.env: name for name, spec in specs.items()}
    layers = []
    if flags:
        values = {by_env[k]: str(v) for k, v in flags.items() if v is not None}
        given: dict[Path, str] = {
            (by_env[k],): specs[by_env[k]].flag or k for k, v in flags.items() if v is not None
        }
        layers.append(Layer(model, values, given))
    layers.append(env_layer(model, env, {spec.env: (name,) for name, spec in specs.items()}))
    return load(model, layers, {(name,): spec for name, spec in specs.items()})
