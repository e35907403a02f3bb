#!/usr/bin/env python3
"""Print the closing 'N passed, N failed, N skipped' line of `make check`.

Reads meson's test log (unit tests under ASan/UBSan) and pytest's JUnit XML
(guest, integration and fuzz tests).  Exits non-zero if anything failed or
if no test ran at all.
"""
import json
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
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
                    failed += 1
                elif tc.find("skipped") is not None:
                    skipped += 1
                else:
                    passed += 1
    except FileNotFoundError:
        print(f"test-summary: {path} missing (that stage did not run)", file=sys.stderr)
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
