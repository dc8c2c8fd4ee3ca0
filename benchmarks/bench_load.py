"""W6-W8: load time, `guardrails check` cold start, memory of compiled rules.

    python benchmarks/bench_load.py

W6 times `guardrails.loads` (parse + check + compile; CPU time) of 100 to 50,000 rules
in one process (the parser built beforehand; 50,000 are loaded with `guardrails.load`
over ten files, as one file may not pass 5 MB), cold (`cache=False`) and from the
compiled-ruleset cache, and prints the growth; the blocking rules all block on one
hook, where the shadowing lint (GR0302) once compared every pair of rules, with
distinct and with shared conjuncts. W7 runs
`guardrails check` on 100 rules in fresh processes against `python -c pass` measured in
the same run, and checks that cpex was never imported; before it, the grammar cache:
building the parser against loading it from the per-user JSON cache (and, for
reference, from Lark's own pickle). W8 measures, in a fresh
process per rule shape, the memory retained and the peak while loading 10,000 rules
(tracemalloc), and in another the process's peak RSS growth (without tracemalloc,
whose own bookkeeping is most of the RSS it would show).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import guardrails
from guardrails.syntax.parser import get_parser

HOOKS = ["tool_pre_invoke", "generation_pre_call", "generation_post_call"]


def ruleset(n: int) -> str:
    """A realistic mix: equality, membership, numeric and regex rules over three hooks."""
    lines = ['let roles = ["admin", "sre"]', r"let ssn = /\b\d{3}-\d{2}-\d{4}\b/"]
    for i in range(n):
        kind = i % 4
        if kind == 0:
            lines.append(
                f'rule r{i} on tool_pre_invoke when tool.name == "tool_{i}" unless user.role in roles block "r{i}" code C{i}'
            )
        elif kind == 1:
            lines.append(
                f"rule r{i} on generation_pre_call priority {i % 50} when tokens > {1000 + i} warn"
            )
        elif kind == 2:
            lines.append(
                f"rule r{i} on generation_post_call mode audit when output matches ssn and len(output) > {i} block"
            )
        else:
            lines.append(
                f"rule r{i} on generation_pre_call mode transform when model_options.temperature > {i % 10 / 10} set model_options.temperature = 0.5"
            )
    return "\n".join(lines) + "\n"


def blocking(n: int, shared: bool) -> str:
    """Sequential blocking rules on one hook: each one a candidate shadow of the next."""
    lines = []
    for i in range(n):
        name, word = (f"t{i % 100}", f"x{i // 100 % 100}") if shared else (f"t{i}", f"x{i}")
        lines.append(
            f'rule r{i} on tool_pre_invoke priority {i % 5} when tool.name == "{name}" '
            f'and tool.args.q contains "{word}" block'
        )
    return "\n".join(lines) + "\n"


def phrases(n: int) -> str:
    """Rules with no equality to index: each looks for its own phrase."""
    return "".join(
        f'rule r{i} on generation_pre_call when prompt contains "w{i}" block\n' for i in range(n)
    )


def _load_seconds(text: str, runs: int, cache: object = False) -> float:
    """Median CPU seconds of a load; with a cache directory, of a load it serves."""
    lines = text.splitlines(keepends=True)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        if len(text) >= 4_000_000:
            step = len(lines) // 10 + 1
            for k in range(0, len(lines), step):
                path = Path(tmp) / f"w6_{k:06}.rules"
                path.write_text("".join(lines[k : k + step]))
                paths.append(str(path))
        where = Path(tmp) / "cache" if cache else False
        for run in range(runs + (1 if cache else 0)):
            start = time.process_time()
            if paths:
                guardrails.load(paths, cache=where)
            else:
                guardrails.loads(text, "w6.rules", cache=where)
            if run or not cache:  # the first load with a cache fills it
                times.append(time.process_time() - start)
    return statistics.median(times)


def _growth(
    title: str, make: Callable[[int], str], sizes: Sequence[int], cache: bool = False
) -> None:
    print(f"    {title}")
    previous = None
    for i, size in enumerate(sizes):
        seconds = _load_seconds(make(size), 3 if size < 10_000 else 1, cache)
        growth = ""
        if previous is not None:
            growth = f"   x{seconds / previous:5.1f} for {size // sizes[i - 1]}x rules"
        print(
            f"    {size:>6} rules  {seconds:7.3f} s   {seconds / size * 1e6:6.0f} µs/rule{growth}"
        )
        previous = seconds


def w6() -> None:
    get_parser()
    for make in (ruleset, phrases, lambda n: blocking(n, False)):  # the process's first-use costs
        guardrails.loads(make(50), "warm.rules", cache=False)
    print(
        "W6 load (parse + check + compile), CPU time   (targets: 1000 blocking rules <= 0.3 s cold,"
        " <= 0.05 s from cache; 10,000 <= 3 s cold; linear to 50,000)"
    )
    _growth(
        "blocking, distinct conjuncts, cold", lambda n: blocking(n, False), (1000, 10_000, 50_000)
    )
    _growth(
        "blocking, distinct conjuncts, from the cache",
        lambda n: blocking(n, False),
        (1000, 10_000),
        True,
    )
    _growth("blocking, shared conjuncts, cold", lambda n: blocking(n, True), (1000, 10_000))
    _growth("mixed rules (ruleset()), cold", ruleset, (100, 1000, 10_000, 50_000))
    _growth("phrase rules, cold", phrases, (1000, 10_000))


def _wall(cmd: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=False, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def w7() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "r.rules"
        rules.write_text(ruleset(100))
        exe = Path(sys.executable).with_name("guardrails")
        cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "guardrails"]
        baseline = _wall([sys.executable, "-c", "pass"])
        check = _wall([*cli, "check", str(rules)])
        probe = subprocess.run(
            [sys.executable, "-c",
             "import sys\nfrom guardrails.tooling.cli import main\n"
             f"try:\n    main(['check', {str(rules)!r}])\nexcept SystemExit:\n    pass\n"
             "print(json.dumps(sorted(m for m in ('cpex', 'mellea') if m in sys.modules)))".replace(
                 "print(", "import json; print(")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        hosts = json.loads(probe.stdout.strip().splitlines()[-1])
    print(
        "W7 `guardrails check` cold start, 100 rules   (target: <= 0.5 s wall, cpex not imported)"
    )
    print(f"    python -c pass             {baseline:7.3f} s")
    print(
        f"    guardrails check           {check:7.3f} s   ({check / baseline:4.1f}x bare interpreter)"
    )
    print(f"    host libraries imported:   {hosts or 'none'}")


def grammar_cache_load() -> None:
    import gc
    import io

    from lark import Lark

    from guardrails.syntax import grammar_cache
    from guardrails.syntax.parser import _OPTIONS, build_parser, grammar_text

    grammar = grammar_text()
    key = grammar_cache.cache_key(grammar, _OPTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grammar.json"
        grammar_cache.save(path, key, build_parser(grammar))
        pickled = io.BytesIO()
        build_parser(grammar).save(pickled)
        runs: dict[str, list[float]] = {"build": [], "json": [], "pickle": []}
        for _ in range(5):  # interleaved
            for name, make in (
                ("build", lambda: build_parser(grammar)),
                ("json", lambda: grammar_cache.load(path, key)),
                ("pickle", lambda: Lark.load(io.BytesIO(pickled.getvalue()))),
            ):
                gc.collect()  # not the previous case's garbage
                start = time.perf_counter()
                assert make() is not None
                runs[name].append(time.perf_counter() - start)
        size = path.stat().st_size
    build, json_load, pickle_load = (statistics.median(runs[n]) * 1000 for n in runs)
    print("grammar cache: the parser built vs loaded (per process, once)")
    print(f"    built from the grammar        {build:7.1f} ms")
    print(
        f"    loaded from the JSON cache    {json_load:7.1f} ms   ({build / json_load:4.1f}x faster;"
        f" {size / 1024:.0f} KB)"
    )
    print(f"    (Lark's pickle, not used)     {pickle_load:7.1f} ms")


_W8 = (
    "import json, re, sys, tracemalloc\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import bench_load\n"
    "import guardrails\n"
    "from guardrails.syntax.parser import get_parser\n"
    "get_parser()\n"
    "text = getattr(bench_load, sys.argv[2])(10000)\n"
    "traced = sys.argv[3] == 'traced'\n"
    "def kb(name):\n"
    "    status = open('/proc/self/status').read()\n"
    "    return int(re.search(name + r':\\s+(\\d+) kB', status).group(1))\n"
    "before = kb('VmRSS')\n"
    "open('/proc/self/clear_refs', 'w').write('5')  # the peak (VmHWM) starts again from here\n"
    "if traced: tracemalloc.start()\n"
    "count = len(guardrails.loads(text, cache=False).rules)\n"
    "current, peak = tracemalloc.get_traced_memory() if traced else (0, 0)\n"
    "print(json.dumps([current, peak, (kb('VmHWM') - before) * 1024, count]))\n"
)


def _w8(shape: str, traced: bool) -> list[int]:
    how = "traced" if traced else "rss"
    out = subprocess.run([sys.executable, "-c", _W8, str(Path(__file__).parent), shape, how],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def w8() -> None:
    mb = 1024 * 1024
    print("W8 memory of 10,000 rules, a fresh process each   (targets: peak <= 120 MB cold,"
          " retained <= 50 MB)")  # fmt: skip
    print(f"    {'shape':<24} {'peak RSS growth':>16} {'peak (traced)':>14} {'retained':>10}")
    for shape in ("ruleset", "blocking_distinct", "blocking_shared", "phrases"):
        rss = _w8(shape, False)[2]  # the RSS peak during the load, over the RSS before it
        current, peak, _, count = _w8(shape, True)
        print(f"    {shape:<24} {rss / mb:13.1f} MB {peak / mb:11.1f} MB {current / mb:7.1f} MB"
              f"   ({current / count / 1024:.1f} KB/rule)")  # fmt: skip


def blocking_distinct(n: int) -> str:
    return blocking(n, False)


def blocking_shared(n: int) -> str:
    return blocking(n, True)


if __name__ == "__main__":
    print(f"Python {sys.version.split()[0]}")
    w6()
    grammar_cache_load()
    w7()
    w8()
