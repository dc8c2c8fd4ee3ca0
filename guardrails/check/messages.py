"""Checks of `append`/`prepend MESSAGE to messages` and `replace messages PATTERN
with TEXT`: the hook's host must take a changed message list back (a host table's
`messages`), a new message is `{"role": ..., "text": ...}` with a role the host takes,
and a text is a string (a string literal may show `{fact}` parts, as a reason does).
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, Severity
from ..runtime.modes import MODES
from ..runtime.ops import FrozenMap
from ..source import Span
from ..syntax import ast
from . import ir
from .catalog import Catalog, HookSpec
from .detectors import redaction
from .exprs import ExprChecker
from .names import LetTable
from .types import LIST, STR, Type

_KEYS = ("role", "text")


def check_message_action(
    action: ast.MessageAction,
    hook: HookSpec,
    catalog: Catalog,
    mode: str,
    exprs: ExprChecker,
    lets: LetTable,
) -> ir.MessageEdit:
    kind = action.kind
    if not MODES[mode].can_modify:
        article = "an" if mode[0] in "aeiou" else "a"
        exprs.error(
            "GR0232",
            f"`{kind}` in {article} {mode} rule has no effect: cpex discards its changes",
            action.span,
            hint="use mode transform (or sequential) for rules that change the payload",
        )
    path: tuple[ir.PathKey, ...] = (action.target.root, *action.target.keys)
    roles = hook.message_roles
    if path != ("messages",) or not roles:
        _not_here(action, hook, catalog, exprs)
        roles = roles or ("system", "user", "assistant")
    if kind == "replace":
        assert action.pattern is not None
        # a detector (`replace messages secrets with ...`) chooses as it redacts
        as_redact = ast.Redact(action.target, action.pattern, None, span=action.span)
        by_detector = redaction(as_redact, path, exprs, lets)
        text = _text(action.value, action.template, exprs)
        if by_detector is not None:
            return ir.MessageEdit(kind, path, text, roles, finder=by_detector.finder)
        patterns = exprs.pattern(action.pattern)
        assert isinstance(patterns.value, tuple)
        return ir.MessageEdit(kind, path, text, roles, patterns.value)
    return ir.MessageEdit(kind, path, _message(action, roles, exprs), roles)


def _not_here(
    action: ast.MessageAction, hook: HookSpec, catalog: Catalog, exprs: ExprChecker
) -> None:
    able = [h.name for h in catalog if h.message_roles]
    dotted = ".".join([action.target.root, *(str(k) for k in action.target.keys)])
    if hook.message_roles:
        message = f"`{action.kind}` changes a message list: on {hook.name} that is `messages`"
        hint = (
            "write `replace messages PATTERN with TEXT`"
            if action.kind == "replace"
            else f"write `{action.kind} MESSAGE to messages`"
        )
    else:
        message = f"`{action.kind}` cannot change '{dotted}' on {hook.name}: its host takes "
        message += "no changed message list back there"
        hint = "messages can be added or replaced on " + ", ".join(able)
    exprs.error("GR0280", message, action.target.span, hint=hint)


def _message(action: ast.MessageAction, roles: tuple[str, ...], exprs: ExprChecker) -> ir.IR:
    """A map literal becomes `(role, text)`, each part an expression of its own; any
    other expression must be a map (a `let`), checked again when the rule runs."""
    value = action.value
    if not isinstance(value, ast.MapExpr):
        checked = exprs.check(value)
        if not (checked.type.is_any or checked.type.kind == "map"):
            found = f"a message is a map of role and text, found {checked.type}"
            exprs.error("GR0282", found, value.span)
        elif isinstance(checked, ir.Const) and isinstance(checked.value, FrozenMap):
            _known_keys(list(checked.value), value.span, exprs)
            role = checked.value.get("role")
            if isinstance(role, str):
                _role(role, roles, value.span, exprs)
        return checked
    items = dict(value.items)
    _known_keys(list(items), value.span, exprs)
    role_expr, text_expr = items.get("role"), items.get("text")
    if role_expr is None or text_expr is None:
        return ir.Const(None, LIST)
    role = exprs.check(role_expr)
    _string(role.type, "role", role_expr.span, exprs)
    if isinstance(role, ir.Const) and isinstance(role.value, str):
        _role(role.value, roles, role_expr.span, exprs)
    text = _text(text_expr, action.template, exprs)
    return ir.ListOf((role, text), LIST)


def _known_keys(keys: list[str], span: Span, exprs: ExprChecker) -> None:
    extra = [k for k in keys if k not in _KEYS]
    missing = [k for k in _KEYS if k not in keys]
    example = 'write {"role": "system", "text": "..."}'
    if extra:
        exprs.error("GR0282", f"a message has a role and a text, not {', '.join(extra)}",
                    span, example)  # fmt: skip
    elif missing:
        exprs.error("GR0282", f"a message needs a {' and a '.join(missing)}", span, example)


def _role(role: str, roles: tuple[str, ...], span: Span, exprs: ExprChecker) -> None:
    if role not in roles:
        exprs.error("GR0281", f"the host takes no new message with role '{role}' here",
                    span, "roles a rule may add here: " + ", ".join(roles))  # fmt: skip


def _text(node: ast.Expr, template: tuple[object, ...] | None, exprs: ExprChecker) -> ir.IR:
    """The text: a `{fact}` template is rendered as a reason is (each value cut at 200
    characters, control characters as spaces, so a value cannot start a new line that
    looks like another speaker's); anything else must be a string."""
    if template is None:
        checked = exprs.check(node)
        _string(checked.type, "text", node.span, exprs)
        return checked
    items: list[ir.IR] = []
    literal = ""
    for part in template:
        if isinstance(part, str):
            literal += part
        else:
            assert isinstance(part, ast.Node)
            items += [ir.Const(literal, STR), exprs.check(part)]  # type: ignore[arg-type]
            literal = ""
    if not items:
        return ir.Const(literal, STR)
    items.append(ir.Const(literal, STR))
    return ir.Op("reason", (ir.ListOf(tuple(items), LIST),), STR)


def _string(found: Type, what: str, span: Span, exprs: ExprChecker) -> None:
    if not (found.is_any or found == STR):
        exprs.error("GR0283", f"a message's {what} must be a string, found {found}", span)


def blocked_edits(rule: ast.Rule, diags: list[Diagnostic]) -> None:
    """A rule that blocks never makes its message edits: a firing rule's block (or
    would-block) is its verdict, and its changes are not applied. Warned once per
    edit, at the edit."""
    if not any(isinstance(a, ast.Block) and a.kind != "warn" for a in rule.actions):
        return
    for action in rule.actions:
        if isinstance(action, ast.MessageAction):
            diags.append(
                Diagnostic(
                    "GR0324",
                    Severity.WARNING,
                    f"`{action.kind}` in a rule that blocks never happens: the block wins",
                    action.span,
                    "move the message edit into a rule of its own",
                )
            )
