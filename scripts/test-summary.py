#!/usr/bin/env python3
"""Print the closing 'N passed, N failed, N skipped' line of `make check`.

Reads meson's test log (unit tests under ASan/UBSan) and pytest's JUnit XML
(guest, integration and fuzz tests).  A test that a later JUnit file
also holds (scripts/kvm-in-l1.py: the tests skipped here for want of
/dev/kvm, run again in the L1 host) counts once, with its later result.
Exits non-zero if anything failed or if no test ran at all.
"""
import json
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
junit = {}  # (classname, name) -> "passed" | "failed" | "skipped"
for path in sys.argv[1:]:
    try:
        if path.endswith(".json"):
            with open(path) as f:
                for line in f:
                    r = json.loads(line)
                    res = r.get("result")
                    if res in ("OK", "EXPECTEDFAIL"):
                        passed += 1
                    elif res == "SKIP":
                        skipped += 1
                    else:
                        failed += 1
        else:
            root = ET.parse(path).getroot()
            for tc in root.iter("testcase"):
                if tc.find("failure") is not None or tc.find("error") is not None:
                    res = "failed"
                elif tc.find("skipped") is not None:
                    res = "skipped"
                else:
                    res = "passed"
                key = (tc.get("classname"), tc.get("name"))
                if junit.get(key) in (None, "skipped"):
                    junit[key] = res
    except FileNotFoundError:
        print(f"test-summary: {path} missing (that stage did not run)", file=sys.stderr)
        failed += 1
passed += sum(r == "passed" for r in junit.values())
failed += sum(r == "failed" for r in junit.values())
skipped += sum(r == "skipped" for r in junit.values())
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
