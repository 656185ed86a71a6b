#!/usr/bin/env python3
"""Where a process's CPU went, by the line of our own code that led there.

    perf record -F 999 -e cpu-clock -g -p PID -o FILE -- sleep 10
    Benchmarks/perf_costs.py FILE BINARY [--top N]

For each sample, walks the call stack from the leaf up and charges the sample to the innermost frame
that is in our sources (Sources/, Benchmarks/), as file:line of that call; a sample with no such
frame (the kernel's network stack under a read, say) is charged to the innermost frame in BINARY, or
to the leaf's library. Prints the top call sites with their share of the samples, then the top
functions of ours by inclusive share (how much of the time was spent under them, callees included).
perf's ip of a frame that is not the leaf is a return address: the line looked up is ip - 1, the call.
"""

import collections
import os
import subprocess
import sys


def parse(perf_file):
    """Samples as lists of (ip, symbol, dso), leaf first."""
    out = subprocess.run(["perf", "script", "-i", perf_file, "-F", "tid,ip,sym,dso"], capture_output=True, text=True,
                         check=True).stdout
    samples, frames = [], None
    for line in out.splitlines():
        if not line.strip():
            if frames:
                samples.append(frames)
            frames = None
            continue
        if not line.startswith((" ", "\t")):
            if frames:
                samples.append(frames)
            frames = []
            continue
        parts = line.strip().split(None, 1)
        ip = parts[0]
        rest = parts[1] if len(parts) > 1 else ""
        dso = ""
        if rest.endswith(")") and "(" in rest:
            rest, dso = rest[:rest.rindex("(")].strip(), rest[rest.rindex("(") + 1:-1]
        try:
            address = int(ip, 16)
        except ValueError:
            continue
        if frames is None:
            frames = []
        frames.append((address, rest, dso))
    if frames:
        samples.append(frames)
    return samples


def demangle(names):
    names = list(names)
    if not names:
        return {}
    result = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(names), capture_output=True, text=True)
    lines = result.stdout.splitlines()
    return dict(zip(names, lines)) if len(lines) == len(names) else {name: name for name in names}


def source_lines(binary, addresses):
    """address -> [(function, file:line), ...] through addr2line, the inlined frames innermost first."""
    addresses = sorted(addresses)
    if not addresses:
        return {}
    # A sentinel address after each one marks where its (variable-length) inline chain ends.
    args = []
    for address in addresses:
        args += [hex(address), "0x0"]
    result = subprocess.run(["addr2line", "-e", binary, "-f", "-i", "-a"], input="\n".join(args), capture_output=True,
                            text=True)
    lines = result.stdout.splitlines()
    table, index, current = {}, 0, None
    while index < len(lines):
        line = lines[index]
        if line.startswith("0x"):
            address = int(line, 16)
            current = None if address == 0 else table.setdefault(address, [])
            index += 1
            continue
        if index + 1 < len(lines) and current is not None:
            current.append((line, lines[index + 1].split(" ")[0]))
        index += 2
    return table


def ours(location, repo):
    path = location.split(":")[0]
    return path.startswith(repo) and ("/Sources/" in path or "/Benchmarks/" in path)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    perf_file, binary = sys.argv[1], os.path.realpath(sys.argv[2])
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 15
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    samples = parse(perf_file)
    in_binary = {ip - (1 if depth else 0) for frames in samples for depth, (ip, _, dso) in enumerate(frames)
                 if os.path.realpath(dso) == binary}
    lines = source_lines(binary, in_binary)
    names = demangle({sym for frames in samples for _, sym, _ in frames}
                     | {function for chain in lines.values() for function, _ in chain})

    sites = collections.Counter()
    inclusive = collections.Counter()
    for frames in samples:
        charged = None
        seen = set()
        for depth, (ip, sym, dso) in enumerate(frames):
            key = ip - (1 if depth else 0)
            if os.path.realpath(dso) != binary or key not in lines:
                continue
            for function, location in lines[key]:
                if not ours(location, repo):
                    continue
                label = names.get(function, function)
                if charged is None:
                    charged = f"{location.replace(repo + '/', '')}  ({label[:90]})"
                if label not in seen:
                    seen.add(label)
                    inclusive[label] += 1
        if charged is None:
            leaf = frames[0] if frames else (0, "?", "?")
            charged = f"(not under our code) {os.path.basename(leaf[2]) or '?'}: {names.get(leaf[1], leaf[1])[:80]}"
        sites[charged] += 1

    total = len(samples)
    print(f"{total} samples")
    print(f"\ntop call sites of ours (the innermost line of our code on the stack):")
    for site, count in sites.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {site}")
    print(f"\ntop functions of ours, inclusive:")
    for function, count in inclusive.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {function[:140]}")


if __name__ == "__main__":
    main()
