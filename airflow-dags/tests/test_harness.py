"""Checks that the harness simulates the Airflow semantics the DAG checks rely on, on small synthetic DAG files:
per-index dependencies in a mapped task group against breadth-first mapped tasks, trigger rules, XCom resolution,
alias outlet events, and the parse-time limits of mapped task group arguments. Each case names the Airflow
behaviour it mirrors (see the comments in harness.py)."""

from __future__ import annotations

import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

HEADER = '''
from datetime import datetime, timezone
from airflow.sdk import DAG, Asset, AssetAlias, task, task_group
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

def step(task_id, **kw):
    return SparkSubmitOperator(task_id=task_id, application="app.jar", java_class="Main", **kw)

with DAG(dag_id="t", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc), catchup=False) as dag:
'''


def dag_of(body: str):
    """Loads a DAG file made of HEADER and ``body`` (indented into the DAG context)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.py"
        path.write_text(HEADER + textwrap.indent(textwrap.dedent(body), "    "), encoding="utf-8")
        (dag,) = harness.load_dags(str(path))
        return dag


class MappedTaskGroups(unittest.TestCase):

    def test_group_members_depend_on_the_same_index_only(self):
        # "a task group allows each task inside to only depend on its relevant inputs" (depth-first execution)
        dag = dag_of('''
            @task
            def items():
                return ["a", "b", "c"]

            @task_group
            def chain(item):
                @task
                def name(item):
                    return "job-" + item
                first = step("first", name=name(item))
                second = step("second", application_args=["--x", "1"])
                first >> second

            chain.expand(item=items()) >> step("after", trigger_rule="all_done")
        ''')
        subs = harness.simulate(dag, fail={"chain.first[1]"})
        st = dag.last_states
        self.assertEqual([st[f"chain.second[{i}]"] for i in range(3)], ["success", "upstream_failed", "success"])
        self.assertEqual(st["after"], "success")
        self.assertEqual([s.argv[s.argv.index("--name") + 1] for s in subs if s.task_id == "chain.first"],
                         ["job-a", "job-b", "job-c"], "an XCom from the same group resolves at the same index")
        self.assertEqual(dag.last_run_state, "success", "the only leaf is all_done and succeeded (DAG run docs)")

    def test_separately_mapped_tasks_depend_on_every_upstream_instance(self):
        # outside a mapped group "All tis from an upstream task are relevant" (TriggerRuleDep): breadth-first
        dag = dag_of('''
            first = SparkSubmitOperator.partial(task_id="first", application="app.jar").expand(name=["a", "b"])
            second = SparkSubmitOperator.partial(task_id="second", application="app.jar").expand(name=["a", "b"])
            first >> second
        ''')
        harness.simulate(dag, fail={"first[1]"})
        self.assertEqual([dag.last_states[f"second[{i}]"] for i in (0, 1)], ["upstream_failed"] * 2,
                         "second[0] waits for first[1] too")
        self.assertEqual(dag.last_states["first[0]"], "success")
        self.assertEqual(dag.last_run_state, "failed")

    def test_an_xcom_of_a_mapped_group_task_outside_the_group_is_the_list(self):
        # "depending on a mapped task group's output would also automatically aggregate the group's results"
        dag = dag_of('''
            @task
            def double(x):
                return x * 2

            @task_group
            def g(x):
                return double(x)

            @task
            def check(values):
                if list(values) != [2, 4, 6]:
                    raise ValueError(values)

            check(g.expand(x=[1, 2, 3]))
        ''')
        harness.simulate(dag)
        self.assertEqual(dag.last_states["check"], "success", dag.last_errors)

    def test_zero_length_expansion_skips_the_group(self):
        dag = dag_of('''
            @task
            def nothing():
                return []

            @task_group
            def g(x):
                step("s", name="n")
            g.expand(x=nothing())
        ''')
        harness.simulate(dag)
        self.assertEqual(dag.last_states["g.s"], "skipped")

    def test_mapped_arguments_are_references_at_parse_time(self):
        # "code in a task group function cannot resolve arguments passed into it" (dynamic-task-mapping docs)
        with self.assertRaisesRegex(TypeError, "reference at parse time"):
            dag_of('''
                @task_group
                def g(x):
                    if x:
                        step("s")
                g.expand(x=[1, 2])
            ''')
        # given to a classic operator it may arrive unresolved (apache/airflow#50631): refused
        with self.assertRaisesRegex(TypeError, "classic operator"):
            dag_of('''
                @task_group
                def g(x):
                    step("s", name=x)
                g.expand(x=["a"])
            ''')

    def test_no_mapping_inside_a_mapped_group(self):
        with self.assertRaisesRegex(TypeError, "not permitted"):
            dag_of('''
                @task_group
                def g(x):
                    SparkSubmitOperator.partial(task_id="m", application="a").expand(name=["a"])
                g.expand(x=[1])
            ''')


class TriggerRules(unittest.TestCase):
    # TriggerRuleDep._evaluate_direct_relatives for finished upstreams

    def test_table(self):
        cases = {
            ("all_success", ("success", "failed")): "upstream_failed",
            ("all_success", ("success", "upstream_failed")): "upstream_failed",
            ("all_success", ("success", "skipped")): "skipped",
            ("all_success", ("success", "success")): None,
            ("none_failed", ("success", "upstream_failed")): "upstream_failed",
            ("none_failed", ("success", "skipped")): None,
            ("all_done", ("failed", "upstream_failed", "skipped")): None,
            ("one_failed", ("success", "skipped")): "skipped",
            ("one_failed", ("success", "upstream_failed")): None,
            ("none_failed_min_one_success", ("skipped", "skipped")): "skipped",
            ("one_success", ("failed", "upstream_failed")): "upstream_failed",
            ("all_done_min_one_success", ("failed", "failed")): "upstream_failed",
        }
        for (rule, states), expected in cases.items():
            with self.subTest(rule=rule, states=states):
                self.assertEqual(harness.trigger_state(rule, list(states)), expected)

    def test_short_circuit_without_ignoring_downstream_rules_skips_direct_downstream_only(self):
        dag = dag_of('''
            @task.short_circuit(ignore_downstream_trigger_rules=False)
            def gate():
                return False
            a = step("a", name="a")
            b = step("b", name="b")
            c = step("c", name="c", trigger_rule="none_failed")
            gate() >> a >> b >> c
        ''')
        harness.simulate(dag)
        self.assertEqual([dag.last_states[t] for t in "abc"], ["skipped", "skipped", "success"])


class AliasOutletEvents(unittest.TestCase):
    # assets docs, "How to use AssetAlias"; asset scheduling docs: events only when the task succeeds

    BODY = '''
        ALIAS = AssetAlias("out")

        class Gate(SparkSubmitOperator):
            def execute(self, context):
                super().execute(context)
                for uri in ("file:///a", "file:///a", "file:///b"):
                    context["outlet_events"][ALIAS].add(Asset(uri=uri), extra={"k": 1})

        Gate(task_id="gate", application="app.jar", name="g", outlets=[ALIAS])
        step("plain", name="p", outlets=[Asset("file:///static")])
        step("silent", name="s", outlets=[AssetAlias("nothing-added")])
    '''

    def test_events_on_success_once_per_asset_and_extra(self):
        dag = dag_of(self.BODY)
        harness.simulate(dag)
        self.assertEqual(sorted((e.task_id, e.uri, e.alias) for e in dag.last_asset_events),
                         [("gate", "file:///a", "out"), ("gate", "file:///b", "out"), ("plain", "file:///static", None)])

    def test_no_event_from_a_failed_task(self):
        dag = dag_of(self.BODY)
        harness.simulate(dag, fail={"gate"})
        self.assertEqual([e.task_id for e in dag.last_asset_events], ["plain"])

    def test_an_undeclared_alias_is_refused(self):
        dag = dag_of('''
            class Gate(SparkSubmitOperator):
                def execute(self, context):
                    context["outlet_events"][AssetAlias("other")].add(Asset(uri="file:///a"))

            Gate(task_id="gate", application="app.jar", outlets=[AssetAlias("out")])
        ''')
        with self.assertRaisesRegex(KeyError, "not an outlet"):
            harness.simulate(dag)

    def test_fail_must_name_a_submitted_task_instance(self):
        dag = dag_of(self.BODY)
        with self.assertRaisesRegex(ValueError, "never submitted"):
            harness.simulate(dag, fail={"gate[3]"})


if __name__ == "__main__":
    unittest.main()
