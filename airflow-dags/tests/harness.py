"""Stdlib-only stand-in for the parts of Airflow the headwise DAGs use, to check and run them without Airflow.

* ``load_dags(path)`` imports a DAG file with stub ``airflow`` modules in ``sys.modules`` (and with file, network and
  process I/O disabled, since a DAG file must not do I/O at import time) and returns the DAG objects it built: tasks,
  their keyword arguments, dependency edges, params.
* ``render(text, context, filters)`` renders the Jinja subset the DAGs may use: ``{{ expression }}`` with names,
  attribute and item access, constants, ``x if c else y``, ``and``/``or``/``not``, comparisons, ``+ - *``, filters
  (``join``, ``lower``, ``upper``, ``replace``, ``default``, ``string``, ``int``, ``float`` and the DAG's
  ``user_defined_filters``) and ``.get(...)`` calls; undefined names are errors (Airflow renders with
  StrictUndefined). Statements (``{% %}``) are refused.
* ``simulate(dag, ...)`` runs one DAG run the way the scheduler and workers would: tasks in dependency order,
  trigger rules, short-circuit skips, TaskFlow functions called with their context arguments, mapped operators
  expanded per XCom item (values that come from XCom are not templated, as in Airflow), template fields rendered,
  and each SparkSubmitOperator's ``execute`` building the spark-submit command line the provider's hook builds.
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
    # filled by simulate(): how an executing SparkSubmitOperator reports its command line
    submit: Callable | None = None


class Param:
    def __init__(self, default: Any = None, description: str | None = None, **schema: Any):
        self.value = default
        self.description = description
        self.schema = schema


class Asset:
    def __init__(self, name: str | None = None, uri: str | None = None, **kwargs: Any):
        self.name = name or uri
        self.uri = uri or name
        self.extra = kwargs


class Node:
    """A task in the graph: dependency operators shared by operators, mapped operators and TaskFlow tasks."""

    def __init__(self, task_id: str):
        if not Registry.stack:
            raise RuntimeError(f"task {task_id!r} created outside a DAG context")
        self.dag = Registry.stack[-1]
        self.task_id = task_id
        self.dag.add(self)

    def _nodes(self, other):
        items = other if isinstance(other, (list, tuple)) else [other]
        return [i.node if isinstance(i, XComArg) else i for i in items]

    def __rshift__(self, other):
        for o in self._nodes(other):
            self.dag.edge(self, o)
        return other

    def __lshift__(self, other):
        for o in self._nodes(other):
            self.dag.edge(o, self)
        return other

    def __rrshift__(self, other):  # [a, b] >> self
        self.__lshift__(other)
        return self

    def __rlshift__(self, other):  # [a, b] << self
        self.__rshift__(other)
        return self


class XComArg:
    """A reference to a task's return value (or one key of it)."""

    def __init__(self, node: Node, key: str | None = None):
        self.node = node
        self.key = key

    def __getitem__(self, key: str) -> "XComArg":
        return XComArg(self.node, key)

    def __rshift__(self, other):
        return self.node.__rshift__(other)

    def __lshift__(self, other):
        return self.node.__lshift__(other)

    def __rrshift__(self, other):
        self.node.__rrshift__(other)
        return self

    def __rlshift__(self, other):
        self.node.__rlshift__(other)
        return self


def _xcom_refs(value: Any) -> list[XComArg]:
    if isinstance(value, XComArg):
        return [value]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _xcom_refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _xcom_refs(v)]
    return []


class DAG:
    def __init__(self, dag_id: str | None = None, **kwargs: Any):
        unknown = set(kwargs) - DAG_ARGS
        if unknown:
            raise TypeError(f"DAG {dag_id!r}: unknown arguments {sorted(unknown)}")
        self.dag_id = dag_id or kwargs.get("dag_id")
        self.kwargs = kwargs
        self.tasks: dict[str, Node] = {}
        self.edges: list[tuple[str, str]] = []
        self.default_args = dict(kwargs.get("default_args") or {})
        self.params = dict(kwargs.get("params") or {})
        self.filters = dict(kwargs.get("user_defined_filters") or {})
        Registry.dags.append(self)

    def __enter__(self):
        Registry.stack.append(self)
        return self

    def __exit__(self, *exc):
        Registry.stack.pop()
        return False

    def add(self, node: Node):
        if node.task_id in self.tasks:
            raise ValueError(f"DAG {self.dag_id}: duplicate task id {node.task_id!r}")
        self.tasks[node.task_id] = node

    def edge(self, up: Node, down: Node):
        if (up.task_id, down.task_id) not in self.edges:
            self.edges.append((up.task_id, down.task_id))

    def upstream(self, task_id: str) -> list[str]:
        return [u for u, d in self.edges if d == task_id]

    def downstream(self, task_id: str) -> list[str]:
        return [d for u, d in self.edges if u == task_id]

    def topological_order(self) -> list[str]:
        """Task ids in dependency order (creation order among independent tasks); raises on a cycle."""
        pending = {t: set(self.upstream(t)) for t in self.tasks}
        order = []
        while pending:
            ready = [t for t in self.tasks if t in pending and not pending[t]]
            if not ready:
                raise ValueError(f"DAG {self.dag_id}: cycle among {sorted(pending)}")
            for t in ready:
                order.append(t)
                del pending[t]
                for deps in pending.values():
                    deps.discard(t)
        return order


class BaseOperator(Node):
    template_fields: tuple = ()
    allowed_args: set = set()

    def __init__(self, *, task_id: str, _register: bool = True, **kwargs: Any):
        unknown = set(kwargs) - BASE_OPERATOR_ARGS - self.allowed_args
        if unknown:
            raise TypeError(f"{type(self).__name__} {task_id!r}: unknown arguments {sorted(unknown)}")
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
            for ref in _xcom_refs(kwargs):
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
        super().__init__(partial_kwargs["task_id"])
        both = set(partial_kwargs) & set(expand_kwargs)
        if both:
            raise TypeError(f"{self.task_id}: {sorted(both)} given to both partial() and expand()")
        self.operator_class = cls
        defaults = {k: v for k, v in self.dag.default_args.items() if k not in partial_kwargs}
        self.partial_kwargs = {**defaults, **partial_kwargs}
        self.expand_kwargs = expand_kwargs
        self.kwargs = {**self.partial_kwargs, **expand_kwargs}
        cls(_register=False, **{**partial_kwargs, **{k: None for k in expand_kwargs}})  # argument check
        for ref in _xcom_refs(partial_kwargs) + _xcom_refs(expand_kwargs):
            self.dag.edge(ref.node, self)


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
        super().__init__(options.get("task_id", fn.__name__))
        self.fn, self.kind, self.options, self.args, self.call_kwargs = fn, kind, options, args, kwargs
        self.kwargs = {**self.dag.default_args, **options}
        for ref in _xcom_refs(list(args)) + _xcom_refs(kwargs):
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
    """The airflow modules a DAG file imports, as stubs."""
    mods = {}
    for name in ("airflow", "airflow.sdk", "airflow.providers", "airflow.providers.apache",
                 "airflow.providers.apache.spark", "airflow.providers.apache.spark.operators",
                 "airflow.providers.apache.spark.operators.spark_submit"):
        mods[name] = types.ModuleType(name)
    sdk = mods["airflow.sdk"]
    sdk.DAG, sdk.Asset, sdk.Param, sdk.task, sdk.BaseOperator = DAG, Asset, Param, _task, BaseOperator
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
    """One spark-submit: the task, its mapped index (-1 if not mapped), main class, full command line, and the
    application arguments (the part after the jar) and conf as the operator passed them."""
    task_id: str
    map_index: int
    java_class: str
    argv: list[str]
    application: str
    application_args: list[str]
    conf: dict


def _context_args(fn: Callable, context: dict) -> dict:
    """Airflow passes context values to TaskFlow parameters named like context keys (all of them to **kwargs)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(context)
    return {p: context[p] for p in params if p in context}


def simulate(dag: DAG, conf: dict | None = None, run_id: str = "manual__2025-01-01T00:00:00+00:00",
             connection: dict | None = None, variables: dict | None = None) -> list[Submission]:
    """Runs one DAG run of ``dag`` with run conf ``conf``; returns the spark-submit commands in execution order."""
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
    Registry.submit = lambda op, ctx, cmd: submissions.append(
        Submission(op.task_id, ctx["ti"].map_index, op.java_class, cmd, op.application,
                   list(op.application_args or []), dict(op.conf or {})))
    xcom: dict[tuple[str, str | None], Any] = {}
    state: dict[str, str] = {}
    forced_skip: set[str] = set()

    def resolve(v):
        if isinstance(v, XComArg):
            return xcom[(v.node.task_id, v.key)]
        if isinstance(v, list):
            return [resolve(i) for i in v]
        if isinstance(v, tuple):
            return tuple(resolve(i) for i in v)
        if isinstance(v, dict):
            return {k: resolve(i) for k, i in v.items()}
        return v

    for task_id in dag.topological_order():
        node = dag.tasks[task_id]
        ups = [state[u] for u in dag.upstream(task_id)]
        rule = node.kwargs.get("trigger_rule", "all_success")
        if task_id in forced_skip:
            state[task_id] = "skipped"
            continue
        if rule == "all_success" and any(s != "success" for s in ups):
            state[task_id] = "skipped"
            continue
        if rule in ("none_failed", "none_failed_min_one_success") and any(s == "failed" for s in ups):
            state[task_id] = "upstream_failed"
            continue
        ti = types.SimpleNamespace(task_id=task_id, map_index=-1, try_number=1)
        ctx = {**base, "ti": ti, "task_instance": ti, "task": node}
        if isinstance(node, TaskFlowTask):
            value = node.fn(*resolve(list(node.args)), **resolve(node.call_kwargs),
                            **_context_args(node.fn, ctx))
            if node.kind == "short_circuit" and not value:
                forced_skip.update(dag.downstream(task_id))
            if node.options.get("multiple_outputs"):
                for k, v in value.items():
                    xcom[(task_id, k)] = v
            xcom[(task_id, None)] = value
        elif isinstance(node, MappedOperator):
            expanded = {k: resolve(v) for k, v in node.expand_kwargs.items()}
            lengths = {len(v) for v in expanded.values()}
            if len(lengths) != 1:
                raise ValueError(f"{task_id}: expand() values of different lengths")
            from_xcom = {k for k, v in node.expand_kwargs.items() if _xcom_refs(v)}
            for i in range(lengths.pop()):
                kwargs = {**node.partial_kwargs, **{k: v[i] for k, v in expanded.items()}}
                op = node.operator_class(_register=False, **kwargs)
                ti_i = types.SimpleNamespace(task_id=task_id, map_index=i, try_number=1)
                ctx_i = {**ctx, "ti": ti_i, "task_instance": ti_i, "task": op}
                for f in op.template_fields:
                    if f in from_xcom or not hasattr(op, f):
                        continue  # values that come from XCom are not templated
                    setattr(op, f, render_field(getattr(op, f), ctx_i, dag.filters))
                op.execute(ctx_i)
                if "map_index_template" in kwargs:
                    op.map_index_label = render(kwargs["map_index_template"], ctx_i, dag.filters)
        else:
            op = copy.copy(node)
            for f in op.template_fields:
                if hasattr(op, f):
                    setattr(op, f, render_field(copy.deepcopy(getattr(op, f)), ctx, dag.filters))
            op.execute(ctx)
        state[task_id] = "success"
    dag.last_states = state
    return submissions
