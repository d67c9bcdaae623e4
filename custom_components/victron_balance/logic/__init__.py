"""Pure logic for victron_balance: protocol parsing and control decisions.

Nothing in this package imports Home Assistant or does I/O. It takes messages and
measurements and returns state and decisions, so it is unit-tested and benchmarked on
its own and could be published as a library.
"""
