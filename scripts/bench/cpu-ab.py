#!/usr/bin/env python3
"""Row 2 (planning) by CPU as well as wall time: alternate `enable cilium:v1.8 --dry-run --force --output json`
of one or more CLI files (e.g. this tree's bundle and another tree's dist/src/cli.js) with the planning row's
baseline (`node -e 0` + the same `helm template`), on one fresh 1.20 sandbox (scripts/bench/hold-sandbox.mjs).

On a machine whose CPUs other work keeps busy, wall times mostly measure the neighbours; the CPU a run uses
(user + system, its children included: os.wait4) says what it costs. Node cannot read a child's rusage, hence
Python.

  python3 scripts/bench/cpu-ab.py [--runs 20] NAME=PATH/TO/cli.js [NAME=PATH/TO/cli.js ...]

Each CLI runs twice per round: NAME/cold with its check cache (MK8S_ADDONS_CHECK_CACHE, a folder of its
own) emptied before the run, so its render check runs `helm template`, and NAME/warm with the cache kept,
so a CLI that keeps the render check's verdict runs no `helm template` (a CLI that keeps none: the same
work twice). Cold is the planning row as defined.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELM = os.path.join(ROOT, 'vendor', 'bin', 'helm')
DRY_RUN = ['enable', 'cilium:v1.8', '--dry-run', '--force', '--output', 'json']


def main(argv):
    runs = 20
    if argv[:1] == ['--runs']:
        runs, argv = int(argv[1]), argv[2:]
    clis = [a.split('=', 1) for a in argv]
    if not clis or any(len(c) != 2 for c in clis):
        sys.exit('usage: python3 scripts/bench/cpu-ab.py [--runs N] NAME=PATH/TO/cli.js [...]')
    holder = subprocess.Popen(['node', os.path.join(ROOT, 'scripts', 'bench', 'hold-sandbox.mjs')], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = holder.stdout.readline()
        if not line:
            sys.exit('cpu-ab: the sandbox did not come up (see above)')
        sb = json.loads(line)
        env = dict(sb['env'], NO_COLOR='1')

        def run(cmd):
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            out = p.stdout.read()
            _, status, ru = os.wait4(p.pid, 0)
            return (time.perf_counter() - t0) * 1000, (ru.ru_utime + ru.ru_stime) * 1000, status, out

        caches = tempfile.mkdtemp(prefix='cpu-ab-checks-')

        def dry_run(cli, name, cold):
            cache = os.path.join(caches, name)

            def go():
                if cold:
                    shutil.rmtree(cache, ignore_errors=True)
                env['MK8S_ADDONS_CHECK_CACHE'] = cache
                wall, cpu, status, out = run(['node', cli] + DRY_RUN)
                if status != 0 or b'"type":"result","ok":true' not in out:
                    raise SystemExit(f'cpu-ab: {cli} did not end with an ok result: {out[-300:]!r}')
                return wall, cpu
            return go

        def baseline():
            w1, c1, _, _ = run(['node', '-e', '0'])
            w2, c2, status, _ = run([HELM, 'template', 'cilium', sb['chart'], '--namespace', 'kube-system', '--values', sb['values'], '--kube-version', sb['kubeVersion']])
            if status != 0:
                raise SystemExit('cpu-ab: helm template failed')
            return w1 + w2, c1 + c2

        sides = {}
        for name, cli in clis:
            sides[f'{name}/cold'] = dry_run(os.path.abspath(cli), name, True)
            sides[f'{name}/warm'] = dry_run(os.path.abspath(cli), name, False)
        sides['baseline'] = baseline
        names = list(sides)
        for n in names:  # warm-up: caches, page cache
            sides[n]()
        res = {n: ([], []) for n in names}
        load0 = os.getloadavg()[0]
        for i in range(runs):
            for n in (names if i % 2 == 0 else names[::-1]):
                wall, cpu = sides[n]()
                res[n][0].append(wall)
                res[n][1].append(cpu)
        bw, bc = statistics.median(res['baseline'][0]), statistics.median(res['baseline'][1])
        print(f'{runs} rounds, sides in alternating order; load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end')
        print(f'{"side":14} {"wall ms":>8} {"ratio":>6}  {"CPU ms":>7} {"ratio":>6}')
        for n in names:
            w, c = statistics.median(res[n][0]), statistics.median(res[n][1])
            print(f'{n:14} {w:8.0f} {w / bw:5.2f}x  {c:7.0f} {c / bc:5.2f}x')
        shutil.rmtree(caches, ignore_errors=True)
    finally:
        holder.stdin.close()
        holder.wait()


if __name__ == '__main__':
    main(sys.argv[1:])
