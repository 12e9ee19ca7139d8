#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The tree's one form of error check: the call is assigned in the condition.

    if ((r = f(x)) < 0)          not     r = f(x);
            goto out;                    if (r < 0)
                                                 goto out;

Calls that share an error path may be chained as OpenSSH does
(`if ((r = f()) < 0 || (r = g()) < 0)`).  Usage: error-form.py --check|--fix
FILE...  --check lists every `VAR = call(...);` followed by `if (VAR < 0)` or
`if (VAR != 0)` and exits 1 if there is one; --fix folds them (run
clang-format afterwards).  Compound conditions (`if (n < 0 || n >= len)`) and
assignments that are the body of an if/else are left alone."""
import re
import sys

ASSIGN = re.compile(r'^(\s*)([A-Za-z_]\w*) = ([A-Za-z_]\w*\(.*)$')
BODY_OF = re.compile(r'^\s*(if \(.*\)|else|\} else)\s*$')
END = re.compile(r';\s*$')


def fold(path, fix):
    lines = open(path, encoding='utf-8').read().split('\n')
    out, found, i = [], [], 0
    while i < len(lines):
        m = ASSIGN.match(lines[i])
        prev = out[-1].rstrip() if out else ''
        if m and not BODY_OF.match(prev) and not prev.endswith(('||', '&&', ',')):
            j = i
            while j < len(lines) and not END.search(lines[j]):
                j += 1
            ind, var = m.group(1), m.group(2)
            cond = re.match(re.escape(ind) + r'if \(' + var + r' (<|!=) 0\)( \{)?$',
                            lines[j + 1]) if j + 1 < len(lines) else None
            if cond:
                found.append(f'{path}:{j + 2}: assign {var} in the condition: '
                             f'if (({var} = ...) {cond.group(1)} 0)')
                if fix:
                    call = [m.group(3)] + lines[i + 1:j + 1]
                    call[-1] = END.sub('', call[-1])
                    call[0] = f'{ind}if (({var} = {call[0]}'
                    call[-1] += f') {cond.group(1)} 0){cond.group(2) or ""}'
                    out.extend(call)
                    i = j + 2
                    continue
        out.append(lines[i])
        i += 1
    if fix and found:
        open(path, 'w', encoding='utf-8').write('\n'.join(out))
    return found


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ('--check', '--fix'):
        sys.exit('usage: error-form.py --check|--fix FILE...')
    found = [f for p in sys.argv[2:] for f in fold(p, sys.argv[1] == '--fix')]
    print('\n'.join(found), end='\n' if found else '')
    sys.exit(1 if found and sys.argv[1] == '--check' else 0)


main()
