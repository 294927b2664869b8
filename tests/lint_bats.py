#!/usr/bin/env python3
"""make lint: assertions in bats tests that cannot fail.

Under bats' set -e a negated command (`! grep ...`) never stops a test, and in `[ a ] && [ b ]`
only the last test can: so either is an assertion only as a test's last command. Elsewhere a
negation needs `|| false` after it, and two tests need a line each. Prints FILE:LINE for each
offence and exits 1 if there is one.
"""
import re
import sys

AND_TESTS = re.compile(r"\]\]?\s*&&\s*\[")


def offences(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    in_test, body = False, []
    for no, line in enumerate(lines, 1):
        if re.match(r"@test .*\{\s*$", line):
            in_test, body = True, []
            continue
        if in_test and line == "}":
            in_test = False
            commands = [(n, t) for n, t in body if t.strip() and not t.strip().startswith("#")]
            last = commands[-1][0] if commands else None
            for n, text in commands:
                code = text.split(" #")[0].strip()
                if n == last:
                    continue
                if code.startswith("! ") and not code.endswith("|| false"):
                    yield n, "a negated command that is not the test's last: add '|| false'"
                elif AND_TESTS.search(code) and not code.startswith(("if ", "while ", "elif ")):
                    yield n, "'[ ] && [ ]' that is not the test's last: one test per line"
            continue
        if in_test:
            body.append((no, line))


def main():
    bad = 0
    for path in sys.argv[1:]:
        for no, why in offences(path):
            print(f"{path}:{no}: {why}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
