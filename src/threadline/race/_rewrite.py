"""The AST rewrite that makes a module report its shared-state accesses.

Loads become hook calls that return the loaded value; stores pass the value
first, so Python's evaluation order is kept:

    obj.a              ->  R.ra(obj, "a")
    obj.a = v          ->  R.sa(v, obj, "a")
    obj[k] = v         ->  R.si(v, obj, k)
    obj.a += v         ->  R.wa_top(R.iadd(R.ra_push(obj, "a"), v))
    obj.m(args)        ->  R.m(obj, "m")(args)     (sync objects, containers)
    with lock: ...     ->  with R.cm(lock): ...
    for x in xs        ->  for x in R.it(xs)
    len(xs), x in xs   ->  R.call(len)(xs), R.isin(x, xs)

Globals written by some function (``global x``) and closure variables
written by an inner function (``nonlocal x``) are recorded where they are
read or written, in every scope that can see them.  Several targets or
unpacking go through temporaries named ``__tl_race_tN``, deleted afterwards.

Names that reach a hook as strings are mangled as the compiler mangles
private names (``self.__x`` in class ``C`` is ``self._C__x``).  Patterns of
``match`` statements are left as they are: the compiler accepts only names,
dotted names and literals there.
"""

from __future__ import annotations

import ast
from typing import Any

R = "__tl_race__"
G = "__tl_race_globals__"

# Builtins that read the whole container given first (the one list: the
# hooks look these names up, see _methods.WHOLE_READERS).
WHOLE_READER_NAMES = (
    "sum", "sorted", "list", "tuple", "set", "frozenset", "dict",
    "min", "max", "any", "all", "enumerate", "reversed",
)  # fmt: skip
# Calls of these go through ``R.call(fn)`` (Hooks.call): the whole-container
# readers, len (a read of the length) and the attribute builtins.
_CALLED_BUILTINS = frozenset(
    [*WHOLE_READER_NAMES, "len", "getattr", "hasattr", "setattr", "delattr"]
)
_AUG = {
    ast.Add: "iadd",
    ast.Sub: "isub",
    ast.Mult: "imul",
    ast.MatMult: "imatmul",
    ast.Div: "itruediv",
    ast.FloorDiv: "ifloordiv",
    ast.Mod: "imod",
    ast.Pow: "ipow",
    ast.LShift: "ilshift",
    ast.RShift: "irshift",
    ast.BitOr: "ior",
    ast.BitXor: "ixor",
    ast.BitAnd: "iand",
}


def _hook(name: str, *args: ast.expr, at: ast.AST | None = None) -> ast.Call:
    """A call of hook *name*; *at*: the node it stands for, whose source
    position it takes (a traceback then points where it would without the
    rewrite)."""
    func = ast.Attribute(value=ast.Name(id=R, ctx=ast.Load()), attr=name, ctx=ast.Load())
    call = ast.Call(func=func, args=list(args), keywords=[])
    return call if at is None else ast.copy_location(call, at)


def _probe(name: str) -> ast.Lambda:
    """``lambda: name``: its closure holds the cell of *name*."""
    return ast.Lambda(
        args=ast.arguments(
            posonlyargs=[],
            args=[],
            vararg=None,
            kwonlyargs=[],
            kw_defaults=[],
            kwarg=None,
            defaults=[],
        ),
        body=ast.Name(id=name, ctx=ast.Load()),
    )


def _slice_expr(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.Slice):
        parts = [
            p if p is not None else ast.Constant(value=None)
            for p in (node.lower, node.upper, node.step)
        ]
        return _hook("slice_", *parts)
    if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts):
        return ast.Tuple(elts=[_slice_expr(e) for e in node.elts], ctx=ast.Load())
    return node


class _Scopes(ast.NodeVisitor):
    """Which names need recording: globals that some function declares
    ``global``; per function, the names that are closure cells written by
    an inner function (``nonlocal``)."""

    def __init__(self) -> None:
        self.globals: set[str] = set()
        self.cells: dict[ast.AST, set[str]] = {}
        self._stack: list[ast.AST] = []
        self._bound: dict[ast.AST, set[str]] = {}

    def visit_Global(self, node: ast.Global) -> None:
        self.globals.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        for name in node.names:
            # the function that binds it, and every function between
            for scope in reversed(self._stack):
                self.cells.setdefault(scope, set()).add(name)
                if scope is not self._stack[-1] and name in self._bound.get(scope, set()):
                    break

    def _function(self, node: ast.AST) -> None:
        self._bound[node] = _bound_names(node)
        self._stack.append(node)
        self.generic_visit(node)
        self._stack.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function


def _bound_names(node: Any) -> set[str]:
    names = (
        {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        if hasattr(node, "args")
        else set()
    )
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.add(child.id)
    return names


def mangle(name: str, cls: str | None) -> str:
    """*name* as the compiler sees it inside class *cls* (None: no class)."""
    if cls is None or not name.startswith("__") or name.endswith("__"):
        return name
    stripped = cls.lstrip("_")
    return f"_{stripped}{name}" if stripped else name


class Rewriter(ast.NodeTransformer):
    def __init__(self, scopes: _Scopes) -> None:
        self.scopes = scopes
        self._cells: list[set[str]] = [set()]
        self._classes: list[str | None] = [None]  # the class whose private names apply
        self._temps = 0

    def _name(self, name: str) -> ast.Constant:
        """An attribute or variable name passed to a hook, mangled."""
        return ast.Constant(mangle(name, self._classes[-1]))

    # -- scopes ----------------------------------------------------------------

    def _function(self, node: Any) -> Any:
        self._cells.append(self.scopes.cells.get(node, set()))
        self.generic_visit(node)
        self._cells.pop()
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        # decorators, bases and keywords belong to the enclosing scope
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.bases = [self.visit(b) for b in node.bases]
        node.keywords = [self.visit(k) for k in node.keywords]
        self._classes.append(node.name)
        node.body = self._statements(node.body)
        self._classes.pop()
        return node

    def visit_match_case(self, node: ast.match_case) -> Any:
        # the pattern stays: value and class patterns must stay dotted names
        if node.guard is not None:
            node.guard = self.visit(node.guard)
        node.body = self._statements(node.body)
        captured = [
            n
            for p in ast.walk(node.pattern)
            for n in (getattr(p, "name", None), getattr(p, "rest", None))
            if isinstance(n, str)
        ]
        records = [self._record_name(n, True) for n in captured]
        node.body[:0] = [ast.copy_location(r, node.pattern) for r in records if r is not None]
        return node

    def _statements(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            new = self.visit(stmt)
            out.extend(new if isinstance(new, list) else [new])
        return out

    def _kind(self, name: str) -> str | None:
        if name.startswith("__tl_race"):
            return None
        if name in self._cells[-1]:
            return "cell"
        if name in self.scopes.globals:
            return "global"
        return None

    def _record_name(self, name: str, write: bool) -> ast.stmt | None:
        kind = self._kind(name)
        if kind is None:
            return None
        if kind == "global":
            call = _hook("wg" if write else "rg", ast.Name(id=G, ctx=ast.Load()), self._name(name))
        else:
            call = _hook("wc" if write else "rc", _probe(name), self._name(name))
        return ast.Expr(value=call)

    # -- expressions -------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> Any:
        if not isinstance(node.ctx, ast.Load):
            return node
        kind = self._kind(node.id)
        if kind == "global":
            return _hook("rgv", ast.Name(id=G, ctx=ast.Load()), self._name(node.id), node, at=node)
        if kind == "cell":
            return _hook("rcv", _probe(node.id), self._name(node.id), node, at=node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            return _hook("ra", node.value, self._name(node.attr), at=node)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            return _hook("ri", node.value, _slice_expr(node.slice), at=node)
        return node

    def visit_Call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.ctx, ast.Load):
            obj = self.visit(func.value)
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            node.func = _hook("m", obj, self._name(func.attr), at=func)
            return node
        self.generic_visit(node)
        if isinstance(func, ast.Name) and func.id in _CALLED_BUILTINS:
            node.func = _hook("call", node.func, at=node.func)
        return node

    def visit_Compare(self, node: ast.Compare) -> Any:
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            test = _hook("isin", node.left, node.comparators[0], at=node)
            if isinstance(node.ops[0], ast.NotIn):
                return ast.UnaryOp(op=ast.Not(), operand=test)
            return test
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        self.generic_visit(node)
        node.iter = _hook("it", node.iter, at=node.iter)
        return node

    def visit_NamedExpr(self, node: ast.NamedExpr) -> Any:
        self.generic_visit(node)
        kind = self._kind(node.target.id)
        if kind == "global":
            name = self._name(node.target.id)
            return _hook("wgv", ast.Name(id=G, ctx=ast.Load()), name, node, at=node)
        if kind == "cell":
            return _hook("wcv", _probe(node.target.id), self._name(node.target.id), node, at=node)
        return node

    # -- statements ----------------------------------------------------------------

    def visit_For(self, node: ast.For) -> Any:
        self.generic_visit(node)
        node.iter = _hook("it", node.iter, at=node.iter)
        return node

    def visit_With(self, node: ast.With) -> Any:
        self.generic_visit(node)
        for item in node.items:
            item.context_expr = _hook("cm", item.context_expr, at=item.context_expr)
        return node

    def visit_Assign(self, node: ast.Assign) -> Any:
        value = self.visit(node.value)
        if len(node.targets) == 1 and not isinstance(node.targets[0], (ast.Tuple, ast.List)):
            return self._store(node.targets[0], value, node)
        # several targets, or unpacking: through a temporary
        temp = self._temp()
        out: list[ast.stmt] = [
            ast.Assign(targets=[ast.Name(id=temp, ctx=ast.Store())], value=value)
        ]
        for target in node.targets:
            out += self._store_from(target, temp, node)
        out.append(ast.Delete(targets=[ast.Name(id=temp, ctx=ast.Del())]))
        return [ast.copy_location(s, node) for s in out]

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        if node.value is None:
            return node
        value = self.visit(node.value)
        if isinstance(node.target, ast.Name):
            node.value = value
            extra = self._record_name(node.target.id, True)
            return [node, ast.copy_location(extra, node)] if extra else node
        return self._store(node.target, value, node)

    def _temp(self) -> str:
        self._temps += 1
        return f"__tl_race_t{self._temps}"

    def _store(self, target: ast.expr, value: ast.expr, where: ast.stmt) -> Any:
        """``target = value`` for one target that is not a tuple or list."""
        if isinstance(target, ast.Attribute):
            obj = self.visit(target.value)
            call = _hook("sa", value, obj, self._name(target.attr), at=target)
            stmt: ast.stmt = ast.Expr(value=call)
            return ast.copy_location(stmt, where)
        if isinstance(target, ast.Subscript):
            obj = self.visit(target.value)
            key = _slice_expr(self.visit(target.slice))
            call = _hook("si", value, obj, key, at=target)
            return ast.copy_location(ast.Expr(value=call), where)
        assign = ast.copy_location(ast.Assign(targets=[self.visit(target)], value=value), where)
        if isinstance(target, ast.Name):
            extra = self._record_name(target.id, True)
            if extra is not None:
                return [assign, ast.copy_location(extra, where)]
        return assign

    def _store_from(self, target: ast.expr, temp: str, where: ast.stmt) -> list[ast.stmt]:
        source = ast.Name(id=temp, ctx=ast.Load())
        if not isinstance(target, (ast.Tuple, ast.List)):
            result = self._store(target, source, where)
            return result if isinstance(result, list) else [result]
        # unpack into fresh temporaries first, as Python does, then store each
        parts = []
        elts: list[ast.expr] = []
        for elt in target.elts:
            inner = elt.value if isinstance(elt, ast.Starred) else elt
            name = self._temp()
            parts.append((inner, name))
            store = ast.Name(id=name, ctx=ast.Store())
            elts.append(
                ast.Starred(value=store, ctx=ast.Store()) if isinstance(elt, ast.Starred) else store
            )
        out: list[ast.stmt] = [
            ast.Assign(targets=[ast.Tuple(elts=elts, ctx=ast.Store())], value=source)
        ]
        for inner, name in parts:
            out += self._store_from(inner, name, where)
            out.append(ast.Delete(targets=[ast.Name(id=name, ctx=ast.Del())]))
        return out

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        op = _AUG[type(node.op)]
        value = self.visit(node.value)
        target = node.target
        if isinstance(target, ast.Attribute):
            load = _hook("ra_push", self.visit(target.value), self._name(target.attr), at=target)
            return ast.copy_location(ast.Expr(value=_hook("wa_top", _hook(op, load, value))), node)
        if isinstance(target, ast.Subscript):
            key = _slice_expr(self.visit(target.slice))
            load = _hook("ri_push", self.visit(target.value), key, at=target)
            return ast.copy_location(ast.Expr(value=_hook("wi_top", _hook(op, load, value))), node)
        node.value = value
        assert isinstance(target, ast.Name)
        before = self._record_name(target.id, False)
        after = self._record_name(target.id, True)
        if before is None or after is None:
            return node
        return [ast.copy_location(before, node), node, ast.copy_location(after, node)]

    def visit_Delete(self, node: ast.Delete) -> Any:
        out: list[ast.stmt] = []
        for target in node.targets:
            if isinstance(target, ast.Attribute):
                call = _hook("da", self.visit(target.value), self._name(target.attr), at=target)
                out.append(ast.Expr(value=call))
            elif isinstance(target, ast.Subscript):
                key = _slice_expr(self.visit(target.slice))
                out.append(ast.Expr(value=_hook("di", self.visit(target.value), key, at=target)))
            else:
                out.append(ast.Delete(targets=[target]))
                if isinstance(target, ast.Name):
                    extra = self._record_name(target.id, True)
                    if extra is not None:
                        out.append(extra)
        return [ast.copy_location(s, node) for s in out]


def _end_where_they_start(tree: ast.AST) -> None:
    """Nodes placed by another rewrite (pytest's) may have a start and no
    end; ``fix_missing_locations`` would give them their parent's end,
    which can come before their start."""
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) is not None and getattr(node, "end_lineno", None) is None:
            node.end_lineno = node.lineno  # type: ignore[attr-defined]
            node.end_col_offset = node.col_offset  # type: ignore[attr-defined]


def rewrite(tree: ast.Module) -> ast.Module:
    _end_where_they_start(tree)
    scopes = _Scopes()
    scopes.visit(tree)
    new = Rewriter(scopes).visit(tree)
    return ast.fix_missing_locations(new)  # type: ignore[no-any-return]
