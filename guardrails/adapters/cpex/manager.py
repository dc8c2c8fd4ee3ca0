"""A Policy's plugins inside a cpex manager, following the policy's reloads.

The policy knows no manager: registering subscribes a listener to the policy's
reloads, and the listener swaps the manager's plugins. The listener lives exactly as
long as the manager (it is kept in a table keyed weakly on the manager, and the policy
holds it weakly), so neither keeps the other alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cpex.framework import TenantPluginManager
from cpex.framework.models import Config

from ...diagnostics import GuardrailsError
from .binding import RulesPlugin, build_plugins
from .writes import dropped_writes, hook_policies

if TYPE_CHECKING:
    from ...policy.loading import Compiled
    from ...policy.policy import Policy

_SWAP_TIMEOUT = 10.0
# the loop each managed manager's calls run on, for reloads from other threads
_LOOPS: weakref.WeakKeyDictionary[Any, asyncio.AbstractEventLoop] = weakref.WeakKeyDictionary()
# manager -> id(policy) -> the listener that resyncs it (one per policy and manager)
_LISTENERS: weakref.WeakKeyDictionary[Any, dict[int, Callable[[Compiled], None]]] = (
    weakref.WeakKeyDictionary()
)


def register_plugins(policy: Policy, manager: Any) -> list[RulesPlugin]:
    """`policy.register(manager)`: the current version's plugins into an initialized
    manager, which from now on follows the policy's reloads."""
    if not getattr(manager, "initialized", False):
        raise GuardrailsError(
            "register() needs an initialized cpex manager: `await manager.initialize()` "
            "first (initialize() clears anything registered before it)"
        )
    problems = dropped_writes(policy, manager)
    if problems:
        raise GuardrailsError(
            "this manager would drop what the rules' set/redact write, so a redaction "
            "would be reported but never reach the host: "
            + "; ".join(problems)
            + ". Give the manager a HookPayloadPolicy listing those fields "
            "(`hook_policies(policy)` builds them), or use `await policy.manager()`"
        )
    plugins = build_plugins(policy)
    for plugin in plugins:
        manager._registry.register(plugin)  # no public API for runtime registration in cpex 0.1.4
    with contextlib.suppress(RuntimeError):  # no loop running: reloads swap in place
        _LOOPS[manager] = asyncio.get_running_loop()
    _follow(policy, manager)
    return plugins


def _follow(policy: Policy, manager: Any) -> None:
    listeners = _LISTENERS.setdefault(manager, {})
    if id(policy) in listeners:  # registered twice: still one swap per reload
        return
    held = weakref.ref(manager)

    def reloaded(compiled: Compiled) -> None:
        alive = held()
        if alive is not None:
            resync(policy, alive)

    listeners[id(policy)] = policy.subscribe(reloaded)


def resync(policy: Policy, manager: Any) -> None:
    """After a reload: swap the manager's plugins for the current version's, in one step.

    cpex takes a call's plugin list when the call starts, so a call sees either the
    old plugins or the new ones, never a mix, and each is bound to its version. The
    swap must not interleave with the loop that runs the calls: from another thread
    it is handed to that loop and waited for (and done here if that loop does not
    get to it in time: the swap always installs the version current when it runs,
    so a late one cannot undo a newer reload).
    """
    loop = _LOOPS.get(manager)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None or loop is running or not loop.is_running():
        _swap(policy, manager)
        return

    async def swap() -> None:
        _swap(policy, manager)

    try:
        asyncio.run_coroutine_threadsafe(swap(), loop).result(timeout=_SWAP_TIMEOUT)
    except TimeoutError:
        _swap(policy, manager)


def _swap(policy: Policy, manager: Any) -> None:
    registry = manager._registry
    new = build_plugins(policy)
    old = [
        name
        for name, ref in list(registry._plugins.items())
        if isinstance(ref.plugin, RulesPlugin) and ref.plugin.policy is policy
    ]
    # no await and no callback in here: the event loop sees the registry before or after
    for name in old:
        registry.unregister(name)
    for plugin in new:
        registry.register(plugin)


async def new_manager(policy: Policy, timeout: float = 30) -> TenantPluginManager:
    """`await policy.manager()`: a new manager whose payload policies fit the rules."""
    manager = TenantPluginManager(
        Config(plugins=[]),
        timeout=timeout,  # annotated int in cpex; a float works
        hook_policies=hook_policies(policy),
    )
    await manager.initialize()
    register_plugins(policy, manager)
    return manager
