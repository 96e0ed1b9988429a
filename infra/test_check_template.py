"""The reference checker catches what it is for: each case breaks one thing in a copy of the real
template and expects a finding that names it; the real template has none.

Run: python -m unittest infra/test_check_template.py (from the workspace root, with cfn-lint
installed, as .ci/run does).
"""

import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_template  # noqa: E402  (the checker sits next to this file)

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"


def findings_after(*replacements):
    """The checker's findings on the template with each (old, new) text replaced once."""
    text = TEMPLATE.read_text(encoding="utf-8")
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"the template no longer contains {old!r}")
        text = text.replace(old, new, 1)
    with tempfile.TemporaryDirectory() as directory:
        path = pathlib.Path(directory) / "template.yaml"
        path.write_text(text, encoding="utf-8")
        return check_template.check(path, ROOT)


class CheckTemplateTest(unittest.TestCase):
    def assert_finding(self, findings, *words):
        matching = [f for f in findings if all(word in f for word in words)]
        self.assertTrue(matching, f"no finding with {words} in {findings}")

    def test_the_template_has_no_finding(self):
        self.assertEqual(check_template.check(TEMPLATE, ROOT), [])

    def test_a_dead_letter_alarm_on_a_work_queue(self):
        findings = findings_after(
            ("Value: !GetAtt SyncJobsDeadLetterQueue.QueueName", "Value: !GetAtt SyncJobsQueue.QueueName"),
        )
        self.assert_finding(findings, "SyncJobsDeadLetterAlarm", "no queue's dead-letter queue")
        self.assert_finding(findings, "SyncJobsDeadLetterQueue", "without an alarm")

    def test_a_lambda_alarm_on_something_that_is_no_function(self):
        findings = findings_after(
            ("Value: !Ref EmployeeSyncFunction", "Value: !Ref EmployeeSyncLogGroup"),
        )
        self.assert_finding(findings, "EmployeeSyncErrorsAlarm", "FunctionName")
        self.assert_finding(findings, "EmployeeSyncFunction", "Errors")

    def test_an_alarm_on_the_wrong_function_leaves_the_right_one_unwatched(self):
        findings = findings_after(
            ("Value: !Ref CertificatePushFunction", "Value: !Ref AdminApiFunction"),
        )
        self.assert_finding(findings, "CertificatePushFunction", "without an alarm on its Errors")

    def test_a_misspelt_metric(self):
        findings = findings_after(
            ("MetricName: ConsecutiveFailedRuns", "MetricName: ConsecutiveFailedRun"),
        )
        self.assert_finding(findings, "ConsecutiveFailedRunsAlarm", "'ConsecutiveFailedRun'")

    def test_another_namespace_than_the_functions(self):
        findings = findings_after(
            ('      Namespace: !Sub "PersonioLms/${AWS::StackName}"\n      MetricName: MinutesSinceLastSuccess',
             '      Namespace: PersonioLms\n      MetricName: MinutesSinceLastSuccess'),
        )
        self.assert_finding(findings, "NoRecentSuccessAlarm", "METRICS_NAMESPACE")

    def test_a_scheduler_alarm_that_ignores_a_silent_scheduler(self):
        findings = findings_after(("TreatMissingData: breaching", "TreatMissingData: notBreaching"))
        self.assert_finding(findings, "SchedulerNotRunningAlarm", "breaching")

    def test_an_alarm_that_notifies_nobody(self):
        findings = findings_after(
            ("      AlarmActions: [!Ref AlarmTopic]\n      OKActions: [!Ref AlarmTopic]\n\n  WebhookJobsDeadLetterAlarm",
             "      AlarmActions: [!Ref CertificateJobsQueue]\n      OKActions: [!Ref AlarmTopic]\n\n  WebhookJobsDeadLetterAlarm"),
        )
        self.assert_finding(findings, "SyncJobsDeadLetterAlarm", "AlarmActions")

    def test_a_dashboard_chart_of_a_metric_nobody_emits(self):
        findings = findings_after((' [".", "EmployeesHeldBack"]', ' [".", "EmployeesHeldBak"]'))
        self.assert_finding(findings, "OperationsDashboard", "'EmployeesHeldBak'")


if __name__ == "__main__":
    unittest.main()
