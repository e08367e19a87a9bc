"""Fixture worker: prints the Fibonacci numbers up to the payload's max between separators."""

import json
import sys
from pathlib import Path

args = sys.argv[1:]
payload = json.loads(Path(args[args.index("-payload") + 1]).read_text())
numbers, a, b = [], 0, 1
while a <= int(payload.get("max", 100)):
    numbers.append(a)
    a, b = b, a + b
print("MAGICALSTDOUTSEPARATOR")
print(json.dumps(numbers))
print("MAGICALSTDOUTSEPARATOR")
