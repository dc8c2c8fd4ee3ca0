"""A Policy's plugins inside a cpex manager, following the policy's reloads.

The policy knows no manager: registering subscribes a listener to the policy's
reloads, and the listener swaps the manager's plugins. The listener lives exactly as
long as the manager's registry (it is kept in a table keyed weakly on it, and the
policy holds it weakly), so the policy never keeps the manager alive.

Fusing (`groups`): a manager's plugins are all in its registry, so with `fuse=True`
(the default) the policy's plugins are shaped around what else is there, the
"barriers": consecutive priorities of a mode share one plugin unless another plugin
of that mode sits between them on one of their hooks. cpex has no public way to add
a plugin after `initialize()`; a host that adds one anyway goes through the
registry's `register`, which registering wraps, and another policy registering or
reloading swaps its plugins the same way: every change re-shapes each policy
registered there around the others until none changes (within a round a policy's
plugins only ever split, so this ends), before the registry serves another call.
`fuse=False` keeps one plugin per (mode, priority) whatever the manager holds.
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
from ...runtime.modes import MODES
from .binding import RulesPlugin, build_plugins
from .groups import Barriers, shape
from .writes import dropped_writes, hook_policies

if TYPE_CHECKING:
    from ...policy.loading import Compiled
    from ...policy.policy import Policy

_SWAP_TIMEOUT = 10.0
_MAX_SETTLE = 1000  # rounds of re-shaping; past it every policy there gets exact plugins
# the loop each managed manager's calls run on, for reloads from other threads
_LOOPS: weakref.WeakKeyDictionary[Any, asyncio.AbstractEventLoop] = weakref.WeakKeyDictionary()
# a manager's registry (cpex's Borg `PluginManager`s share one) -> id(policy) -> (the
# policy, whether it fuses, the listener that resyncs it)
_FOLLOWERS: weakref.WeakKeyDictionary[
    Any, dict[int, tuple[Policy, bool, Callable[[Compiled], None]]]
] = weakref.WeakKeyDictionary()
# registry -> its own `register`, which ours call (the wrapper re-shapes on the others')
_ORIGINAL: weakref.WeakKeyDictionary[Any, Callable[..., None]] = weakref.WeakKeyDictionary()


def register_plugins(policy: Policy, manager: Any, fuse: bool = True) -> list[RulesPlugin]:
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
    with contextlib.suppress(RuntimeError):  # no loop running: reloads swap in place
        _LOOPS[manager] = asyncio.get_running_loop()
    registry = manager._registry
    _watch(registry)
    _follow(policy, manager, fuse)
    _swap(policy, manager)
    return _registered(policy, registry)


def _watch(registry: Any) -> None:
    """Re-shape our plugins whenever anyone else's are registered into the registry
    (the host's own, as we do it), so a plugin added between two fused priorities
    runs between them from its first call."""
    if "register" in vars(registry):  # wrapped already
        return
    original = registry.register
    held = weakref.ref(registry)

    def register(plugin: Any, *args: Any, **kwargs: Any) -> None:
        original(plugin, *args, **kwargs)
        alive = held()
        if alive is not None:
            _settle(alive)

    _ORIGINAL[registry] = original
    registry.register = register


def _follow(policy: Policy, manager: Any, fuse: bool) -> None:
    followers = _FOLLOWERS.setdefault(manager._registry, {})
    known = followers.get(id(policy))
    if known is not None:  # registered twice: still one swap per reload
        followers[id(policy)] = (policy, fuse, known[2])
        return
    held = weakref.ref(manager)

    def reloaded(compiled: Compiled) -> None:
        alive = held()
        if alive is not None:
            resync(policy, alive)

    followers[id(policy)] = (policy, fuse, policy.subscribe(reloaded))


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


def barriers(policy: Policy, registry: Any) -> Barriers:
    """The registry's plugins other than those `policy` registered, as `groups` weighs
    them: (mode, priority, hooks) of each that cpex runs."""
    found = set()
    mine = set(map(id, _registered(policy, registry)))
    for ref in list(registry._plugins.values()):
        mode = str(getattr(ref.mode, "value", ref.mode))
        if id(ref.plugin) not in mine and mode in MODES:  # a disabled plugin never runs
            hooks = frozenset(str(getattr(h, "value", h)) for h in ref.hooks)
            found.add((mode, int(ref.priority), hooks))
    return frozenset(found)


def _registered(policy: Policy, registry: Any) -> list[RulesPlugin]:
    """`policy`'s plugins that registering put there (not ones handed to the host)."""
    plugins = [ref.plugin for ref in list(registry._plugins.values())]
    return [
        p for p in plugins if isinstance(p, RulesPlugin) and p.policy is policy and p.follow is None
    ]


def _install(policy: Policy, registry: Any, fuse: bool, force: bool) -> bool:
    """Swap `policy`'s plugins in the registry for its current version's, shaped
    around the others (False: `force` is off and they already are)."""
    around = barriers(policy, registry) if fuse else None
    old = _registered(policy, registry)
    current = all(p.compiled is policy.compiled for p in old)
    if (
        not force
        and current
        and {p.key for p in old} == set(shape(policy.compiled, policy.catalog, around))
    ):
        return False
    new = build_plugins(policy, barriers=around)
    register = _ORIGINAL.get(registry, registry.register)
    # no await and no callback in here: the event loop sees the registry before or after
    for plugin in old:
        registry.unregister(plugin.name)
    for plugin in new:
        register(plugin)  # no public API for runtime registration in cpex 0.1.4
    return True


def _swap(policy: Policy, manager: Any) -> None:
    """`policy`'s current version into the manager, then every policy registered
    there re-shaped around the others until none changes."""
    registry = manager._registry
    followers = _FOLLOWERS.get(registry, {})
    fuse = followers[id(policy)][1] if id(policy) in followers else False
    _install(policy, registry, fuse, force=True)
    _settle(registry)


def _settle(registry: Any) -> None:
    followers = _FOLLOWERS.get(registry, {})
    for _ in range(_MAX_SETTLE):
        if not any([_install(p, registry, f, force=False) for p, f, _ in list(followers.values())]):
            return
    for p, _, _ in list(followers.values()):  # not expected: fall back to exact plugins
        _install(p, registry, False, force=True)


async def new_manager(
    policy: Policy, timeout: float = 30, fuse: bool = True
) -> TenantPluginManager:
    """`await policy.manager()`: a new manager whose payload policies fit the rules."""
    manager = TenantPluginManager(
        Config(plugins=[]),
        timeout=timeout,  # annotated int in cpex; a float works
        hook_policies=hook_policies(policy),
    )
    await manager.initialize()
    register_plugins(policy, manager, fuse)
    return manager
