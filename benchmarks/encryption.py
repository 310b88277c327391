"""What encryption at rest costs, measured, printed (never asserted in a test).

    .venv/bin/python benchmarks/encryption.py [--runs N] [--skip-fill] [--json]

1. The stdlib's index (`sysconfig` stdlib, `site-packages` left out): save (a cold
   `refresh_index` into an empty store) and load (`load_index`) with the plain codec and
   with the AES-256-GCM codec, `--runs` times each, alternating; medians printed.
2. Per fill: the real `fill_paths` (embedded model, bwrap, the index refreshed and
   loaded, the audit entries written) on examples/strings.py inside a copy of this
   repository's package, twice (cold index, then warm); every seal/open is timed, as is
   unwrapping the key ring (key file; and with a passphrase, where scrypt runs once per
   process). Printed: crypto seconds / fill seconds (goal <= 5 %).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegen_hook.index.build import load_index, refresh_index  # noqa: E402
from codegen_hook.index.store import Codec, PlainCodec  # noqa: E402
from codegen_hook.security.crypto import EncryptedCodec  # noqa: E402
from codegen_hook.security.keys import open_codec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def index_costs(runs: int) -> dict[str, Any]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    times: dict[str, list[float]] = {f"{k}_{c}": [] for k in ("save", "load")
                                     for c in ("plain", "aes")}
    with tempfile.TemporaryDirectory(prefix="codegen-hook-enc-") as tmp:
        aes = open_codec(Path(tmp) / "data", key_file=Path(tmp) / "key")
        codecs: list[tuple[str, Codec]] = [("plain", PlainCodec()), ("aes", aes)]
        for run in range(runs):
            for name, codec in codecs if run % 2 == 0 else codecs[::-1]:
                store = Path(tmp) / f"store-{name}-{run}"
                start = time.perf_counter()
                report = refresh_index(stdlib, store, exclude=["site-packages/*"], codec=codec)
                times[f"save_{name}"].append(time.perf_counter() - start)
                start = time.perf_counter()
                index = load_index(stdlib, store, codec=codec)
                times[f"load_{name}"].append(time.perf_counter() - start)
                assert len(index.records) == report.files
                shutil.rmtree(store)
    out: dict[str, Any] = {k: round(statistics.median(v), 3) for k, v in times.items()}
    out["files"] = report.files
    for kind in ("save", "load"):
        out[f"{kind}_added_pct"] = round(
            100 * (out[f"{kind}_aes"] - out[f"{kind}_plain"]) / out[f"{kind}_plain"], 1)
    return out


class _Timer:
    seconds = 0.0
    calls = 0
    bytes = 0


def _timed(method: Any) -> Any:
    def wrapper(self: Any, role: str, data: Any, *rest: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(self, role, data, *rest)
        finally:
            _Timer.seconds += time.perf_counter() - start
            _Timer.calls += 1
            _Timer.bytes += len(data) if isinstance(data, bytes) else 0
    return wrapper


def fill_costs() -> dict[str, Any]:
    """Two fills of examples/strings.py inside a copy of this repository's package (an
    index of ~60 files): the first builds and seals the index, the second reuses it."""
    from codegen_hook.backends import make_backend
    from codegen_hook.checks import make_checks
    from codegen_hook.config import resolve_settings
    from codegen_hook.isolation import select_sandbox
    from codegen_hook.pipeline.run import fill_paths

    EncryptedCodec.seal = _timed(EncryptedCodec.seal)  # type: ignore[method-assign]
    EncryptedCodec.open = _timed(EncryptedCodec.open)  # type: ignore[method-assign]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="codegen-hook-enc-fill-") as tmp:
        repo, data = Path(tmp) / "repo", Path(tmp) / "data"
        shutil.copytree(ROOT / "codegen_hook", repo / "codegen_hook",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "examples" / "strings.py", repo / "strings.py")
        settings = resolve_settings(repo, env={}, flags={
            "sandbox": "bwrap", "data_dir": str(data), "key_file": str(Path(tmp) / "key")})
        start = time.perf_counter()
        open_codec(data, key_file=Path(tmp) / "key")
        out["unwrap_key_file_s"] = round(time.perf_counter() - start, 4)
        start = time.perf_counter()
        open_codec(Path(tmp) / "data-pass", env={"CODEGEN_HOOK_PASSPHRASE": "benchmark"})
        out["unwrap_passphrase_s"] = round(time.perf_counter() - start, 4)
        backend = make_backend(settings, data)
        for run in ("cold_index", "warm_index"):
            _Timer.seconds, _Timer.calls, _Timer.bytes = 0.0, 0, 0
            start = time.perf_counter()
            report = fill_paths([repo / "strings.py"], settings, repo, Path(tmp) / "cache",
                                make_backend=lambda: backend,
                                make_sandbox=lambda: select_sandbox(settings),
                                checks=make_checks(settings.checks, settings.style),
                                check_only=True)
            wall = time.perf_counter() - start
            out[run] = {"stubs": len(report.outcomes), "fill_wall_s": round(wall, 2),
                        "index_files": (report.index or {}).get("report", {}).get("files"),
                        "crypto_s": round(_Timer.seconds, 4), "crypto_calls": _Timer.calls,
                        "crypto_bytes": _Timer.bytes,
                        "crypto_pct_of_fill": round(100 * _Timer.seconds / wall, 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-fill", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"index": index_costs(args.runs)}
    if not args.skip_fill:
        result["fill"] = fill_costs()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    ix = result["index"]
    print(f"stdlib index ({ix['files']} files), medians of {args.runs}:")
    print(f"  save  plain {ix['save_plain']:.2f} s   aes-256-gcm {ix['save_aes']:.2f} s   "
          f"(+{ix['save_added_pct']}%)")
    print(f"  load  plain {ix['load_plain']:.2f} s   aes-256-gcm {ix['load_aes']:.2f} s   "
          f"(+{ix['load_added_pct']}%)")
    if "fill" in result:
        f = result["fill"]
        for run in ("cold_index", "warm_index"):
            r = f[run]
            print(f"fill ({run.replace('_', ' ')}, {r['index_files']} files): {r['stubs']} "
                  f"stub(s) in {r['fill_wall_s']} s; {r['crypto_calls']} seal/open calls, "
                  f"{r['crypto_bytes']:,} bytes, {r['crypto_s']} s = {r['crypto_pct_of_fill']}% "
                  f"of the fill (goal <= 5%)")
        print(f"  unwrapping the key ring once per process: key file {f['unwrap_key_file_s']} "
              f"s, passphrase (scrypt n=2**15) {f['unwrap_passphrase_s']} s")


if __name__ == "__main__":
    main()
