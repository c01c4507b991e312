"""Create or check the separate Larq Compute Engine environment (``.venv-lce/``).

    python tools/deploy/lce_env.py --setup      # once: python3.11 -m venv .venv-lce + the pins
    python tools/deploy/lce_env.py              # where it is, whether it exists
    python tools/deploy/lce_env.py --run SCRIPT [ARGS...]   # run a script there (prints its JSON)

It is never used by mmbnn's own environment, CI or the test suite. See
:mod:`mmbnn.deploy.lce.env` for the Python API (``require_lce_python``, ``run_json``).
"""
import argparse
import json
import sys

from mmbnn.deploy.lce.env import (LCE_ENV_VARS, LCE_PINS, SETUP_COMMAND, LceEnvMissing,
                                  lce_python, lce_venv_dir, run_json, setup_lce_env)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--setup', action='store_true', help='create the environment if missing')
    p.add_argument('--force', action='store_true', help='with --setup: recreate it')
    p.add_argument('--python', default=None, help='the Python 3.11 to build it from')
    p.add_argument('--run', nargs=argparse.REMAINDER, default=None,
                   help='run SCRIPT [ARGS] with the LCE python and print its JSON result')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.setup:
            py = setup_lce_env(python=args.python, force=args.force)
            print(f'LCE environment ready: {py}')
        if args.run:
            print(json.dumps(run_json(args.run[0], args.run[1:], quiet=False), indent=1))
            return 0
    except LceEnvMissing as e:
        print(e, file=sys.stderr)
        return 1
    if not args.setup:
        py = lce_python()
        print(f'LCE environment: {lce_venv_dir()} ({"ready: " + str(py) if py else "missing"})')
        print(f'pins: {" ".join(LCE_PINS)}')
        print(f'environment: {" ".join(f"{k}={v}" for k, v in LCE_ENV_VARS.items())}')
        if py is None:
            print(f'create it with: {SETUP_COMMAND}')
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
