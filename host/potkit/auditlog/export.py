"""The JSON-LD form of an export (`potkit audit export --format jsonld`): W3C PROV-O, context.jsonld."""
import datetime
import json
import os

from potkit import PotkitError


def jsonld(doc):
    """The export as JSON-LD over W3C PROV-O (docs/audit-context.jsonld gives the context)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "context.jsonld")
    try:
        with open(path, "rb") as f:
            ctx = json.load(f)["@context"]
    except (OSError, ValueError, KeyError) as e:
        raise PotkitError("cannot read the JSON-LD context %s (%s); reinstall potkit" % (path, e))
    graph = []
    for e in doc["entries"]:
        node = {"@id": "%s#%d" % (doc["origin"], e["index"]),
                "@type": ["prov:Activity", "pot:" + e["kind"].capitalize()],
                "prov:endedAtTime": _iso(e["time_ns"]), "pot:timeNs": e["time_ns"]}
        for k in ("index", "transport", "tier", "verdict", "attack_type", "ctx_hash", "record_hash", "peer",
                  "detail", "data", "leaf", "proof"):
            if e.get(k) not in (None, ""):
                node[k] = e[k]
        graph.append(node)
    return {"@context": ctx, "@id": doc["origin"], "@type": "pot:AuditLogExport",
            "origin": doc["origin"], "tree_size": doc["tree_size"], "root_hash": doc["root_hash"],
            "checkpoint": doc["checkpoint"], "entries": graph}


def _iso(ns):
    t = datetime.datetime.fromtimestamp(ns // 1000000000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (ns % 1000000000)
