"""`scripts/balance-plan`: Lee Hart's plan for voltages measured with a multimeter.

    scripts/balance-plan [--tbase T] [--floor V] [--max-minutes M]
                         [--initial-average V] V1 V2 ...

prints `{"minutes": [...], "average": ...}`. Defaults are the seed's 12 V lead-acid
values (Tbase 20, floor 10 V, 60 min). Without --initial-average the running average
starts from the mean of the given voltages.
"""

from __future__ import annotations

import argparse
import json
import sys

from .lee_hart import LEAD_ACID_12V, LeeHartParameters, plan


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, print the plan; exit 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="scripts/balance-plan",
        description="Lee Hart's balancing plan: minutes of charge per cell or module.",
    )
    parser.add_argument("--tbase", type=float, default=LEAD_ACID_12V.tbase)
    parser.add_argument("--floor", type=float, default=LEAD_ACID_12V.floor_voltage)
    parser.add_argument("--max-minutes", type=float, default=LEAD_ACID_12V.max_minutes)
    parser.add_argument("--initial-average", type=float, default=None)
    parser.add_argument("voltages", type=float, nargs="+", metavar="V")
    args = parser.parse_args(argv)
    try:
        parameters = LeeHartParameters(
            tbase=args.tbase, floor_voltage=args.floor, max_minutes=args.max_minutes
        )
        result = plan(args.voltages, parameters, initial_average=args.initial_average)
    except ValueError as err:
        parser.error(str(err))
    print(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
