#!/usr/bin/env python3
"""Checks what cfn-lint misses in a SAM template: references inside a function's Events and
Environment (SAM expands those before cfn-lint looks, so a wrong name can slip through), and the
ties between the template and the Rust code:

- every Ref / GetAtt / Sub variable names a parameter, a resource or a pseudo parameter;
- every SQS event's Queue is the Arn of a queue, every HttpApi event's ApiId an HttpApi;
- every function's BuildProperties.Binary is a binary of a crate under functions/;
- every API Gateway route targets an integration of a function, and only the public paths (the
  API's contract, the console's files and the webhook receiver) are routed without the JWT
  authorizer;
- every environment variable a function's code reads (env::var / required_env) is set for that
  function by the template (Globals or its own Environment). Code a function shares through
  `common::aws::host` counts for the functions that use it: the variables read in an
  `impl NAME` block of that file count for every function whose code names NAME;
- every alarm watches what it is meant to: a dead-letter queue alarm names a queue that is some
  queue's dead-letter target, a Lambda alarm a function of the template, an alarm on the
  integration's own metrics the functions' METRICS_NAMESPACE and a metric the code emits
  (common/src/metrics/names.rs); every alarm notifies an SNS topic;
- nothing is left unwatched: each dead-letter queue has an alarm, each queue-fed function an
  Errors and a Throttles alarm, and the scheduler's heartbeat (SchedulerPasses) an alarm that
  treats missing data as breaching (no pass reported is the failure it is for);
- the dashboard body is JSON and charts only metrics the code emits.

Usage: check_template.py TEMPLATE WORKSPACE_ROOT. Exit 1 with one line per finding.
"""

import json
import pathlib
import re
import sys

from cfnlint.decode import decode

PSEUDO = {
    "AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
    "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}


def walk(node, path):
    """Yields (path, intrinsic name, argument) for every intrinsic function in the tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Ref", "Fn::GetAtt", "Fn::Sub"):
                yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def referenced_names(kind, argument):
    if kind == "Ref":
        return [argument] if isinstance(argument, str) else []
    if kind == "Fn::GetAtt":
        if isinstance(argument, list) and argument:
            return [argument[0]]
        if isinstance(argument, str):
            return [argument.split(".", 1)[0]]
        return []
    # Fn::Sub: "${Name}" and "${Name.Attr}", minus the variables of its own map form.
    text, local = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
    names = []
    for variable in re.findall(r"\$\{([^}!]+)\}", text if isinstance(text, str) else ""):
        name = variable.split(".", 1)[0]
        if name not in local:
            names.append(name)
    return names


def rust_sources(crate_dir):
    return list(crate_dir.rglob("*.rs"))


ENV_READ = re.compile(r'(?:env::var|required_env|optional_env\w*)\(\s*"([A-Z][A-Z0-9_]*)"')

# Where the Lambda hosts' shared code lives (relative to the workspace root).
SHARED_HOST = pathlib.Path("common/src/aws/host.rs")


def shared_env_readers(root):
    """{NAME: variables read inside `impl NAME { ... }`} of the shared host module."""
    path = root / SHARED_HOST
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    readers = {}
    for match in re.finditer(r"^impl\s+(\w+)\s*\{", text, re.MULTILINE):
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        variables = set(ENV_READ.findall(text[match.end():end]))
        if variables:
            readers.setdefault(match.group(1), set()).update(variables)
    return readers


def env_vars_read(crate_dir, shared):
    found = set()
    for source in rust_sources(crate_dir):
        text = source.read_text(encoding="utf-8")
        found.update(ENV_READ.findall(text))
        for name, variables in shared.items():
            if re.search(rf"\b{name}\b", text):
                found.update(variables)
    return found


def binaries_of(crate_dir):
    manifest = (crate_dir / "Cargo.toml").read_text(encoding="utf-8")
    bins = set(re.findall(r'\[\[bin\]\]\s*name\s*=\s*"([^"]+)"', manifest))
    if (crate_dir / "src" / "main.rs").exists():
        package = re.search(r'\[package\]\s*name\s*=\s*"([^"]+)"', manifest)
        if package:
            bins.add(package.group(1))
    return bins


# Routes that answer without a token: the API's contract, the console's files, and Personio's
# webhook deliveries (authenticated by the integration's webhook token instead), nothing else.
PUBLIC_ROUTES = {
    "GET /openapi.json", "GET /", "GET /console", "GET /console/{file+}",
    "POST /webhooks/personio/{integration_id}",
}


def check_routes(resources):
    findings = []
    kinds = {name: resource.get("Type") for name, resource in resources.items()}
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::ApiGatewayV2::Integration":
            uri = properties.get("IntegrationUri", {})
            target = uri.get("Fn::GetAtt") if isinstance(uri, dict) else None
            target_name = referenced_names("Fn::GetAtt", target)[0] if target else None
            if kinds.get(target_name) != "AWS::Serverless::Function":
                findings.append(f"{name}: IntegrationUri must be !GetAtt <a function>.Arn, got {uri!r}")
        if resource.get("Type") != "AWS::ApiGatewayV2::Route":
            continue
        key = properties.get("RouteKey")
        target = properties.get("Target", {})
        text = target.get("Fn::Sub") if isinstance(target, dict) else None
        integration = re.fullmatch(r"integrations/\$\{(\w+)\}", text or "")
        if not integration or kinds.get(integration.group(1)) != "AWS::ApiGatewayV2::Integration":
            findings.append(f"{name}: Target must be !Sub integrations/${{<an integration>}}, got {target!r}")
        authorization = properties.get("AuthorizationType", "NONE")
        if authorization == "NONE" and key not in PUBLIC_ROUTES:
            findings.append(f"{name}: {key} answers without a token; only {sorted(PUBLIC_ROUTES)} may")
        if authorization == "JWT":
            authorizer = properties.get("AuthorizerId", {})
            authorizer_name = authorizer.get("Ref") if isinstance(authorizer, dict) else None
            if kinds.get(authorizer_name) != "AWS::ApiGatewayV2::Authorizer":
                findings.append(f"{name}: AuthorizerId must be !Ref <an authorizer>, got {authorizer!r}")
    return findings


# Where the metric names the code emits are declared (relative to the workspace root).
METRIC_NAMES = pathlib.Path("common/src/metrics/names.rs")
METRIC_DIMENSIONS = {"IntegrationId", "RunKind", "RunStatus"}
HEARTBEAT_METRIC = "SchedulerPasses"


def emitted_metrics(root):
    path = root / METRIC_NAMES
    if not path.exists():
        return set()
    return set(re.findall(r'metric\(\s*"(\w+)"', path.read_text(encoding="utf-8")))


def ref_target(value, kind):
    """The resource a `!Ref NAME` (kind "Ref") or `!GetAtt NAME.ATTR` (kind "GetAtt") names, with
    the attribute for GetAtt; None when value is not that intrinsic."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    if kind == "Ref" and isinstance(value.get("Ref"), str):
        return value["Ref"], None
    target = value.get("Fn::GetAtt")
    if kind == "GetAtt" and target is not None:
        if isinstance(target, list) and len(target) == 2:
            return target[0], target[1]
        if isinstance(target, str) and "." in target:
            name, attribute = target.split(".", 1)
            return name, attribute
    return None


def dead_letter_queues(resources):
    """Queues that some queue's RedrivePolicy sends its failed messages to."""
    queues = set()
    for resource in resources.values():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        target = resource.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")
        named = ref_target(target, "GetAtt")
        if named and named[1] == "Arn":
            queues.add(named[0])
    return queues


def check_alarms(template, root):
    """Findings about the alarms and the dashboard: what they watch, and what is unwatched."""
    findings = []
    resources = template.get("Resources", {})
    resource_type = lambda name: resources.get(name, {}).get("Type")
    namespace = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {})
        .get("Variables", {}).get("METRICS_NAMESPACE")
    )
    metrics = emitted_metrics(root)
    dlqs = dead_letter_queues(resources)
    watched_queues, watched_functions, heartbeat = set(), set(), []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        properties = resource.get("Properties", {})
        actions = properties.get("AlarmActions", [])
        if not actions or any(
            resource_type((ref_target(action, "Ref") or (None,))[0]) != "AWS::SNS::Topic"
            for action in actions
        ):
            findings.append(f"{name}: AlarmActions must be !Ref <an AWS::SNS::Topic>, got {actions!r}")
        dimensions = {
            dimension.get("Name"): dimension.get("Value")
            for dimension in properties.get("Dimensions", [])
        }
        alarm_namespace, metric = properties.get("Namespace"), properties.get("MetricName")
        if alarm_namespace == "AWS/SQS":
            queue = ref_target(dimensions.get("QueueName"), "GetAtt")
            if not queue or queue[1] != "QueueName" or resource_type(queue[0]) != "AWS::SQS::Queue":
                findings.append(f"{name}: QueueName must be !GetAtt <an AWS::SQS::Queue>.QueueName")
            elif queue[0] not in dlqs:
                findings.append(f"{name}: watches {queue[0]}, which is no queue's dead-letter queue")
            else:
                watched_queues.add(queue[0])
        elif alarm_namespace == "AWS/Lambda":
            function = ref_target(dimensions.get("FunctionName"), "Ref")
            if not function or resource_type(function[0]) != "AWS::Serverless::Function":
                findings.append(f"{name}: FunctionName must be !Ref <an AWS::Serverless::Function>")
            else:
                watched_functions.add((function[0], metric))
        elif isinstance(alarm_namespace, str) and alarm_namespace.startswith("AWS/"):
            pass
        else:
            if alarm_namespace != namespace:
                findings.append(
                    f"{name}: Namespace {alarm_namespace!r} is not the functions' METRICS_NAMESPACE {namespace!r}"
                )
            if metric not in metrics:
                findings.append(f"{name}: MetricName {metric!r} is not a metric the code emits ({METRIC_NAMES})")
            for dimension in dimensions:
                if dimension not in METRIC_DIMENSIONS:
                    findings.append(f"{name}: dimension {dimension!r} is not one the code emits")
            if metric == HEARTBEAT_METRIC:
                heartbeat.append((name, properties.get("TreatMissingData")))
    for queue in sorted(dlqs - watched_queues):
        findings.append(f"{queue}: a dead-letter queue without an alarm")
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        fed_by_queue = any(
            event.get("Type") == "SQS"
            for event in resource.get("Properties", {}).get("Events", {}).values()
        )
        for metric in ("Errors", "Throttles") if fed_by_queue else ():
            if (name, metric) not in watched_functions:
                findings.append(f"{name}: a queue-fed function without an alarm on its {metric}")
    if not heartbeat:
        findings.append(f"no alarm on {HEARTBEAT_METRIC}: a scheduler that stopped would go unnoticed")
    for name, missing in heartbeat:
        if missing != "breaching":
            findings.append(f"{name}: TreatMissingData must be breaching (a stopped scheduler reports nothing)")
    findings.extend(check_dashboards(resources, namespace, metrics))
    return findings


def check_dashboards(resources, namespace, metrics):
    findings = []
    own = namespace.get("Fn::Sub") if isinstance(namespace, dict) else namespace
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        body = resource.get("Properties", {}).get("DashboardBody")
        text = body.get("Fn::Sub") if isinstance(body, dict) else body
        if not isinstance(text, str):
            findings.append(f"{name}: DashboardBody must be a string or !Sub of one")
            continue
        try:
            parsed = json.loads(re.sub(r"\$\{[^}]+\}", "X", text))
        except json.JSONDecodeError as error:
            findings.append(f"{name}: DashboardBody is not JSON: {error}")
            continue
        for widget in parsed.get("widgets", []):
            current = None
            for row in widget.get("properties", {}).get("metrics", []):
                strings = [item for item in row if isinstance(item, str)]
                if len(strings) < 2 or strings[0] == "...":
                    continue
                if strings[0] != ".":
                    current = strings[0]
                if current == re.sub(r"\$\{[^}]+\}", "X", own or "") and strings[1] not in metrics:
                    findings.append(f"{name}: charts {strings[1]!r}, which the code does not emit")
    return findings


def main():
    template_path, root = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    findings = check(template_path, root)
    for finding in findings:
        print(finding)
    print(f"{len(findings)} finding(s) in {template_path}")
    return 1 if findings else 0


def check(template_path, root):
    """Every finding about the template at `template_path` of the workspace at `root`."""
    template, matches = decode(str(template_path))
    if matches:
        return [f"{template_path}: cannot parse: {match}" for match in matches]
    findings = []
    parameters = set(template.get("Parameters", {}))
    resources = template.get("Resources", {})
    known = parameters | set(resources) | PSEUDO

    for path, kind, argument in walk(template, "template"):
        for name in referenced_names(kind, argument):
            if name not in known:
                findings.append(f"{path}: {kind} names '{name}', which is neither a parameter nor a resource")

    def resource_type(name):
        return resources.get(name, {}).get("Type")

    function_crates = {}
    functions_dir = root / "functions"
    if functions_dir.is_dir():
        for crate in sorted(p for p in functions_dir.iterdir() if (p / "Cargo.toml").exists()):
            for binary in binaries_of(crate):
                function_crates[binary] = crate

    shared = shared_env_readers(root)
    global_env = set(
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        for event_name, event in properties.get("Events", {}).items():
            event_type, event_props = event.get("Type"), event.get("Properties", {})
            where = f"{name}.Events.{event_name}"
            if event_type == "SQS":
                queue = event_props.get("Queue", {})
                target = queue.get("Fn::GetAtt") if isinstance(queue, dict) else None
                target_name = referenced_names("Fn::GetAtt", target)[0] if target else None
                attribute = (target[1] if isinstance(target, list) else str(target).split(".", 1)[-1]) if target else None
                if resource_type(target_name) != "AWS::SQS::Queue" or attribute != "Arn":
                    findings.append(f"{where}: Queue must be !GetAtt <an AWS::SQS::Queue>.Arn, got {queue!r}")
            if event_type == "HttpApi":
                api = event_props.get("ApiId", {})
                api_name = api.get("Ref") if isinstance(api, dict) else None
                if resource_type(api_name) != "AWS::Serverless::HttpApi":
                    findings.append(f"{where}: ApiId must be !Ref <an AWS::Serverless::HttpApi>, got {api!r}")
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if binary is None:
            findings.append(f"{name}: Metadata.BuildProperties.Binary is missing")
            continue
        crate = function_crates.get(binary)
        if crate is None:
            findings.append(f"{name}: Binary '{binary}' is not a binary of any crate under functions/")
            continue
        provided = global_env | set(properties.get("Environment", {}).get("Variables", {}))
        for variable in sorted(env_vars_read(crate, shared) - provided):
            findings.append(f"{name}: the code of {crate.name} reads ${variable}, which the template does not set")

    findings.extend(check_routes(resources))
    findings.extend(check_alarms(template, root))
    return findings


if __name__ == "__main__":
    sys.exit(main())
