"""The seed tutorial's Fibonacci worker, Python 3: reads its payload from ``-payload FILE``.

Prints every Fibonacci number up to ``max`` as JSON between MAGICALSTDOUTSEPARATOR markers.
"""

import json
import sys


def arg(name):
    args = sys.argv[1:]
    for i, value in enumerate(args[:-1]):
        if value == name:
            return args[i + 1]
    return None


def main():
    with open(arg("-payload")) as f:
        payload = json.load(f)
    limit = payload.get("max", 100) if isinstance(payload, dict) else None
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        print(f"max must be a number, got {limit!r}", file=sys.stderr)
        return 1
    seq, a, b = [], 0, 1
    while a <= limit:
        seq.append(a)
        a, b = b, a + b
    print("MAGICALSTDOUTSEPARATOR" + json.dumps(seq) + "MAGICALSTDOUTSEPARATOR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
