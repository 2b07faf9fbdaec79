"""Stdlib-only stand-in for the parts of Airflow the headwise DAGs use, to check and run them without Airflow.

* ``load_dags(path)`` imports a DAG file with stub ``airflow`` modules in ``sys.modules`` (and with file, network and
  process I/O disabled, since a DAG file must not do I/O at import time) and returns the DAG objects it built: tasks,
  their keyword arguments, dependency edges, params.
* ``render(text, context, filters)`` renders the Jinja subset the DAGs may use: ``{{ expression }}`` with names,
  attribute and item access, constants, ``x if c else y``, ``and``/``or``/``not``, comparisons, ``+ - *``, filters
  (``join``, ``lower``, ``upper``, ``replace``, ``default``, ``string``, ``int``, ``float`` and the DAG's
  ``user_defined_filters``) and ``.get(...)`` calls; undefined names are errors (Airflow renders with
  StrictUndefined). Statements (``{% %}``) are refused.
* ``simulate(dag, ...)`` runs one DAG run the way the scheduler and workers would, and records every task
  instance's state, the asset events and the run's state:
  - tasks in dependency order; a mapped task or a task of a mapped task group (``@task_group`` ... ``.expand()``)
    gets one instance per expanded value (none: skipped); inside a mapped group an instance depends only on the
    same-index instances of the group's other tasks, otherwise on every instance of an upstream task (depth-first
    execution in the dynamic-task-mapping docs; ``_is_relevant_upstream`` of TriggerRuleDep);
  - trigger rules decide ``upstream_failed``/``skipped`` as TriggerRuleDep does for finished upstreams;
    short-circuit skips with and without ``ignore_downstream_trigger_rules``; ``fail=`` makes chosen spark-submits
    exit non-zero, and a TaskFlow callable that raises fails its instance;
  - TaskFlow functions called with their context arguments; XCom references resolved per map index (same index in
    the same mapped group, the list of all values from a mapped producer elsewhere), in classic operators' template
    fields without further templating (Templater.render_template); mapped group arguments resolved only in tasks;
  - template fields rendered, and each SparkSubmitOperator's ``execute`` building the spark-submit command line the
    provider's hook builds;
  - ``outlet_events``: Asset outlets and AssetAlias outlets with assets added at run time emit events only when the
    task succeeds; the run's state comes from its leaves (Dag Run Status).
"""

from __future__ import annotations

import ast
import builtins
import copy
import importlib.util
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable

# ---------------------------------------------------------------------------------------------------------------
# Jinja subset


class TemplateError(Exception):
    """A template the subset cannot render, or an undefined name."""


TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
STATEMENT = re.compile(r"\{%|\{#")
BUILTIN_FILTERS = {"join", "lower", "upper", "replace", "default", "string", "int", "float"}
# Names Airflow puts in the template context that the DAGs may use.
CONTEXT_NAMES = {"params", "dag_run", "run_id", "ti", "task_instance", "dag", "task", "ds", "ds_nodash",
                 "logical_date", "data_interval_start", "data_interval_end", "var", "macros"}


def expressions(text: str) -> list[str]:
    """The expressions of every ``{{ ... }}`` in a string."""
    if STATEMENT.search(text):
        raise TemplateError(f"template statements and comments are not supported: {text!r}")
    return [m.group(1).strip() for m in TEMPLATE.finditer(text)]


def split_filters(expr: str) -> tuple[str, list[str]]:
    """``a.b | f(x) | g`` -> ("a.b", ["f(x)", "g"]): splits at ``|`` outside quotes and brackets."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(expr):
        if quote:
            if ch == quote and expr[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expr[start:i].strip())
            start = i + 1
    parts.append(expr[start:].strip())
    return parts[0], parts[1:]


def parse_expression(src: str) -> ast.expr:
    try:
        return ast.parse(src, mode="eval").body
    except SyntaxError as e:
        raise TemplateError(f"cannot parse template expression {src!r}: {e.msg}") from None


def parse_filter(src: str) -> tuple[str, list[ast.expr]]:
    node = parse_expression(src)
    if isinstance(node, ast.Name):
        return node.id, []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return node.func.id, list(node.args)
    raise TemplateError(f"unsupported filter {src!r}")


def _lookup(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
        raise TemplateError(f"undefined: {name!r} is not in {sorted(obj)}")
    if hasattr(obj, name):
        return getattr(obj, name)
    raise TemplateError(f"undefined attribute {name!r} of {type(obj).__name__}")


_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}
_CMPOPS = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
           ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
           ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


def evaluate(node: ast.expr, context: dict) -> Any:
    """Evaluates a parsed expression of the subset."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        if node.id in ("none", "None"):
            return None
        if node.id not in context:
            raise TemplateError(f"undefined name {node.id!r}")
        return context[node.id]
    if isinstance(node, ast.Attribute):
        return _lookup(evaluate(node.value, context), node.attr)
    if isinstance(node, ast.Subscript):
        return evaluate(node.value, context)[evaluate(node.slice, context)]
    if isinstance(node, ast.IfExp):
        return evaluate(node.body, context) if evaluate(node.test, context) else evaluate(node.orelse, context)
    if isinstance(node, ast.BoolOp):
        value = None
        for v in node.values:
            value = evaluate(v, context)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        v = evaluate(node.operand, context)
        return (not v) if isinstance(node.op, ast.Not) else -v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](evaluate(node.left, context), evaluate(node.right, context))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMPOPS:
        return _CMPOPS[type(node.ops[0])](evaluate(node.left, context), evaluate(node.comparators[0], context))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [evaluate(e, context) for e in node.elts]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and not node.keywords):
        target = evaluate(node.func.value, context)
        return target.get(*[evaluate(a, context) for a in node.args])
    raise TemplateError(f"unsupported template syntax: {ast.unparse(node)!r}")


def apply_filter(name: str, value: Any, args: list, filters: dict) -> Any:
    if name in filters:
        return filters[name](value, *args)
    if name == "join":
        return (args[0] if args else "").join(str(v) for v in value)
    if name == "lower":
        return str(value).lower()
    if name == "upper":
        return str(value).upper()
    if name == "replace":
        return str(value).replace(args[0], args[1])
    if name == "default":
        return value if value is not None else (args[0] if args else "")
    if name == "string":
        return str(value)
    if name == "int":
        return int(value)
    if name == "float":
        return float(value)
    raise TemplateError(f"unknown filter {name!r}")


def render_value(value: Any) -> str:
    """How Jinja prints a value."""
    return "None" if value is None else str(value)


def render(text: str, context: dict, filters: dict | None = None) -> str:
    """Renders every ``{{ ... }}`` of ``text``."""
    filters = filters or {}
    expressions(text)  # refuses statements

    def one(m: re.Match) -> str:
        head, chain = split_filters(m.group(1).strip())
        value = evaluate(parse_expression(head), context)
        for f in chain:
            name, args = parse_filter(f)
            value = apply_filter(name, value, [evaluate(a, context) for a in args], filters)
        return render_value(value)

    return TEMPLATE.sub(one, text)


def render_field(value: Any, context: dict, filters: dict) -> Any:
    """Renders a template field recursively (strings, lists, tuples, dicts), as Airflow does."""
    if isinstance(value, str):
        return render(value, context, filters)
    if isinstance(value, list):
        return [render_field(v, context, filters) for v in value]
    if isinstance(value, tuple):
        return tuple(render_field(v, context, filters) for v in value)
    if isinstance(value, dict):
        return {k: render_field(v, context, filters) for k, v in value.items()}
    return value


@dataclass
class TemplateUse:
    """What one template expression refers to."""
    names: set[str] = field(default_factory=set)      # context names
    params: set[str] = field(default_factory=set)     # params.X / params['X']
    filters: set[str] = field(default_factory=set)


def template_uses(text: str) -> TemplateUse:
    """The context names, params and filters every ``{{ }}`` in ``text`` refers to."""
    use = TemplateUse()
    for expr in expressions(text):
        head, chain = split_filters(expr)
        nodes = [parse_expression(head)]
        for f in chain:
            name, args = parse_filter(f)
            use.filters.add(name)
            nodes.extend(args)
        for root in nodes:
            for n in ast.walk(root):
                if isinstance(n, ast.Name) and n.id not in ("true", "false", "none", "True", "False", "None"):
                    use.names.add(n.id)
                if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "params":
                    use.params.add(n.attr)
                if (isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "params"
                        and isinstance(n.slice, ast.Constant)):
                    use.params.add(n.slice.value)
    return use


# ---------------------------------------------------------------------------------------------------------------
# Stub airflow modules

# Keyword arguments of BaseOperator and of the apache-spark provider's SparkSubmitOperator (as of the provider
# sources the project read); anything else is an error, as it is in Airflow.
BASE_OPERATOR_ARGS = {
    "task_id", "owner", "email", "email_on_retry", "email_on_failure", "retries", "retry_delay",
    "retry_exponential_backoff", "max_retry_delay", "start_date", "end_date", "depends_on_past",
    "wait_for_downstream", "dag", "params", "default_args", "priority_weight", "weight_rule", "queue", "pool",
    "pool_slots", "sla", "execution_timeout", "on_execute_callback", "on_failure_callback", "on_success_callback",
    "on_retry_callback", "on_skipped_callback", "pre_execute", "post_execute", "trigger_rule", "resources",
    "run_as_user", "max_active_tis_per_dag", "max_active_tis_per_dagrun", "executor", "executor_config",
    "do_xcom_push", "multiple_outputs", "inlets", "outlets", "task_group", "doc", "doc_md", "doc_json", "doc_yaml",
    "doc_rst", "task_display_name", "logger_name", "allow_nested_operators", "map_index_template",
    "retry_jitter",
}
SPARK_SUBMIT_ARGS = {
    "application", "conf", "conn_id", "files", "py_files", "archives", "driver_class_path", "jars", "java_class",
    "packages", "exclude_packages", "repositories", "total_executor_cores", "executor_cores", "executor_memory",
    "driver_memory", "keytab", "principal", "proxy_user", "name", "num_executors", "status_poll_interval",
    "application_args", "env_vars", "verbose", "spark_binary", "properties_file", "yarn_queue", "deploy_mode",
    "use_krb5ccache", "post_submit_commands", "track_driver_via_k8s_api", "yarn_track_via_rm_api", "yarn_rm_auth",
    "openlineage_inject_parent_job_info", "openlineage_inject_transport_info", "reconnect_on_retry", "durable",
}
SPARK_SUBMIT_TEMPLATE_FIELDS = ("application", "conf", "files", "py_files", "jars", "driver_class_path", "packages",
                                "exclude_packages", "keytab", "principal", "proxy_user", "name",
                                "application_args", "env_vars", "post_submit_commands", "properties_file")
# Operator arguments Airflow renders although they are not template fields.
RENDERED_ARGS = {"map_index_template"}
TRIGGER_RULES = {"all_success", "all_failed", "all_done", "all_skipped", "one_success", "one_failed", "one_done",
                 "none_failed", "none_failed_min_one_success", "none_skipped", "always", "all_done_min_one_success",
                 "all_done_setup_success"}
DAG_ARGS = {"dag_id", "description", "schedule", "start_date", "end_date", "catchup", "max_active_runs",
            "max_active_tasks", "default_args", "params", "user_defined_filters", "user_defined_macros", "doc_md",
            "tags", "dagrun_timeout", "template_searchpath", "template_undefined", "render_template_as_native_obj",
            "owner_links", "is_paused_upon_creation", "access_control", "fail_fast", "dag_display_name",
            "max_consecutive_failed_dag_runs", "on_success_callback", "on_failure_callback", "sla_miss_callback",
            "jinja_environment_kwargs", "auto_register", "default_view", "orientation", "deadline"}


class Registry:
    """What a DAG file built while it was imported."""
    dags: list = []
    stack: list = []
    groups: list = []  # task groups being built (innermost last)
    # set by simulate(): how an executing SparkSubmitOperator reports its command line
    submit: Callable | None = None


class Param:
    def __init__(self, default: Any = None, description: str | None = None, **schema: Any):
        self.value = default
        self.description = description
        self.schema = schema


class Asset:
    """``Asset(name=None, uri=None)``: with one of them given, the other takes its value (airflow.sdk Asset)."""

    def __init__(self, name: str | None = None, uri: str | None = None, **kwargs: Any):
        self.name = name or uri
        self.uri = uri or name
        self.extra = kwargs

    def __repr__(self):
        return f"Asset({self.uri!r})"


class AssetAlias:
    """``AssetAlias(name)``: an outlet to which a task adds concrete assets at run time (assets docs, "How to use
    AssetAlias")."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"AssetAlias({self.name!r})"


def _outlet_key(obj: Any) -> tuple[str, str]:
    if isinstance(obj, AssetAlias):
        return "alias", obj.name
    if isinstance(obj, Asset):
        return "asset", obj.uri
    raise TypeError(f"{obj!r} is neither an Asset nor an AssetAlias")


class Deps:
    """``>>``/``<<`` for tasks, XCom references and task groups. A task group stands for its roots when it is
    downstream and for its leaves when it is upstream, evaluated when the operator runs (TaskGroup._set_relatives
    in the Airflow sources: get_roots()/get_leaves())."""

    def _as_downstream(self) -> list:
        raise NotImplementedError

    def _as_upstream(self) -> list:
        raise NotImplementedError

    def _dag(self):
        raise NotImplementedError

    def __rshift__(self, other):
        for u in self._as_upstream():
            for d in _flatten(other, downstream=True):
                self._dag().edge(u, d)
        return other

    def __lshift__(self, other):
        for d in self._as_downstream():
            for u in _flatten(other, downstream=False):
                self._dag().edge(u, d)
        return other

    def __rrshift__(self, other):  # [a, b] >> self
        self.__lshift__(other)
        return self

    def __rlshift__(self, other):  # [a, b] << self
        self.__rshift__(other)
        return self


def _flatten(items: Any, downstream: bool) -> list:
    items = items if isinstance(items, (list, tuple)) else [items]
    out = []
    for i in items:
        if isinstance(i, XComArg):
            out.append(i.node)
        elif isinstance(i, TaskGroup):
            out.extend(i.roots() if downstream else i.leaves())
        elif isinstance(i, Node):
            out.append(i)
        else:
            raise TypeError(f"cannot set a dependency on {i!r}")
    return out


class Node(Deps):
    """A task in the graph: operators, mapped operators and TaskFlow tasks. Inside a task group its id is prefixed
    with the group id (prefix_group_id=True, the default)."""

    def __init__(self, task_id: str):
        if not Registry.stack:
            raise RuntimeError(f"task {task_id!r} created outside a DAG context")
        self.dag = Registry.stack[-1]
        self.task_group = Registry.groups[-1] if Registry.groups else None
        self.task_id = (self.task_group.prefix() if self.task_group else "") + task_id
        self.dag.add(self)
        if self.task_group:
            self.task_group.members.append(self.task_id)

    def _as_downstream(self):
        return [self]

    def _as_upstream(self):
        return [self]

    def _dag(self):
        return self.dag

    def mapped_group(self) -> "TaskGroup | None":
        """The closest enclosing mapped task group (get_closest_mapped_task_group)."""
        g = self.task_group
        while g is not None and g.expand_input is None:
            g = g.parent
        return g


class XComArg(Deps):
    """A reference to a task's return value (or one key of it)."""

    def __init__(self, node: Node, key: str | None = None):
        self.node = node
        self.key = key

    def __getitem__(self, key: str) -> "XComArg":
        return XComArg(self.node, key)

    def _as_downstream(self):
        return [self.node]

    def _as_upstream(self):
        return [self.node]

    def _dag(self):
        return self.node.dag


class MappedArgument:
    """What a mapped task group function receives for an expanded argument: a reference, resolved only when it is
    passed into a task ("Value references in a task group function", dynamic-task-mapping docs)."""

    def __init__(self, group: "TaskGroup", key: str):
        self.group = group
        self.key = key

    def __bool__(self):
        raise TypeError(f"the argument {self.key!r} of mapped task group {self.group.group_id!r} is a reference at"
                        " parse time, not a value: branch on it inside a task (dynamic-task-mapping docs)")

    def __repr__(self):
        return f"MappedArgument({self.group.group_id!r}, {self.key!r})"


def _refs(value: Any) -> list[XComArg]:
    """The XCom references in an argument value (a MappedArgument refers to its group's expansion input)."""
    if isinstance(value, XComArg):
        return [value]
    if isinstance(value, MappedArgument):
        return _refs(value.group.expand_input[value.key])
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def _mapped_arguments(value: Any) -> list[MappedArgument]:
    if isinstance(value, MappedArgument):
        return [value]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _mapped_arguments(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _mapped_arguments(v)]
    return []


_xcom_refs = _refs


class TaskGroup(Deps):
    """A task group; mapped when it has an expansion input (``@task_group`` function ``.expand(name=values)``)."""

    def __init__(self, group_id: str, dag: "DAG", expand_input: dict | None, prefix_group_id: bool = True):
        self.parent = Registry.groups[-1] if Registry.groups else None
        self.group_id = (self.parent.prefix() if self.parent else "") + group_id
        self.dag = dag
        self.expand_input = expand_input
        self.prefix_group_id = prefix_group_id
        self.members: list[str] = []
        if expand_input is not None and self.parent is not None and self.parent_mapped():
            raise TypeError(f"mapped task group {group_id!r} inside a mapped task group: not permitted"
                            " (dynamic-task-mapping docs)")
        if self.group_id in dag.groups:
            raise ValueError(f"DAG {dag.dag_id}: duplicate task group id {self.group_id!r}")
        dag.groups[self.group_id] = self

    def parent_mapped(self) -> bool:
        g = self.parent
        while g is not None:
            if g.expand_input is not None:
                return True
            g = g.parent
        return False

    def prefix(self) -> str:
        return self.group_id + "." if self.prefix_group_id else ""

    def roots(self) -> list[Node]:
        inside = set(self.members)
        return [self.dag.task_dict[m] for m in self.members if not inside & set(self.dag.upstream(m))]

    def leaves(self) -> list[Node]:
        inside = set(self.members)
        return [self.dag.task_dict[m] for m in self.members if not inside & set(self.dag.downstream(m))]

    def _as_downstream(self):
        return self.roots()

    def _as_upstream(self):
        return self.leaves()

    def _dag(self):
        return self.dag


class _TaskGroupFactory:
    """``@task_group``: calling the function builds a task group; ``.expand(name=values)`` builds a mapped one whose
    function gets a MappedArgument per expanded name. The call returns what the function returns, or the group when
    it returns None (the SDK's _TaskGroupFactory)."""

    def __init__(self, fn: Callable, group_id: str | None = None, prefix_group_id: bool = True, **kwargs: Any):
        unknown = set(kwargs) - {"tooltip", "ui_color", "ui_fgcolor", "default_args", "group_display_name",
                                 "add_suffix_on_collision"}
        if unknown:
            raise TypeError(f"task_group: unknown arguments {sorted(unknown)}")
        self.fn = fn
        self.group_id = group_id or fn.__name__
        self.prefix_group_id = prefix_group_id

    def __call__(self, *args, **kwargs):
        return self._create(None, args, kwargs)

    def expand(self, **kwargs: Any):
        if not kwargs:
            raise TypeError("no arguments to expand against")
        names = set(inspect.signature(self.fn).parameters)
        if set(kwargs) - names:
            raise TypeError(f"{self.group_id}: expand() of unknown arguments {sorted(set(kwargs) - names)}")
        if len(kwargs) != 1:
            # Airflow expands several arguments as a cross product; the harness implements one.
            raise NotImplementedError("the harness maps a task group over one argument")
        for k, v in kwargs.items():
            if isinstance(v, XComArg) and v.key is not None:
                raise ValueError(f"{self.group_id}: cannot map over an XCom with a custom key ({v.key!r})")
            if not isinstance(v, (XComArg, list, dict)):
                raise TypeError(f"{self.group_id}: expand({k}=...) needs a list, a dict or an XCom reference")
        return self._create(kwargs, (), {})

    def _create(self, expand_input: dict | None, args: tuple, kwargs: dict):
        if not Registry.stack:
            raise RuntimeError(f"task group {self.group_id!r} created outside a DAG context")
        group = TaskGroup(self.group_id, Registry.stack[-1], expand_input, self.prefix_group_id)
        if expand_input is not None:
            kwargs = {**kwargs, **{k: MappedArgument(group, k) for k in expand_input}}
        Registry.groups.append(group)
        try:
            retval = self.fn(*args, **kwargs)
        finally:
            Registry.groups.pop()
        if expand_input is not None:
            # the group's roots wait for the expansion input's producers (MappedTaskGroup sets them upstream of the
            # group, apache/airflow#33732)
            for ref in _refs(list(expand_input.values())):
                for root in group.roots():
                    group.dag.edge(ref.node, root)
        return retval if retval is not None else group


def _task_group(python_callable: Callable | None = None, **tg_kwargs: Any):
    if callable(python_callable) and not tg_kwargs:
        return _TaskGroupFactory(python_callable)
    return lambda fn: _TaskGroupFactory(fn, **tg_kwargs)


class DAG:
    """``tasks`` is the list of tasks and ``task_dict`` maps ids to tasks, as on Airflow's DAG."""

    def __init__(self, dag_id: str | None = None, **kwargs: Any):
        unknown = set(kwargs) - DAG_ARGS
        if unknown:
            raise TypeError(f"DAG {dag_id!r}: unknown arguments {sorted(unknown)}")
        self.dag_id = dag_id or kwargs.get("dag_id")
        self.kwargs = kwargs
        self.task_dict: dict[str, Node] = {}
        self.groups: dict[str, TaskGroup] = {}
        self.edges: list[tuple[str, str]] = []
        self.default_args = dict(kwargs.get("default_args") or {})
        self.params = dict(kwargs.get("params") or {})
        self.filters = dict(kwargs.get("user_defined_filters") or {})
        Registry.dags.append(self)

    @property
    def tasks(self) -> list[Node]:
        return list(self.task_dict.values())

    def __enter__(self):
        Registry.stack.append(self)
        return self

    def __exit__(self, *exc):
        Registry.stack.pop()
        return False

    def add(self, node: Node):
        if node.task_id in self.task_dict:
            raise ValueError(f"DAG {self.dag_id}: duplicate task id {node.task_id!r}")
        self.task_dict[node.task_id] = node

    def edge(self, up: Node, down: Node):
        if up.task_id == down.task_id:
            raise ValueError(f"DAG {self.dag_id}: {up.task_id} depends on itself")
        if (up.task_id, down.task_id) not in self.edges:
            self.edges.append((up.task_id, down.task_id))

    def upstream(self, task_id: str) -> list[str]:
        return [u for u, d in self.edges if d == task_id]

    def downstream(self, task_id: str) -> list[str]:
        return [d for u, d in self.edges if u == task_id]

    def descendants(self, task_id: str) -> set[str]:
        out, todo = set(), [task_id]
        while todo:
            for d in self.downstream(todo.pop()):
                if d not in out:
                    out.add(d)
                    todo.append(d)
        return out

    def leaves(self) -> list[str]:
        return [t for t in self.task_dict if not self.downstream(t)]

    def topological_order(self) -> list[str]:
        """Task ids in dependency order (creation order among independent tasks); raises on a cycle."""
        pending = {t: set(self.upstream(t)) for t in self.task_dict}
        order = []
        while pending:
            ready = [t for t in self.task_dict if t in pending and not pending[t]]
            if not ready:
                raise ValueError(f"DAG {self.dag_id}: cycle among {sorted(pending)}")
            for t in ready:
                order.append(t)
                del pending[t]
                for deps in pending.values():
                    deps.discard(t)
        return order


def _refuse_mapped_arguments(task_id: str, kwargs: dict):
    found = _mapped_arguments(kwargs)
    if found:
        # Airflow resolves a mapped task group's arguments reliably only in TaskFlow tasks; given to classic
        # operators they can arrive as MappedArgument objects (apache/airflow#50631, open): the harness refuses them.
        raise TypeError(f"{task_id}: {found[0]!r} passed to a classic operator; pass it through a TaskFlow task")


class BaseOperator(Node):
    template_fields: tuple = ()
    allowed_args: set = set()

    def __init__(self, *, task_id: str, _register: bool = True, **kwargs: Any):
        unknown = set(kwargs) - BASE_OPERATOR_ARGS - self.allowed_args
        if unknown:
            raise TypeError(f"{type(self).__name__} {task_id!r}: unknown arguments {sorted(unknown)}")
        _refuse_mapped_arguments(task_id, kwargs)
        if _register:
            super().__init__(task_id)
            defaults = {k: v for k, v in self.dag.default_args.items() if k not in kwargs}
        else:
            self.task_id = task_id
            defaults = {}
        self.kwargs = {**defaults, **kwargs}
        rule = self.kwargs.get("trigger_rule", "all_success")
        if rule not in TRIGGER_RULES:
            raise ValueError(f"task {task_id!r}: unknown trigger rule {rule!r}")
        if _register:
            # XCom references in arguments make their producers upstream (set_xcomargs_dependencies)
            for ref in _refs(kwargs):
                self.dag.edge(ref.node, self)

    @classmethod
    def partial(cls, **kwargs: Any) -> "OperatorPartial":
        return OperatorPartial(cls, kwargs)

    def execute(self, context: dict):
        raise NotImplementedError


class OperatorPartial:
    def __init__(self, cls: type, kwargs: dict):
        self.cls = cls
        self.kwargs = kwargs

    def expand(self, **mapped: Any) -> "MappedOperator":
        return MappedOperator(self.cls, self.kwargs, mapped)


class MappedOperator(Node):
    def __init__(self, cls: type, partial_kwargs: dict, expand_kwargs: dict):
        if Registry.groups and any(g.expand_input is not None for g in Registry.groups):
            raise TypeError("task mapping inside a mapped task group is not permitted (dynamic-task-mapping docs)")
        super().__init__(partial_kwargs["task_id"])
        both = set(partial_kwargs) & set(expand_kwargs)
        if both:
            raise TypeError(f"{self.task_id}: {sorted(both)} given to both partial() and expand()")
        if len(expand_kwargs) != 1:
            # Airflow expands several arguments as a cross product; the harness implements one.
            raise NotImplementedError("the harness maps an operator over one argument")
        self.operator_class = cls
        defaults = {k: v for k, v in self.dag.default_args.items() if k not in partial_kwargs}
        self.partial_kwargs = {**defaults, **partial_kwargs}
        self.expand_kwargs = expand_kwargs
        self.kwargs = {**self.partial_kwargs, **expand_kwargs}
        cls(_register=False, **{**partial_kwargs, **{k: None for k in expand_kwargs}})  # argument check
        for ref in _refs(partial_kwargs) + _refs(expand_kwargs):
            self.dag.edge(ref.node, self)


class SparkSubmitFailed(Exception):
    """A simulated spark-submit that exits non-zero (SparkSubmitHook raises on a non-zero exit code)."""


class SparkSubmitOperator(BaseOperator):
    template_fields = SPARK_SUBMIT_TEMPLATE_FIELDS
    allowed_args = SPARK_SUBMIT_ARGS

    def __init__(self, *, task_id: str, _register: bool = True, **kwargs: Any):
        super().__init__(task_id=task_id, _register=_register, **kwargs)
        a = self.kwargs
        self.application = a.get("application", "")
        self.conf = a.get("conf")
        self.java_class = a.get("java_class")
        self.application_args = a.get("application_args")
        self.name = a.get("name", "arrow-spark")
        for f in ("files", "py_files", "jars", "driver_class_path", "packages", "exclude_packages", "keytab",
                  "principal", "proxy_user", "env_vars", "post_submit_commands", "properties_file"):
            setattr(self, f, a.get(f))

    def execute(self, context: dict):
        """Builds the command line as SparkSubmitHook._build_spark_submit_command does, and hands it on."""
        a = self.kwargs
        conn = context["connection"]
        cmd = [a.get("spark_binary") or conn.get("spark_binary", "spark-submit"), "--master", conn["master"]]
        for k, v in (self.conf or {}).items():
            cmd += ["--conf", f"{k}={v}"]
        for flag, value in (("--properties-file", self.properties_file), ("--files", self.files),
                            ("--py-files", self.py_files), ("--archives", a.get("archives")),
                            ("--driver-class-path", self.driver_class_path), ("--jars", self.jars),
                            ("--packages", self.packages), ("--exclude-packages", self.exclude_packages),
                            ("--repositories", a.get("repositories")),
                            ("--num-executors", a.get("num_executors")),
                            ("--total-executor-cores", a.get("total_executor_cores")),
                            ("--executor-cores", a.get("executor_cores")),
                            ("--executor-memory", a.get("executor_memory")),
                            ("--driver-memory", a.get("driver_memory")), ("--proxy-user", self.proxy_user),
                            ("--name", self.name), ("--class", self.java_class)):
            if value:
                cmd += [flag, str(value)]
        if a.get("verbose"):
            cmd += ["--verbose"]
        if a.get("deploy_mode") or conn.get("deploy_mode"):
            cmd += ["--deploy-mode", a.get("deploy_mode") or conn.get("deploy_mode")]
        cmd += [self.application]
        if self.application_args:
            cmd += self.application_args
        for part in cmd:
            if not isinstance(part, str):
                raise TypeError(f"{self.task_id}: spark-submit argument {part!r} is not a string")
        Registry.submit(self, context, cmd)


class TaskFlowTask(Node):
    def __init__(self, fn: Callable, kind: str, options: dict, args: tuple, kwargs: dict):
        unknown = set(options) - BASE_OPERATOR_ARGS - {"ignore_downstream_trigger_rules"}
        if unknown:
            raise TypeError(f"@task {fn.__name__}: unknown arguments {sorted(unknown)}")
        super().__init__(options.get("task_id", fn.__name__))
        self.fn, self.kind, self.options, self.args, self.call_kwargs = fn, kind, options, args, kwargs
        self.kwargs = {**self.dag.default_args, **options}
        rule = self.kwargs.get("trigger_rule", "all_success")
        if rule not in TRIGGER_RULES:
            raise ValueError(f"task {self.task_id!r}: unknown trigger rule {rule!r}")
        for ref in _refs(list(args)) + _refs(kwargs):
            self.dag.edge(ref.node, self)


class _TaskDecorator:
    def __init__(self, kind: str):
        self.kind = kind

    def __call__(self, fn: Callable | None = None, **options: Any):
        def wrap(f: Callable):
            def call(*args, **kwargs):
                return XComArg(TaskFlowTask(f, self.kind, options, args, kwargs))
            call.__wrapped__ = f
            call.options = options
            return call
        return wrap(fn) if fn is not None else wrap


def _task(fn: Callable | None = None, **options: Any):
    return _TaskDecorator("python")(fn, **options)


_task.short_circuit = _TaskDecorator("short_circuit")


def stub_modules() -> dict[str, types.ModuleType]:
    """The airflow modules a DAG file imports, as stubs (the Airflow 3 ``airflow.sdk`` names)."""
    mods = {}
    for name in ("airflow", "airflow.sdk", "airflow.providers", "airflow.providers.apache",
                 "airflow.providers.apache.spark", "airflow.providers.apache.spark.operators",
                 "airflow.providers.apache.spark.operators.spark_submit"):
        mods[name] = types.ModuleType(name)
    sdk = mods["airflow.sdk"]
    sdk.DAG, sdk.Asset, sdk.AssetAlias, sdk.Param = DAG, Asset, AssetAlias, Param
    sdk.task, sdk.task_group, sdk.BaseOperator = _task, _task_group, BaseOperator
    mods["airflow.providers.apache.spark.operators.spark_submit"].SparkSubmitOperator = SparkSubmitOperator
    return mods


class ImportTimeIO(Exception):
    """A DAG file did file, network or process I/O while it was imported."""


def _forbid(what: str):
    def f(*args, **kwargs):
        raise ImportTimeIO(f"{what} called at import time with {args[:1]}")
    return f


def load_dags(path: str) -> list[DAG]:
    """Imports a DAG file against the stubs, with I/O forbidden, and returns the DAGs it built."""
    saved_modules = {k: v for k, v in sys.modules.items() if k == "airflow" or k.startswith("airflow.")}
    patches = [(builtins, "open"), (os, "listdir"), (os, "scandir"), (os, "walk"), (os, "system"),
               (subprocess, "Popen"), (subprocess, "run"), (socket, "create_connection"), (socket.socket, "connect")]
    originals = [(obj, attr, getattr(obj, attr)) for obj, attr in patches]
    Registry.dags = []
    Registry.stack = []
    Registry.groups = []
    name = "dagfile_" + re.sub(r"\W", "_", os.path.basename(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    with __import__("io").open(path, encoding="utf-8") as fh:
        code = compile(fh.read(), path, "exec")
    try:
        for k in list(saved_modules):
            del sys.modules[k]
        sys.modules.update(stub_modules())
        for obj, attr in patches:
            setattr(obj, attr, _forbid(f"{getattr(obj, '__name__', type(obj).__name__)}.{attr}"))
        exec(code, module.__dict__)
    finally:
        for obj, attr, orig in originals:
            setattr(obj, attr, orig)
        for k in [k for k in sys.modules if k == "airflow" or k.startswith("airflow.")]:
            del sys.modules[k]
        sys.modules.update(saved_modules)
    dags = list(Registry.dags)
    for d in dags:
        d.module = module
    return dags


# ---------------------------------------------------------------------------------------------------------------
# Param validation (the JSON-schema keywords the DAGs use)


def validate_param(name: str, value: Any, schema: dict) -> list[str]:
    """Problems of a param value against its schema (empty when valid)."""
    errors = []
    types_ = schema.get("type")
    if types_ is not None:
        allowed = types_ if isinstance(types_, list) else [types_]
        checks = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                  "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
                  "null": lambda v: v is None}
        if not any(checks[t](value) for t in allowed):
            return [f"{name}: {value!r} is not of type {types_}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{name}: {value!r} not in {schema['enum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{name}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{name}: {value} < {schema['minimum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{name}: {value} <= {schema['exclusiveMinimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{name}: {value} > {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{name}: fewer than {schema['minItems']} items")
        if schema.get("uniqueItems") and len(set(map(json.dumps, value))) != len(value):
            errors.append(f"{name}: items are not unique")
        for i, item in enumerate(value):
            errors += validate_param(f"{name}[{i}]", item, schema.get("items", {}))
    return errors


# ---------------------------------------------------------------------------------------------------------------
# One simulated DAG run


@dataclass
class Submission:
    """One spark-submit: the task, its map index (-1 if not mapped), main class, full command line, and the
    application arguments (the part after the jar) and conf as the operator passed them."""
    task_id: str
    map_index: int
    java_class: str
    argv: list[str]
    application: str
    application_args: list[str]
    conf: dict


@dataclass
class AssetEvent:
    """An asset event a finished task instance emitted."""
    uri: str
    extra: dict
    task_id: str
    map_index: int
    alias: str | None  # the alias it was added through, None for a static Asset outlet


def ti_key(task_id: str, map_index: int) -> str:
    """How task instances are named in states and failure sets: ``task`` or ``task[i]``."""
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def trigger_state(rule: str, states: list[str]) -> str | None:
    """The state the scheduler gives a task instance whose relevant upstream task instances, all finished, are in
    ``states``, or None when its trigger rule lets it run. Mirrors TriggerRuleDep._evaluate_direct_relatives
    (airflow-core ti_deps/deps/trigger_rule_dep.py) for finished upstreams; setup tasks are not modelled."""
    success = states.count("success")
    skipped = states.count("skipped")
    failed = states.count("failed")
    upstream_failed = states.count("upstream_failed")
    upstream = len(states)
    if rule == "all_success":
        if failed or upstream_failed:
            return "upstream_failed"
        return "skipped" if skipped else None
    if rule == "all_failed":
        return "skipped" if success or skipped else None
    if rule == "one_success":
        if upstream and skipped == upstream:
            return "skipped"
        return "upstream_failed" if success <= 0 else None
    if rule == "one_failed":
        return None if failed or upstream_failed else "skipped"
    if rule == "one_done":
        return None if failed or success else "skipped"
    if rule == "none_failed":
        return "upstream_failed" if failed or upstream_failed else None
    if rule == "none_failed_min_one_success":
        if failed or upstream_failed:
            return "upstream_failed"
        return "skipped" if upstream and skipped == upstream else None
    if rule == "none_skipped":
        return "skipped" if skipped else None
    if rule == "all_skipped":
        return "skipped" if success or failed or upstream_failed else None
    if rule == "all_done_min_one_success":  # Airflow 3.1+
        if skipped:
            return "skipped"
        return "upstream_failed" if success == 0 else None
    if rule in ("all_done", "always", "all_done_setup_success"):
        return None
    raise ValueError(f"unknown trigger rule {rule!r}")


class OutletEventAccessor:
    """``outlet_events[x]`` of a running task: ``.extra`` of an Asset outlet's event, ``.add(asset, extra)`` for an
    AssetAlias outlet (assets docs: "Emit an asset event during task execution through outlet_events")."""

    def __init__(self, key: tuple[str, str]):
        self.key = key
        self.extra: dict = {}
        self.added: list[tuple[Asset, dict]] = []

    def add(self, asset: Asset, extra: dict | None = None):
        if self.key[0] != "alias":
            raise TypeError(f"add() is for AssetAlias outlets, not {self.key}")
        if not isinstance(asset, Asset):
            raise TypeError(f"outlet_events[...].add() takes an Asset, not {asset!r}")
        self.added.append((asset, dict(extra or {})))


class OutletEventAccessors:
    """``outlet_events`` of a running task. Stricter than Airflow, which drops events of an outlet the task did not
    declare: the harness refuses them ("The task must first declare the alias as an outlet", assets docs)."""

    def __init__(self, task_id: str, outlets: list):
        self.task_id = task_id
        self.declared = {_outlet_key(o) for o in outlets}
        self.accessors: dict[tuple[str, str], OutletEventAccessor] = {}

    def __getitem__(self, obj: Any) -> OutletEventAccessor:
        key = _outlet_key(obj)
        if key not in self.declared:
            raise KeyError(f"{self.task_id}: {obj!r} is not an outlet of this task")
        return self.accessors.setdefault(key, OutletEventAccessor(key))

    def events(self, outlets: list, task_id: str, map_index: int) -> list[AssetEvent]:
        """The events a successful task emits: one per Asset outlet; per alias outlet, one per asset added, once
        per (asset, extra) however often it was added or to how many aliases ("Only one asset event is emitted for
        an added asset..." in the assets docs). An alias with nothing added emits nothing."""
        out, seen = [], set()
        for o in outlets:
            key = _outlet_key(o)
            acc = self.accessors.get(key)
            if key[0] == "asset":
                out.append(AssetEvent(o.uri, dict(acc.extra) if acc else {}, task_id, map_index, None))
                continue
            for asset, extra in (acc.added if acc else []):
                ident = (asset.uri, json.dumps(extra, sort_keys=True, default=str))
                if ident not in seen:
                    seen.add(ident)
                    out.append(AssetEvent(asset.uri, extra, task_id, map_index, o.name))
        return out


def _context_args(fn: Callable, context: dict) -> dict:
    """Airflow passes context values to TaskFlow parameters named like context keys (all of them to **kwargs)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(context)
    return {p: context[p] for p in params if p in context}


def _is_mapped(node: Node) -> bool:
    return isinstance(node, MappedOperator) or node.mapped_group() is not None


def simulate(dag: DAG, conf: dict | None = None, run_id: str = "manual__2025-01-01T00:00:00+00:00",
             connection: dict | None = None, variables: dict | None = None,
             fail: set[str] | frozenset = frozenset()) -> list[Submission]:
    """Runs one DAG run of ``dag`` with run conf ``conf``; returns the spark-submit commands in execution order.

    ``fail`` names task instances (``task`` or ``task[i]``) whose spark-submit exits non-zero. After the run,
    ``dag.last_states`` maps every task instance to its state, ``dag.last_asset_events`` lists the asset events,
    ``dag.last_errors`` the failures, and ``dag.last_run_state`` is the DAG run's state (from its leaves: failed if
    any leaf task instance is failed or upstream_failed, else success; Dag Run Status in the DAG run docs)."""
    conf = conf or {}
    unknown = set(conf) - set(dag.params)
    if unknown:
        raise ValueError(f"conf keys that are not params of {dag.dag_id}: {sorted(unknown)}")
    params = {}
    for k, p in dag.params.items():
        params[k] = copy.deepcopy(conf.get(k, p.value if isinstance(p, Param) else p))
        if isinstance(p, Param):
            problems = validate_param(k, params[k], p.schema)
            if problems:
                raise ValueError("; ".join(problems))
    dag_run = types.SimpleNamespace(dag_id=dag.dag_id, run_id=run_id, conf=conf)
    variables = variables or {}
    base = {"params": params, "dag_run": dag_run, "run_id": run_id, "dag": dag,
            "ds": "2025-01-01", "ds_nodash": "20250101",
            "var": types.SimpleNamespace(value=types.SimpleNamespace(get=lambda k, d=None: variables.get(k, d))),
            "connection": connection or {"master": "local[2]", "spark_binary": "spark-submit"}}
    submissions: list[Submission] = []
    submitted: set[str] = set()

    def submit(op, ctx, cmd):
        key = ti_key(op.task_id, ctx["ti"].map_index)
        submissions.append(Submission(op.task_id, ctx["ti"].map_index, op.java_class, cmd, op.application,
                                      list(op.application_args or []), dict(op.conf or {})))
        submitted.add(key)
        if key in fail:
            raise SparkSubmitFailed(f"{key}: spark-submit exited with code 1 (simulated)")

    Registry.submit = submit
    xcom: dict[tuple[str, int, str | None], Any] = {}
    state: dict[tuple[str, int], str] = {}
    expansions: dict[str, int | None] = {}
    forced_skip: set[str] = set()
    events: list[AssetEvent] = []
    errors: dict[str, str] = {}

    def indexes_of(task_id: str) -> list[int]:
        return sorted(i for t, i in state if t == task_id)

    def pull(ref: XComArg, node: Node, map_index: int) -> Any:
        """XComArg.resolve: one value; from a producer in the same mapped task group, the value of the same map
        index (the task "only depends on its relevant inputs", depth-first execution); from a mapped producer
        elsewhere, every map index's value in order (LazyXComSequence)."""
        producer = dag.task_dict[ref.node.task_id]
        group = producer.mapped_group()
        if group is not None and group is node.mapped_group() and map_index >= 0:
            return xcom.get((producer.task_id, map_index, ref.key))
        if _is_mapped(producer):
            return [xcom.get((producer.task_id, i, ref.key)) for i in indexes_of(producer.task_id)]
        return xcom.get((producer.task_id, -1, ref.key))

    def expansion_values(node: Node) -> list | None:
        """The values a mapped task expands over, or None while an XCom input is not available (its producer did not
        succeed: the task instance then stays unexpanded)."""
        group = node.mapped_group()
        inputs = group.expand_input if group is not None else node.expand_kwargs
        (value,) = inputs.values()
        if isinstance(value, XComArg):
            if state.get((value.node.task_id, -1)) != "success":
                return None
            value = xcom.get((value.node.task_id, -1, None))
            if not isinstance(value, (list, dict)):
                # "you can't have the upstream task return a plain string - it must be a list or a dict"
                raise TypeError(f"{node.task_id}: cannot expand over {type(value).__name__} (UnmappableXComTypePushed)")
        return list(value) if isinstance(value, list) else list(value.items())

    def resolve(value: Any, node: Node, map_index: int) -> Any:
        if isinstance(value, XComArg):
            return pull(value, node, map_index)
        if isinstance(value, MappedArgument):
            return expansion_values(node)[map_index]
        if isinstance(value, list):
            return [resolve(i, node, map_index) for i in value]
        if isinstance(value, tuple):
            return tuple(resolve(i, node, map_index) for i in value)
        if isinstance(value, dict):
            return {k: resolve(i, node, map_index) for k, i in value.items()}
        return value

    def render_operator_field(value: Any, ctx: dict, node: Node, map_index: int) -> Any:
        """Templater.render_template: strings are rendered, XCom references (ResolveMixin) resolved and not
        rendered further, collections recursed."""
        if isinstance(value, str):
            return render(value, ctx, dag.filters)
        if isinstance(value, XComArg):
            return pull(value, node, map_index)
        if isinstance(value, list):
            return [render_operator_field(v, ctx, node, map_index) for v in value]
        if isinstance(value, tuple):
            return tuple(render_operator_field(v, ctx, node, map_index) for v in value)
        if isinstance(value, dict):
            return {k: render_operator_field(v, ctx, node, map_index) for k, v in value.items()}
        return value

    def relevant_upstream_states(task_id: str, map_index: int) -> list[str]:
        """States of the upstream task instances this one depends on (_is_relevant_upstream): in the same mapped task
        group only the same map index, otherwise every task instance of the upstream task."""
        node = dag.task_dict[task_id]
        group = node.mapped_group()
        out = []
        for up in dag.upstream(task_id):
            same = group is not None and dag.task_dict[up].mapped_group() is group and map_index >= 0
            if same and (up, map_index) in state:
                out.append(state[(up, map_index)])
            else:
                out.extend(state[(up, i)] for i in indexes_of(up))
        return out

    def run(node: Node, map_index: int) -> str:
        task_id = node.task_id
        ti = types.SimpleNamespace(task_id=task_id, map_index=map_index, try_number=1)
        outlets = list(node.kwargs.get("outlets") or [])
        outlet_events = OutletEventAccessors(task_id, outlets)
        ctx = {**base, "ti": ti, "task_instance": ti, "task": node, "outlet_events": outlet_events}
        try:
            if isinstance(node, TaskFlowTask):
                value = node.fn(*resolve(list(node.args), node, map_index),
                                **resolve(node.call_kwargs, node, map_index), **_context_args(node.fn, ctx))
                if node.kind == "short_circuit" and not value:
                    # ShortCircuitOperator: all downstream tasks are skipped, or with
                    # ignore_downstream_trigger_rules=False only the direct ones (the others follow their rules)
                    if node.options.get("ignore_downstream_trigger_rules", True):
                        forced_skip.update(dag.descendants(task_id))
                    else:
                        forced_skip.update(dag.downstream(task_id))
                if node.options.get("multiple_outputs"):
                    for k, v in value.items():
                        xcom[(task_id, map_index, k)] = v
                xcom[(task_id, map_index, None)] = value
            elif isinstance(node, MappedOperator):
                (name,) = node.expand_kwargs
                kwargs = {**node.partial_kwargs, name: expansion_values(node)[map_index]}
                op = node.operator_class(_register=False, **kwargs)
                ctx["task"] = op
                for f in op.template_fields:
                    if f == name and _refs(node.expand_kwargs[name]):
                        continue  # "If a field is marked as being templated and is mapped, it will not be templated"
                    if hasattr(op, f):
                        setattr(op, f, render_operator_field(getattr(op, f), ctx, node, map_index))
                op.execute(ctx)
                if "map_index_template" in kwargs:
                    op.map_index_label = render(kwargs["map_index_template"], ctx, dag.filters)
            else:
                op = copy.copy(node)
                ctx["task"] = op
                for f in op.template_fields:
                    if hasattr(op, f):
                        setattr(op, f, render_operator_field(getattr(op, f), ctx, node, map_index))
                op.execute(ctx)
        except SparkSubmitFailed as e:
            errors[ti_key(task_id, map_index)] = str(e)
            return "failed"
        except Exception as e:  # noqa: BLE001 - a TaskFlow callable that raises fails its task instance
            # anything else, and template or call-signature errors, are bugs of the DAG or the harness: loud
            if not isinstance(node, TaskFlowTask) or isinstance(e, (TemplateError, TypeError)):
                raise
            errors[ti_key(task_id, map_index)] = f"{type(e).__name__}: {e}"
            return "failed"
        # "Airflow marks an asset as updated only if the task completes successfully" (asset scheduling docs)
        events.extend(outlet_events.events(outlets, task_id, map_index))
        return "success"

    for task_id in dag.topological_order():
        node = dag.task_dict[task_id]
        rule = node.kwargs.get("trigger_rule", "all_success")
        if _is_mapped(node):
            values = expansion_values(node)
            if values is not None and not values:
                state[(task_id, -1)] = "skipped"  # "Automatically skipping zero-length maps"
                continue
            indexes = [-1] if values is None else list(range(len(values)))
        else:
            indexes = [-1]
        for i in indexes:
            if task_id in forced_skip:
                state[(task_id, i)] = "skipped"
                continue
            decided = trigger_state(rule, relevant_upstream_states(task_id, i))
            if decided is not None:
                state[(task_id, i)] = decided
                continue
            if _is_mapped(node) and i < 0:
                raise RuntimeError(f"{task_id}: trigger rule {rule} lets an unexpanded mapped task run")
            state[(task_id, i)] = run(node, i)
    unknown_failures = set(fail) - submitted
    if unknown_failures:
        raise ValueError(f"fail names task instances that never submitted: {sorted(unknown_failures)}")
    dag.last_states = {ti_key(t, i): s for (t, i), s in state.items()}
    dag.last_asset_events = events
    dag.last_errors = errors
    leaf_states = [state[(t, i)] for t in dag.leaves() for i in indexes_of(t)]
    dag.last_run_state = "failed" if {"failed", "upstream_failed"} & set(leaf_states) else "success"
    return submissions
