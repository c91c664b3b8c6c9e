"""What Patroni hands PostgreSQL: each parameter through Patroni's own validator for a PostgreSQL version.

stdin: {"version": 150000, "gucs": [every setting name], "parameters": {name: value}}
stdout: {"kept": {name: value as Patroni writes it}, "dropped": [names Patroni would leave out]}
Run with the Python of the Patroni virtualenv the local tier installs.
"""
import json
import sys

from patroni.collections import CaseInsensitiveSet
from patroni.postgresql.validator import transform_postgresql_parameter_value

request = json.load(sys.stdin)
gucs = CaseInsensitiveSet(request["gucs"])
kept, dropped = {}, []
for name, value in request["parameters"].items():
    out = transform_postgresql_parameter_value(request["version"], name, value, gucs)
    if out is None:
        dropped.append(name)
    else:
        kept[name] = out if isinstance(out, str) else json.loads(json.dumps(out))
json.dump({"kept": kept, "dropped": dropped}, sys.stdout)
