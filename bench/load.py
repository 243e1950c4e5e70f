"""How long `orgctl validate` takes on a large org, and what each YAML reader would cost.

    .venv/bin/python bench/load.py [--users 100000] [--repeat 3] [--parsers]

An org of ``--users`` people is generated (about one department per ten people, a random
tree up to five levels deep, people in one or two departments with mobiles, titles, emails,
job numbers, managers; one in twenty with an ``extension``) and written the way
`orgctl dump` writes it: ``departments.yaml`` and one ``people/<top-level>.yaml`` per
top-level department, plus an ``orgctl.yaml``. Each measurement runs in a fresh
subprocess (imports included, so a lazy import shows up where it is paid) and the best of
``--repeat`` runs is kept; the machine is shared, so the spread is large.

* **load** — `load()` from nothing: files, YAML, schema, string checks, semantics, model.
* **YAML** — `read_yaml` of every file (what the loader uses).
* **schema** — the schema check of every item, on already parsed data.
* **strings** — the walk over every string and key for control, bidi and zero-width
  characters, forced (the loader skips it for a file without a backslash or such a character,
  as the generated files are).

``--parsers`` also times other YAML readers on the same files, each producing data *and*
the line:column of every value where it can (org files need both for their messages):
PyYAML's C loader through the loader's own node walk, PyYAML's C loader without positions
(a lower bound), and rapidyaml / yaml-rs when they are installed.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TITLES = ("工程师", "高级工程师", "经理", "总监", "专员", "设计师")
POLICY = """\
prune: {users: true, departments: true}
protected_users: [user000000]
safety: {max_user_delete_fraction: 0.1, max_department_delete_fraction: 0.25, min_existing: 10}
rate_limit: {qps: 20}
timezone: Asia/Shanghai
"""


def write_org(root: Path, n_users: int, seed: int = 7) -> None:
    from reconciler.live.dump import dump_org
    from reconciler.model import ROOT, Department, Org, User

    rng = random.Random(seed)
    n_depts = max(10, n_users // 10)
    departments: list[Department] = []
    depth: dict[str, int] = {ROOT: 0}
    for i in range(n_depts):
        candidates = [d for d in departments[-200:] if depth[d.key] < 5]
        parent = ROOT if i < 10 or not candidates else rng.choice(candidates).key
        departments.append(Department(key=f"d{i}", name=f"部门{i}", parent=parent, order=i % 50))
        depth[f"d{i}"] = depth[parent] + 1
    keys = [d.key for d in departments]
    users = [
        User(
            userid=f"user{i:06d}",
            name=f"员工{i}",
            departments=tuple(sorted({rng.choice(keys) for _ in range(rng.choice((1, 1, 1, 2)))})),
            mobile=f"+86-139{i:08d}",
            title=rng.choice(TITLES),
            email=f"user{i}@example.com",
            job_number=f"E{i:06d}",
            manager=f"user{rng.randrange(i):06d}" if i else None,
            extension={"爱好": "旅游", "工位": f"A-{i % 300}"} if i % 20 == 0 else None,
        )
        for i in range(n_users)
    ]
    for name, text in dump_org(Org.of(departments, users)).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "orgctl.yaml").write_text(POLICY, encoding="utf-8")


def org_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.yaml") if p.name != "orgctl.yaml")


def _timed(func: Any, *args: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = func(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def measure(what: str, root: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    if what == "load":
        from reconciler.desired.load import load

        wall, cpu, desired = _timed(load, root)
        extra: dict[str, Any] = {"users": len(desired.org.users)}
    elif what == "yaml":
        from reconciler.desired.yamlsafe import read_yaml

        files = org_files(root)
        wall, cpu, _ = _timed(lambda: [read_yaml(p, str(p)) for p in files])
        extra = {"files": len(files), "mb": sum(p.stat().st_size for p in files) / 2**20}
    elif what == "strings":
        from dataclasses import replace

        from reconciler.desired.strings import hostile_strings
        from reconciler.desired.yamlsafe import read_yaml

        documents = [replace(read_yaml(p, str(p)), clean=False) for p in org_files(root)]
        wall, cpu, found = _timed(lambda: [hostile_strings(d) for d in documents])
        if any(found):
            raise AssertionError("hostile characters in generated names")
        extra = {}
    elif what == "schema":
        from reconciler.desired.yamlsafe import read_yaml

        documents = [read_yaml(p, str(p)) for p in org_files(root)]
        wall, cpu, _ = _timed(schema_check, documents)
        extra = {}
    else:
        texts = [p.read_text("utf-8") for p in org_files(root)]
        wall, cpu, _ = _timed(PARSERS[what], texts)
        extra = {}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall": wall, "cpu": cpu, "rss_mb": rss, **extra}


def schema_check(documents: list[Any]) -> None:
    from reconciler.desired.schema import org_checks

    checks = org_checks()
    for document in documents:
        for name, check in (("departments", checks.department), ("users", checks.user)):
            for item in document.data.get(name) or ():
                if not check(item):
                    raise AssertionError(f"valid item refused: {item}")


# --- other YAML readers -------------------------------------------------------------------


def parse_fast(texts: list[str]) -> None:
    from reconciler.desired.yamlsafe import _FastParser

    for text in texts:
        if _FastParser(text).parse() is None:
            raise AssertionError("the fast reader gave up on dump output")


def parse_pyyaml_marks(texts: list[str]) -> None:
    from reconciler.desired.yamlsafe import _parse_with_pyyaml

    for text in texts:
        _parse_with_pyyaml(text, "x.yaml")


def parse_pyyaml_plain(texts: list[str]) -> None:
    import yaml

    for text in texts:
        yaml.load(text, Loader=yaml.CSafeLoader)


def parse_rapidyaml(texts: list[str]) -> None:
    """rapidyaml's tree, walked into Python values. Its Python binding gives no node
    positions (only an error's), so this is a lower bound for what the loader needs; scalars
    stay strings (rapidyaml has no YAML 1.1 typing)."""
    import ryml  # type: ignore[import-not-found]

    def walk(tree: Any, node: int) -> Any:
        if tree.is_map(node):
            return {
                bytes(tree.key(child)).decode(): walk(tree, child)
                for child in ryml.children(tree, node)
            }
        if tree.is_seq(node):
            return [walk(tree, child) for child in ryml.children(tree, node)]
        return bytes(tree.val(node)).decode()

    for text in texts:
        tree = ryml.parse_in_arena(text.encode("utf-8"))
        walk(tree, tree.root_id())


def parse_yaml_rs(texts: list[str]) -> None:
    """yaml-rs: data only, no positions at all (a lower bound, like rapidyaml)."""
    import yaml_rs  # type: ignore[import-not-found]

    for text in texts:
        yaml_rs.loads(text)


PARSERS = {
    "fast": parse_fast,
    "pyyaml-marks": parse_pyyaml_marks,
    "pyyaml-plain": parse_pyyaml_plain,
    "rapidyaml": parse_rapidyaml,
    "yaml-rs": parse_yaml_rs,
}


def run(what: str, root: Path, repeat: int) -> dict[str, Any] | None:
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--one", what, str(root)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{what}: failed: {last}", file=sys.stderr)
            return None
        result: dict[str, Any] = json.loads(done.stdout)
        if best is None or result["wall"] < best["wall"]:
            best = result
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parsers", action="store_true")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], Path(args.one[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "org"
        write_org(root, args.users)
        names = ["load", "yaml", "schema", "strings"] + (list(PARSERS) if args.parsers else [])
        print("| what | wall | CPU | max RSS |\n|---|---:|---:|---:|")
        for name in names:
            result = run(name, root, args.repeat)
            if result is None:
                continue
            print(
                f"| {name} | {result['wall']:.2f} s | {result['cpu']:.2f} s "
                f"| {result['rss_mb']:.0f} MB |",
                flush=True,
            )
            if name == "yaml":
                print(f"<!-- {result['files']} files, {result['mb']:.1f} MB -->", flush=True)


if __name__ == "__main__":
    main()
