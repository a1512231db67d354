"""Target kinds → the propagator that writes them: the one table the target loop opens a
target by. A new kind is its config model (mdm/config/targets.py), its module here, and one
entry in TARGET_KINDS; tests/unit/test_kind_registry.py fails while a declared kind has none."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, get_args

from mdm.config.loader import Project
from mdm.config.targets import AnyTarget, TargetSpec
from mdm.errors import ConfigError
from mdm.propagate.amqp import AmqpPropagator
from mdm.propagate.base import Propagator
from mdm.propagate.nats import NatsPropagator
from mdm.propagate.rest import RestPropagator
from mdm.propagate.sql import SqlPropagator


class PropagatorClass(Protocol):
    """A propagator's constructor: the target's spec (of its own kind) and the project."""

    def __call__(self, target: Any, project: Project) -> Propagator: ...


TARGET_KINDS: Mapping[str, PropagatorClass] = {
    "rest": RestPropagator,
    "sql": SqlPropagator,
    "amqp": AmqpPropagator,
    "nats": NatsPropagator,
}


def declared_target_kinds() -> list[str]:
    """Every `kind:` the targets/*.yaml schema accepts (the discriminator values of TargetSpec)."""
    union = get_args(TargetSpec)[0]
    return [kind for model in get_args(union)
            for kind in get_args(model.model_fields["kind"].annotation)]


def propagator_class(target: AnyTarget,
                     kinds: Mapping[str, PropagatorClass] = TARGET_KINDS) -> PropagatorClass:
    """The propagator registered for the target's kind; a kind without one is a ConfigError
    naming the target's file, never a fallback to another kind."""
    try:
        return kinds[target.kind]
    except KeyError:
        raise ConfigError(f"targets/{target.name}.yaml", [
            f"kind: no propagator is registered for kind {target.kind!r} (registered: "
            f"{', '.join(sorted(kinds))}); add it to TARGET_KINDS in mdm/propagate/registry.py"],
        ) from None
