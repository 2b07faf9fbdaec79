"""Stdlib-only checks of the Airflow DAG files (no Airflow installed).

The DAG files are parsed with ``ast`` and imported against stub ``airflow`` modules (``harness.py``); the options of
every spark-submit main come from the manifest the build writes from the picocli model
(``jobs/target/headwise-options.json``, path in HEADWISE_OPTIONS_MANIFEST), so a flag the DAG passes is checked
against the command that parses it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import unittest
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "airflow-dags" / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))
PIPELINE_FILE = DAGS_DIR / "headwise_pipeline.py"
JAVA_SOURCES = REPO / "jobs" / "src" / "main" / "java"

# The per-method chain: a mapped task group, one instance per entry of params.methods.
GROUP = "per_method"
PLAN, EXPORT, EVALUATE, PUBLISH, IDS = (f"{GROUP}.{t}" for t in ("plan", "export", "evaluate", "publish", "ids"))
MAPPED_PER_METHOD = {IDS, PLAN, EXPORT, EVALUATE, PUBLISH}
WATCHER = "failure_watcher"
# The intended task graph of every pipeline DAG (upstream, downstream), XCom edges included; failure_watcher is
# downstream of every task but the short-circuit (checked separately).
EXPECTED_EDGES = {
    ("methods", IDS), (IDS, PLAN), (IDS, EXPORT), (IDS, EVALUATE), (IDS, PUBLISH),
    ("calibrate", "profile"), ("profile", PLAN), (PLAN, EXPORT), (EXPORT, EVALUATE), (EVALUATE, PUBLISH),
    (PUBLISH, "report"),
    ("calibrate_heldout", EVALUATE),
    ("calibrate", "quantize_enabled"), ("calibrate_heldout", "quantize_enabled"), ("quantize_enabled", "quantize"),
    ("quantize", "publish_quantized"), ("publish_quantized", "report"),
}
ALIAS = "headwise-published-plans"
# Calls that do I/O; none may run at import time (module level, outside function bodies).
IO_CALLS = {"open", "print", "input", "Variable.get", "Variable.set", "Connection.get", "urlopen", "requests.get",
            "requests.post", "os.listdir", "os.scandir", "os.walk", "os.system", "os.getenv", "os.environ.get",
            "subprocess.run", "subprocess.Popen", "subprocess.check_output", "socket.socket", "Path.read_text",
            "read_text", "read_bytes", "glob", "iterdir", "json.load", "time.sleep"}
CONDITIONAL_FLAG = re.compile(r"^\{\{\s*'(--[A-Za-z0-9-]+)'\s+if\s+.+\s+else\s+''\s*\}\}$")
# A run conf that switches every optional flag on, to check the rendered command lines with all of them.
ALL_ON = {"ship_model": True, "calibration_text": "/data/text/calibration.txt", "heldout_text": "/data/text/h.txt",
          "tokenizer": "/data/models/m/tokenizer.json", "quant_rotate": True, "executor_gpus": 1, "ep": "cuda",
          "methods": ["dense", "duo", "razor", "moa"], "probes": ["repeat", "passkey", "self"]}


def manifest() -> dict:
    path = Path(os.environ.get("HEADWISE_OPTIONS_MANIFEST", REPO / "jobs" / "target" / "headwise-options.json"))
    if not path.is_file():
        raise AssertionError(f"options manifest {path} is missing: build the jobs module first (./mvnw -B package)")
    return json.loads(path.read_text(encoding="utf-8"))


def mains() -> dict:
    """java class -> {"main": bool, "options": {name: option}} from the manifest."""
    out = {}
    for c in manifest()["commands"]:
        out[c["class"]] = {"main": c["main"], "command": c["name"],
                           "options": {n: o for o in c["options"] for n in o["names"]},
                           "required": [o for o in c["options"] if o["required"]]}
    return out


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return dotted(node.value) + "." + node.attr
    if isinstance(node, ast.Call):
        return dotted(node.func)
    return ""


def module_level_calls(tree: ast.Module) -> list[ast.Call]:
    """Calls that run when the module is imported: outside function and lambda bodies."""
    calls = []

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for d in getattr(node, "decorator_list", []):
                visit(d)
            return
        if isinstance(node, ast.Call):
            calls.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return calls


def load(path: Path) -> list:
    return harness.load_dags(str(path))


def spark_tasks(dag) -> list:
    """SparkSubmitOperator tasks (plain and mapped)."""
    out = []
    for t in dag.tasks:
        cls = t.operator_class if isinstance(t, harness.MappedOperator) else type(t)
        if isinstance(cls, type) and issubclass(cls, harness.SparkSubmitOperator):
            out.append(t)
    return out


def check_arguments(args: list, cls: str, known: dict, rendered: bool) -> list[str]:
    """Problems of an argument list against the main's options: unknown flags, missing values, repeated
    single-value options, missing required options. Unrendered lists may hold conditional flags
    ({{ '--x' if ... else '' }}) and XCom references (values resolved at run time, never flags); a rendered list
    must not hold templates."""
    if not rendered:
        args = ["{{ xcom }}" if isinstance(a, harness.XComArg) else a for a in args]
    problems, seen = [], []
    opts = known[cls]["options"]
    i = 0
    while i < len(args):
        tok = args[i]
        m = CONDITIONAL_FLAG.match(tok) if not rendered else None
        if rendered and "{{" in tok:
            problems.append(f"{cls}: unrendered template {tok!r}")
        if m:
            flag, inline = m.group(1), None
        elif tok.startswith("--") and "{{" not in tok:
            flag, _, inline = tok.partition("=")
            inline = inline if "=" in tok else None
        else:
            problems.append(f"{cls}: {tok!r} at position {i} is where a flag is expected")
            i += 1
            continue
        opt = opts.get(flag)
        if opt is None:
            problems.append(f"{cls}: {flag} is not an option of '{known[cls]['command']}'")
            i += 1
            continue
        if flag in seen and not opt["repeatable"]:
            problems.append(f"{cls}: {flag} given twice")
        seen.append(flag)
        if opt["takes_value"] and inline is None:
            nxt = args[i + 1] if i + 1 < len(args) else None
            if nxt is None or (nxt.startswith("--") and "{{" not in nxt) or CONDITIONAL_FLAG.match(nxt or ""):
                problems.append(f"{cls}: {flag} needs a value")
                i += 1
                continue
            if rendered and nxt == "":
                problems.append(f"{cls}: {flag} has an empty value")
            i += 2
        else:
            i += 1
    for opt in known[cls]["required"]:
        if not any(n in seen for n in opt["names"]) and "--config" not in seen:
            problems.append(f"{cls}: required option {opt['names'][0]} is missing")
    return problems


class DagFiles(unittest.TestCase):
    """Every DAG file: parses, imports only stdlib and Airflow, no I/O at import, Airflow conventions."""

    def test_dag_files_exist(self):
        self.assertIn(PIPELINE_FILE, DAG_FILES)
        self.assertGreaterEqual(len(DAG_FILES), 2)

    def test_every_dag_file_parses(self):
        for f in DAG_FILES:
            with self.subTest(file=f.name):
                compile(ast.parse(f.read_text(encoding="utf-8"), str(f)), str(f), "exec")

    def test_imports_only_stdlib_and_airflow(self):
        for f in DAG_FILES:
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                for n in names:
                    top = n.split(".")[0]
                    with self.subTest(file=f.name, module=n):
                        self.assertTrue(top == "airflow" or top in sys.stdlib_module_names or top == "__future__",
                                        f"{f.name} imports {n}")

    def test_no_io_at_import_time(self):
        for f in DAG_FILES:
            tree = ast.parse(f.read_text(encoding="utf-8"))
            for call in module_level_calls(tree):
                name = dotted(call.func)
                with self.subTest(file=f.name, call=name):
                    self.assertFalse(name in IO_CALLS or name.split(".")[-1] in IO_CALLS,
                                     f"{f.name}:{call.lineno} calls {name} at import time")
            # and dynamically: importing against the stubs with file/network/process I/O disabled
            self.assertTrue(load(f), f"{f.name} defines no DAG")

    def test_dag_conventions(self):
        dag_ids = []
        for f in DAG_FILES:
            for dag in load(f):
                dag_ids.append(dag.dag_id)
                kw = dag.kwargs
                with self.subTest(dag=dag.dag_id):
                    self.assertRegex(dag.dag_id, r"^[A-Za-z0-9_.-]+$")
                    self.assertIs(kw.get("catchup"), False, "catchup=False")
                    self.assertIn("schedule", kw)
                    start = kw.get("start_date")
                    self.assertIsNotNone(start, "start_date")
                    self.assertIsNotNone(start.tzinfo, "start_date has a time zone")
                    self.assertTrue(kw.get("doc_md"), "doc_md")
                    args = dag.default_args
                    self.assertGreaterEqual(args.get("retries", 0), 1, "default_args.retries")
                    self.assertIn("retry_delay", args)
                    self.assertIs(args.get("retry_exponential_backoff"), True, "retries back off")
                    self.assertIn("max_retry_delay", args)
        self.assertEqual(len(dag_ids), len(set(dag_ids)), f"duplicate dag ids {dag_ids}")

    def test_start_dates_are_static(self):
        for f in DAG_FILES:
            for call in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(call, ast.Call) and dotted(call.func).split(".")[-1] == "DAG":
                    start = next((k.value for k in call.keywords if k.arg == "start_date"), None)
                    with self.subTest(file=f.name, line=call.lineno):
                        self.assertIsInstance(start, ast.Call)
                        self.assertEqual(dotted(start.func).split(".")[-1], "datetime")
                        for a in start.args:
                            self.assertIsInstance(a, ast.Constant, "start_date from constants, not now()")


class PipelineGraph(unittest.TestCase):
    """Task ids, the dependency graph, retries."""

    @classmethod
    def setUpClass(cls):
        cls.dags = load(PIPELINE_FILE)

    def test_one_dag_per_model_family(self):
        ids = [d.dag_id for d in self.dags]
        self.assertIn("headwise_pipeline", ids)
        self.assertIn("headwise_stories260k", ids)

    def test_task_ids_unique(self):
        # the stub DAG refuses a duplicate id; here also every literal task_id of the file's task factory
        literal = [k.value.value for n in ast.walk(ast.parse(PIPELINE_FILE.read_text(encoding="utf-8")))
                   if isinstance(n, ast.Call) for k in n.keywords
                   if k.arg == "task_id" and isinstance(k.value, ast.Constant)]
        self.assertEqual(len(literal), len(set(literal)), literal)
        for dag in self.dags:
            self.assertEqual(len(dag.tasks), len(set(dag.task_dict)))

    def test_dependency_graph_is_the_intended_one_and_acyclic(self):
        for dag in self.dags:
            with self.subTest(dag=dag.dag_id):
                watched = {(t, WATCHER) for t in dag.task_dict if t not in (WATCHER, "quantize_enabled")}
                self.assertEqual(set(dag.edges), EXPECTED_EDGES | watched)
                order = dag.topological_order()
                self.assertEqual(set(order), set(dag.task_dict))
                for up, down in dag.edges:
                    self.assertLess(order.index(up), order.index(down))
                self.assertEqual({t for t, n in dag.task_dict.items() if isinstance(n, harness.MappedOperator)},
                                 set(), "per-method steps are mapped through their task group, not one by one")
                group = dag.groups[GROUP]
                self.assertIsNotNone(group.expand_input, "per_method is a mapped task group")
                self.assertEqual(set(group.members), MAPPED_PER_METHOD)
                self.assertEqual(group.expand_input["method"].node.task_id, "methods")
                self.assertEqual(dag.task_dict["report"].kwargs.get("trigger_rule"), "all_done")
                self.assertEqual(dag.task_dict[WATCHER].kwargs.get("trigger_rule"), "one_failed")
                self.assertEqual(dag.leaves(), [WATCHER])

    def test_retries_with_backoff_on_every_task(self):
        for dag in self.dags:
            for t in dag.tasks:
                with self.subTest(dag=dag.dag_id, task=t.task_id):
                    if t.task_id == WATCHER:
                        # it fails on purpose: retrying it would only delay the run's failure
                        self.assertEqual(t.kwargs.get("retries"), 0)
                        continue
                    self.assertGreaterEqual(t.kwargs.get("retries", 0), 1)
                    self.assertTrue(t.kwargs.get("retry_exponential_backoff"))
                    self.assertIn("retry_delay", t.kwargs)

    def test_airflow2_fallback_imports_the_same_names(self):
        # the harness imports the Airflow 3 names; the ImportError branch must bind the same ones
        for f in DAG_FILES:
            tree = ast.parse(f.read_text(encoding="utf-8"))
            tries = [n for n in tree.body if isinstance(n, ast.Try)
                     and any(dotted(h.type) == "ImportError" for h in n.handlers)]
            with self.subTest(file=f.name):
                self.assertEqual(len(tries), 1)

                def bound(nodes):
                    return {a.asname or a.name for n in nodes for m in ast.walk(n)
                            if isinstance(m, ast.ImportFrom) for a in m.names}

                self.assertEqual(bound(tries[0].body), bound(tries[0].handlers))


class SparkSubmitSteps(unittest.TestCase):
    """java_class and application_args against the mains' options."""

    @classmethod
    def setUpClass(cls):
        cls.dags = load(PIPELINE_FILE)
        cls.mains = mains()

    def test_every_step_is_a_spark_submit_of_the_jobs_jar(self):
        for dag in self.dags:
            steps = {t.task_id for t in spark_tasks(dag)}
            self.assertEqual(steps, set(dag.task_dict) - {"methods", IDS, "quantize_enabled", WATCHER})
            for t in spark_tasks(dag):
                self.assertIn("headwise_jobs_jar", t.kwargs["application"])

    def test_java_class_is_a_main_class_in_the_repository(self):
        for dag in self.dags:
            for t in spark_tasks(dag):
                cls = t.kwargs.get("java_class")
                with self.subTest(task=t.task_id, java_class=cls):
                    self.assertIsInstance(cls, str)
                    self.assertNotIn("{{", cls, "java_class is not a template field")
                    self.assertIn(cls, self.mains, "not a headwise subcommand class in the options manifest")
                    self.assertTrue(self.mains[cls]["main"], "has no public static void main(String[])")
                    src = JAVA_SOURCES / (cls.replace(".", "/") + ".java")
                    self.assertTrue(src.is_file(), f"{src} not found")
                    self.assertRegex(src.read_text(encoding="utf-8"), r"public static void main\(String\[\] \w+\)")

    def test_application_args_are_options_of_the_main(self):
        for dag in self.dags:
            for t in spark_tasks(dag):
                args = t.kwargs["application_args"]
                with self.subTest(task=t.task_id):
                    self.assertIsInstance(args, list)
                    self.assertEqual(check_arguments(args, t.kwargs["java_class"], self.mains, False), [])

    def test_rendered_command_lines_are_valid(self):
        for dag in self.dags:
            for conf in ({}, ALL_ON):
                for s in harness.simulate(dag, conf):
                    with self.subTest(dag=dag.dag_id, task=s.task_id, index=s.map_index, conf=bool(conf)):
                        self.assertEqual(check_arguments(s.application_args, s.java_class, self.mains, True), [])
                        self.assertEqual(s.argv[0], "spark-submit")
                        self.assertIn(s.application, s.argv)
                        self.assertEqual(s.argv[s.argv.index("--class") + 1], s.java_class)
                        for k, v in s.conf.items():
                            self.assertTrue(k.startswith("spark."), k)
                            self.assertNotIn("{{", str(v))
                            self.assertNotEqual(str(v), "")
                        self.assertNotIn("None", s.application_args)

    def test_gpu_conf_only_with_gpus(self):
        dag = self.dags[0]
        off = {s.task_id: s.conf for s in harness.simulate(dag, {})}
        on = {s.task_id: s.conf for s in harness.simulate(dag, {"executor_gpus": 1, "ep": "cuda"})}
        for task in ("profile", EVALUATE, "quantize"):
            self.assertNotIn("spark.executor.resource.gpu.amount", off[task])
            self.assertEqual(on[task]["spark.executor.resource.gpu.amount"], "1")
            self.assertEqual(on[task]["spark.task.resource.gpu.amount"], "1")
            self.assertIn("spark.executor.resource.gpu.discoveryScript", on[task])
        self.assertNotIn("spark.executor.resource.gpu.amount", on[PLAN])


class Templates(unittest.TestCase):
    """Templates use defined params and context names only; param defaults are valid."""

    @classmethod
    def setUpClass(cls):
        cls.dags = [d for f in DAG_FILES for d in load(f)]

    def _strings(self, value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from self._strings(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from self._strings(k)
                yield from self._strings(v)

    def test_templates_use_defined_params_and_context(self):
        for dag in self.dags:
            for t in spark_tasks(dag):
                cls = t.operator_class if isinstance(t, harness.MappedOperator) else type(t)
                for name, value in t.kwargs.items():
                    for text in self._strings(value):
                        if "{{" not in text and "{%" not in text:
                            continue
                        with self.subTest(dag=dag.dag_id, task=t.task_id, field=name, template=text):
                            self.assertIn(name, set(cls.template_fields) | harness.RENDERED_ARGS,
                                          "templates only in template fields")
                            use = harness.template_uses(text)
                            self.assertLessEqual(use.params, set(dag.params), "undefined params")
                            self.assertLessEqual(use.names, harness.CONTEXT_NAMES)
                            self.assertLessEqual(use.filters, harness.BUILTIN_FILTERS | set(dag.filters))

    def test_taskflow_code_uses_defined_params(self):
        tree = ast.parse(PIPELINE_FILE.read_text(encoding="utf-8"))
        used = {n.slice.value for n in ast.walk(tree) if isinstance(n, ast.Subscript)
                and isinstance(n.value, ast.Name) and n.value.id == "params" and isinstance(n.slice, ast.Constant)}
        self.assertTrue(used)
        for dag in load(PIPELINE_FILE):
            self.assertLessEqual(used, set(dag.params))

    def test_param_defaults_are_valid(self):
        for dag in self.dags:
            for name, p in dag.params.items():
                with self.subTest(dag=dag.dag_id, param=name):
                    self.assertIsInstance(p, harness.Param)
                    self.assertEqual(harness.validate_param(name, p.value, p.schema), [])

    def test_every_param_is_used(self):
        text = PIPELINE_FILE.read_text(encoding="utf-8")
        for dag in load(PIPELINE_FILE):
            for name in dag.params:
                with self.subTest(param=name):
                    self.assertRegex(text, r"params\.%s\b|params\[\"%s\"\]|\"%s\"[,)]" % (name, name, name))

    def test_bad_conf_is_refused(self):
        dag = load(PIPELINE_FILE)[0]
        for conf in ({"methods": []}, {"methods": ["nope"]}, {"kv_fraction": 0}, {"gate_max_kl_ratio": "loose"},
                     {"quant_bits": 5}, {"no_such_param": 1}):
            with self.subTest(conf=conf), self.assertRaises(ValueError):
                harness.simulate(dag, conf)


class RunsAndGate(unittest.TestCase):
    """Run ids, per-method mapping, the quantize branch."""

    @classmethod
    def setUpClass(cls):
        cls.dag = load(PIPELINE_FILE)[1]

    def test_run_ids_derive_from_the_dag_run(self):
        a = harness.simulate(self.dag, {}, run_id="manual__2025-03-04T05:06:07.123+00:00")
        b = harness.simulate(self.dag, {}, run_id="manual__2025-03-04T05:06:07.123+00:00")
        c = harness.simulate(self.dag, {}, run_id="scheduled__2025-03-05T00:00:00+00:00")
        self.assertEqual([s.argv for s in a], [s.argv for s in b], "a retry submits the same command lines")
        self.assertNotEqual([s.argv for s in a], [s.argv for s in c])
        key = "headwise_stories260k__manual__2025-03-04T05_06_07.123_00_00"
        profile = next(s for s in a if s.task_id == "profile").application_args
        self.assertEqual(profile[profile.index("--run-id") + 1], key)
        for s in a:
            for flag in ("--run-id", "--plan-id", "--stats-run"):
                if flag in s.application_args:
                    self.assertRegex(s.application_args[s.application_args.index(flag) + 1], r"^[A-Za-z0-9._-]+$")

    def test_one_task_instance_per_method(self):
        methods = ["dense", "moa", "ems"]
        subs = harness.simulate(self.dag, {"methods": methods, "quantize": False})
        for task in MAPPED_PER_METHOD - {IDS}:
            mine = [s for s in subs if s.task_id == task]
            self.assertEqual([s.map_index for s in mine], [0, 1, 2], task)
            for s, m in zip(mine, methods):
                plan_id = s.application_args[s.application_args.index("--plan-id") + 1]
                self.assertTrue(plan_id.startswith(m + "-"), (task, plan_id))
                self.assertEqual(s.argv[s.argv.index("--name") + 1].split()[:3],
                                 ["headwise", task.split(".")[1], m])
        self.assertEqual([self.dag.last_states[f"{IDS}[{i}]"] for i in range(3)], ["success"] * 3)
        plans = [s.application_args for s in subs if s.task_id == PLAN]
        self.assertEqual([a[a.index("--method") + 1] for a in plans], methods)
        self.assertEqual([a[a.index("--kv-fraction") + 1] for a in plans], ["1.0", "0.5", "0.5"])
        export = [s.application_args for s in subs if s.task_id == EXPORT]
        evaluate = [s.application_args for s in subs if s.task_id == EVALUATE]
        publish = [s.application_args for s in subs if s.task_id == PUBLISH]
        for x, e, p in zip(export, evaluate, publish):
            self.assertEqual(e[e.index("--run-id") + 1], p[p.index("--run-id") + 1], "publish gates its evaluation")
            self.assertEqual(x[x.index("--out") + 1], p[p.index("--artifact") + 1], "publish the exported graph")

    def test_quantize_branch(self):
        on = harness.simulate(self.dag, {"quantize": True})
        self.assertIn("io.headwise.jobs.quantize.QuantizeJob", [s.java_class for s in on])
        off = harness.simulate(self.dag, {"quantize": False})
        self.assertNotIn("quantize", [s.task_id for s in off])
        self.assertNotIn("publish_quantized", [s.task_id for s in off])
        self.assertEqual(self.dag.last_states["quantize"], "skipped")
        self.assertEqual(self.dag.last_states["publish_quantized"], "skipped")
        self.assertEqual(self.dag.last_states["report"], "success")
        self.assertEqual(self.dag.last_states[WATCHER], "skipped", "skipped branches are not failures")
        self.assertEqual(self.dag.last_run_state, "success")
        q = next(s for s in on if s.task_id == "quantize").application_args
        pq = next(s for s in on if s.task_id == "publish_quantized").application_args
        self.assertEqual(q[q.index("--run-id") + 1], pq[pq.index("--run-id") + 1])
        self.assertEqual(q[q.index("--out") + 1], pq[pq.index("--artifact") + 1])

    def test_optional_flags_are_left_out_when_empty(self):
        subs = harness.simulate(self.dag, {})
        calibrate = next(s for s in subs if s.task_id == "calibrate").application_args
        self.assertNotIn("--text", calibrate)
        self.assertNotIn("", calibrate)
        on = harness.simulate(self.dag, ALL_ON)
        calibrate = next(s for s in on if s.task_id == "calibrate").application_args
        self.assertEqual(calibrate[calibrate.index("--text") + 1], ALL_ON["calibration_text"])
        self.assertIn("--rotate", next(s for s in on if s.task_id == "quantize").application_args)
        self.assertIn("--ship-model", next(s for s in on if s.task_id == "profile").application_args)


class FailuresAndAssets(unittest.TestCase):
    """One method's failure stops only its chain; report runs; the run still fails; the asset events name the
    warehouse the run used."""

    @classmethod
    def setUpClass(cls):
        cls.dag = load(PIPELINE_FILE)[1]

    def test_a_clean_run_succeeds_and_the_watcher_is_skipped(self):
        harness.simulate(self.dag, {"methods": ["duo", "razor"]})
        self.assertEqual({s for s in self.dag.last_states.values()} - {"success"}, {"skipped"})
        self.assertEqual(self.dag.last_states[WATCHER], "skipped")
        self.assertEqual(self.dag.last_errors, {})
        self.assertEqual(self.dag.last_run_state, "success")

    def test_a_failed_plan_stops_only_its_own_chain(self):
        methods = ["dense", "duo", "razor"]
        for failing in (PLAN, EXPORT, EVALUATE, PUBLISH):
            with self.subTest(failing=failing):
                subs = harness.simulate(self.dag, {"methods": methods}, fail={f"{failing}[1]"})
                st = self.dag.last_states
                chain = [PLAN, EXPORT, EVALUATE, PUBLISH]
                after = chain[chain.index(failing) + 1:]
                self.assertEqual(st[f"{failing}[1]"], "failed")
                for t in after:
                    self.assertEqual(st[f"{t}[1]"], "upstream_failed", t)
                    self.assertNotIn((t, 1), {(s.task_id, s.map_index) for s in subs}, "never submitted")
                for i in (0, 2):
                    for t in chain:
                        self.assertEqual(st[f"{t}[{i}]"], "success", f"{t}[{i}]")
                    self.assertIn((PUBLISH, i), {(s.task_id, s.map_index) for s in subs})
                self.assertEqual(st["publish_quantized"], "success", "the quantize branch is unaffected")
                self.assertEqual(st["report"], "success", "report runs after the other chains")
                self.assertEqual(subs[-1].task_id, "report")
                self.assertEqual(st[WATCHER], "failed")
                self.assertEqual(set(self.dag.last_errors), {f"{failing}[1]", WATCHER})
                self.assertEqual(self.dag.last_run_state, "failed", "a failed method fails the DAG run")
                published = {(e.task_id, e.map_index) for e in self.dag.last_asset_events}
                self.assertEqual(published, {(PUBLISH, 0), (PUBLISH, 2), ("publish_quantized", -1)})

    def test_report_runs_when_every_method_fails(self):
        subs = harness.simulate(self.dag, {"methods": ["duo", "razor"], "quantize": False},
                                fail={f"{PLAN}[0]", f"{PLAN}[1]"})
        self.assertEqual(self.dag.last_states[f"{PUBLISH}[0]"], "upstream_failed")
        self.assertEqual(self.dag.last_states[f"{PUBLISH}[1]"], "upstream_failed")
        self.assertEqual(subs[-1].task_id, "report")
        self.assertEqual(self.dag.last_asset_events, [])
        self.assertEqual(self.dag.last_run_state, "failed")

    def test_a_failed_quantize_leaves_the_chains_alone(self):
        harness.simulate(self.dag, {"methods": ["duo", "razor"]}, fail={"quantize"})
        st = self.dag.last_states
        self.assertEqual(st["publish_quantized"], "upstream_failed")
        self.assertEqual([st[f"{PUBLISH}[{i}]"] for i in (0, 1)], ["success", "success"])
        self.assertEqual(st["report"], "success")
        self.assertEqual(self.dag.last_run_state, "failed")

    def test_a_failed_profile_stops_every_chain(self):
        harness.simulate(self.dag, {"methods": ["duo", "razor"]}, fail={"profile"})
        st = self.dag.last_states
        for i in (0, 1):
            self.assertEqual(st[f"{PLAN}[{i}]"], "upstream_failed")
            self.assertEqual(st[f"{PUBLISH}[{i}]"], "upstream_failed")
        self.assertEqual(st["publish_quantized"], "success", "quantize does not need the profile")
        self.assertEqual(self.dag.last_run_state, "failed")

    def test_gate_tasks_signal_the_alias(self):
        producers = set()
        for dag in load(PIPELINE_FILE):
            for t in spark_tasks(dag):
                outlets = t.kwargs.get("outlets") or []
                if t.kwargs["java_class"] == "io.headwise.jobs.PublishJob":
                    self.assertEqual(len(outlets), 1, t.task_id)
                    self.assertIsInstance(outlets[0], harness.AssetAlias, "the warehouse is only known at run time")
                    producers.add(outlets[0].name)
                else:
                    self.assertEqual(outlets, [], t.task_id)
        self.assertEqual(producers, {ALIAS})
        # consumers elsewhere schedule on the same alias
        consumers = [d for f in DAG_FILES if f != PIPELINE_FILE for d in load(f)
                     if isinstance(d.kwargs.get("schedule"), list)]
        self.assertTrue(consumers)
        for d in consumers:
            self.assertEqual([(type(a), a.name) for a in d.kwargs["schedule"]], [(harness.AssetAlias, ALIAS)])

    def test_asset_events_name_the_warehouse_the_run_used(self):
        methods = ["duo", "razor"]
        for warehouse, uri in (
                (None, "file:///data/headwise/warehouse/published_plans"),
                ("/mnt/other/wh", "file:///mnt/other/wh/published_plans"),
                ("/mnt/other/wh/", "file:///mnt/other/wh/published_plans"),
                ("s3a://bucket/headwise/", "s3a://bucket/headwise/published_plans")):
            with self.subTest(warehouse=warehouse):
                conf = {"methods": methods, **({"warehouse": warehouse} if warehouse else {})}
                subs = harness.simulate(self.dag, conf)
                events = self.dag.last_asset_events
                self.assertEqual(sorted((e.task_id, e.map_index) for e in events),
                                 [("per_method.publish", 0), ("per_method.publish", 1), ("publish_quantized", -1)])
                for e in events:
                    self.assertEqual(e.uri, uri)
                    self.assertEqual(e.alias, ALIAS)
                    gate = next(s for s in subs if (s.task_id, s.map_index) == (e.task_id, e.map_index))
                    args = gate.application_args
                    self.assertEqual(args[args.index("--warehouse") + 1], warehouse or "/data/headwise/warehouse")
                    self.assertEqual(e.extra, {"evaluation_run_id": args[args.index("--run-id") + 1]})

    def test_a_relative_warehouse_is_refused(self):
        for warehouse in ("warehouse", "./w", "file:w", ""):
            with self.subTest(warehouse=warehouse), self.assertRaises(ValueError):
                harness.simulate(self.dag, {"warehouse": warehouse})
        module = self.dag.module
        with self.assertRaises(ValueError):
            module.published_plans_uri("relative/wh")
        self.assertEqual(module.published_plans_uri("hdfs://nn:8020/wh"), "hdfs://nn:8020/wh/published_plans")


if __name__ == "__main__":
    unittest.main()
