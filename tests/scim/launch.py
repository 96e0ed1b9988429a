"""Start the independent `scim2-server` (PyPI) for the SCIM adapter's integration tests.

The server's CLI takes whole lists of schemas and resource types, so this launcher loads the
package's RFC 7643 defaults, adds the project's extension schema and/or a vendor's own extension
schema (next to this file) to the schemas and to the User resource type, and optionally announces PATCH as unsupported, so the
tests can run the adapter against every shape of server it must handle. Any other argument goes
to `scim2-server` unchanged (`--port`, `--bearer-token`, ...).
"""

import argparse
import json
import pathlib
import sys
import tempfile

from scim2_server.testserver.cli import main as serve
from scim2_server.utils import load_json_resource

EXTENSION_SCHEMA_FILE = pathlib.Path(__file__).with_name("personio-lms-user-schema.json")
VENDOR_SCHEMA_FILE = pathlib.Path(__file__).with_name("vendor-user-schema.json")


def write_json(directory: pathlib.Path, name: str, document) -> str:
    path = directory / name
    path.write_text(json.dumps(document))
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--advertise-extension",
        action="store_true",
        help="Serve the personio-lms extension schema and list it for the User resource type.",
    )
    parser.add_argument(
        "--advertise-vendor-extension",
        action="store_true",
        help="Serve a vendor's own User extension schema (urn:example:…:acmelearn:1.0:User).",
    )
    parser.add_argument(
        "--without-patch",
        action="store_true",
        help="Announce PATCH as unsupported in /ServiceProviderConfig.",
    )
    own, passed_on = parser.parse_known_args()

    schemas = load_json_resource("default-schemas.json")
    resource_types = load_json_resource("default-resource-types.json")
    config = load_json_resource("default-service-provider-config.json")

    extensions = []
    if own.advertise_extension:
        extensions.append(EXTENSION_SCHEMA_FILE)
    if own.advertise_vendor_extension:
        extensions.append(VENDOR_SCHEMA_FILE)
    for path in extensions:
        extension = json.loads(path.read_text())
        schemas.append(extension)
        for resource_type in resource_types:
            if resource_type["id"] == "User":
                resource_type.setdefault("schemaExtensions", []).append(
                    {"schema": extension["id"], "required": False}
                )
    if own.without_patch:
        config["patch"] = {"supported": False}

    with tempfile.TemporaryDirectory(prefix="scim2-server-") as directory:
        directory = pathlib.Path(directory)
        sys.argv = [
            "scim2-server",
            "--schema", write_json(directory, "schemas.json", schemas),
            "--resource-type", write_json(directory, "resource-types.json", resource_types),
            "--service-provider-config", write_json(directory, "config.json", config),
            *passed_on,
        ]  # fmt: skip
        serve()


if __name__ == "__main__":
    main()
